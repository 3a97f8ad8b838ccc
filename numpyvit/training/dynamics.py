"""Training dynamics: how the gradients, the updates and the attention change as a model trains.

Per period (the trainer's is an epoch) one row of numbers a careful practitioner watches:

    grad_norm[group]     |g| of each parameter group's gradient, before clipping, averaged
                         over a few sampled steps: which parts of the network learn, and
                         whether the gradient vanishes or explodes with depth
    update_ratio[group]  |w_after - w_before| / |w_before| of each group over one optimiser
                         step, averaged over the same steps: ~1e-3 is the usual healthy size;
                         much smaller, the group barely trains; much larger, it is thrashing
    clip_fraction        the share of all the period's steps whose global gradient norm was
                         above the clip threshold, with the norms' mean and maximum
    attn_entropy[layer]  -sum_j a_ij ln a_ij of each attention row, averaged over the heads,
                         the queries and a fixed probe batch (eval mode): ln N is uniform
                         attention, 0 is every query looking at one token

Groups follow the model's structure: 'blocks.3.attn.qkv.weight' belongs to 'blocks.3.attn',
'blocks.3.norm1.bias' to 'blocks.3.norm', the class token and position embedding to
'cls/pos', and anything else to its first name ('patch_embed', 'norm', 'head').

The recorder only reads the model: it draws no random numbers and changes no array the
training step uses, so a run with it is bit for bit the run without it. Its cost is a few
norms and one copy of the weights on each sampled step, and one forward pass of the probe
batch per period. Everything it holds is plain JSON (`state_dict`), so a checkpoint carries a
half-finished period across an interruption and a resumed run records what an uninterrupted
one would.

Shape legend: B batch, h heads, N tokens.
"""
import math
import time

import numpy as np

from ..layers.attention import Attention
from ..blas import one_blas_thread


def parameter_group(name):
    """The group a parameter's dotted name belongs to (see the module docstring)."""
    parts = name.split(".")
    if parts[0] in ("cls_token", "pos_embed"):
        return "cls/pos"
    if len(parts) > 3 and parts[1].isdigit():          # blocks.3.norm1.bias -> blocks.3.norm
        return ".".join(parts[:2] + [parts[2].rstrip("0123456789")])
    return parts[0]


def attention_entropy(att):
    """Mean entropy, in nats, of attention rows: (B, h, N, N) -> float.

    H_i = -sum_j a_ij ln a_ij for each query i, averaged over batch, heads and queries. A
    weight of exactly 0 contributes 0 (the limit of a ln a). Uniform rows give ln N.
    """
    a = np.asarray(att, dtype=np.float64)
    a_log_a = a * np.log(np.where(a > 0, a, 1.0))      # (B, h, N, N), 0 where a == 0
    return float(-a_log_a.sum(axis=-1).mean())


def _empty_period():
    return {"samples": 0, "grad_norm": {}, "update_ratio": {}, "steps": 0, "clipped": 0,
            "norm_sum": 0.0, "norm_max": 0.0, "seconds": 0.0}


class TrainingDynamics:
    """Records the numbers of the module docstring for `model` while it trains.

    probe_images: the fixed batch (B, C, H, W), normalised, whose attention entropy is measured
                  at the end of each period.
    every:        sample the gradient norms and update ratios on every `every`-th step (the
                  steps with step % every == every // 2, so the first step, with its
                  untypical Adam statistics, is not one of them).

    Per training step, in this order:
        gradients(step)               after backward, before clipping
        updated(step, norm, max_norm) after the optimiser step; norm is clip_grad_norm's
                                      return value (None when there is no clipping)
    and per period end_period(**fields) -> the row, also appended to `rows`.
    """

    def __init__(self, model, probe_images, every):
        if every < 1:
            raise ValueError(f"every={every!r} must be a positive number of steps")
        self.model, self.probe, self.every = model, probe_images, int(every)
        self.params = [(parameter_group(name), value, grad) for name, value, grad in model.named_parameters()]
        self.groups = list(dict.fromkeys(group for group, _, _ in self.params))    # in model order
        self.attentions = [m for _, m in model.modules() if isinstance(m, Attention)]
        self.rows = []
        self.period = _empty_period()
        self.before = None            # the weights before a sampled step, until updated()

    def sampled(self, step):
        return step % self.every == self.every // 2

    def _group_norms(self, arrays):
        """{group: L2 norm over the group's arrays}, arrays in self.params order."""
        squares = dict.fromkeys(self.groups, 0.0)
        for (group, _, _), a in zip(self.params, arrays):
            flat = a.reshape(-1)
            squares[group] += float(np.dot(flat, flat))
        return {group: math.sqrt(s) for group, s in squares.items()}

    def gradients(self, step):
        """On a sampled step: add each group's gradient norm, and keep the weights."""
        if not self.sampled(step):
            return
        t0 = time.perf_counter()
        p = self.period
        for group, norm in self._group_norms([grad for _, _, grad in self.params]).items():
            p["grad_norm"][group] = p["grad_norm"].get(group, 0.0) + norm
        self.before = [value.copy() for _, value, _ in self.params]
        p["seconds"] += time.perf_counter() - t0

    def updated(self, step, norm=None, max_norm=0.0):
        """Count the step's clipping; on a sampled step add each group's update/weight ratio."""
        t0 = time.perf_counter()
        p = self.period
        if norm is not None:
            p["steps"] += 1
            p["clipped"] += bool(max_norm and norm > max_norm)
            p["norm_sum"] += norm
            p["norm_max"] = max(p["norm_max"], norm)
        if self.before is not None and self.sampled(step):
            change = self._group_norms([value - old for (_, value, _), old in zip(self.params, self.before)])
            size = self._group_norms(self.before)
            for group in self.groups:        # an all-zero group has no size to compare with: 0
                ratio = change[group] / size[group] if size[group] > 0 else 0.0
                p["update_ratio"][group] = p["update_ratio"].get(group, 0.0) + ratio
            p["samples"] += 1
        self.before = None
        p["seconds"] += time.perf_counter() - t0

    def entropies(self):
        """Each attention layer's mean entropy on the probe batch, in eval mode ([] without attention)."""
        if not self.attentions:
            return []
        was_training = self.model.training
        self.model.eval()
        # one BLAS thread: threads of a small matmul that wait for a busy core can make this
        # pass ~8x slower on a loaded machine, and one thread loses little on an idle one
        try:
            with one_blas_thread():
                self.model.forward(self.probe)
        finally:
            self.model.train(was_training)
        return [attention_entropy(m.att) for m in self.attentions]

    def end_period(self, **fields):
        """Close the period: its row (with `fields`, e.g. epoch=3), appended to self.rows."""
        t0 = time.perf_counter()
        p, n = self.period, self.period["samples"]
        row = dict(fields)
        row["samples"] = n
        row["grad_norm"] = {g: p["grad_norm"][g] / n for g in self.groups} if n else None
        row["update_ratio"] = {g: p["update_ratio"][g] / n for g in self.groups} if n else None
        row["clip_fraction"] = p["clipped"] / p["steps"] if p["steps"] else None
        row["grad_norm_mean"] = p["norm_sum"] / p["steps"] if p["steps"] else None
        row["grad_norm_max"] = p["norm_max"] if p["steps"] else None
        row["attn_entropy"] = self.entropies()
        row["attn_entropy_uniform"] = math.log(self.attentions[0].att.shape[-1]) if self.attentions else None
        row["dynamics_s"] = p["seconds"] + time.perf_counter() - t0     # what recording cost
        self.rows.append(row)
        self.period = _empty_period()
        return row

    def state_dict(self):
        """The rows so far and the running period, as plain JSON-able values."""
        return {"rows": self.rows, "period": self.period}

    def load_state_dict(self, state):
        self.rows = list(state["rows"])
        self.period = {**_empty_period(), **state["period"]}
        self.before = None
