"""Optimisers, the learning-rate schedule and gradient clipping.

Every optimiser holds references to the model's parameter and gradient arrays and updates
the parameters in place, so `model.params` always holds the current weights.
"""
import math
from contextlib import contextmanager

import numpy as np


def no_weight_decay(name, value):
    """Parameters exempt from weight decay: biases and norm weights (1-D), the class token and
    the position embedding, as in the ViT and timm recipes. Decay shrinks matrices toward 0;
    for a LayerNorm gain or a bias that target means nothing."""
    return value.ndim <= 1 or name.endswith(("cls_token", "pos_embed"))


class Optimizer:
    def __init__(self, model, lr, weight_decay, exempt):
        if not lr >= 0:
            raise ValueError(f"lr={lr!r} must be >= 0")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay={weight_decay!r} must be >= 0")
        self.lr, self.weight_decay = lr, weight_decay
        self.params = [(name, value, grad) for name, value, grad in model.named_parameters()]
        self.decay = {name: not (exempt and no_weight_decay(name, value)) for name, value, _ in self.params}
        self.steps = 0
        self.state = {}                       # slot name -> {param name: array}

    def zero_grad(self):
        for _, _, grad in self.params:
            grad.fill(0)

    def state_dict(self):
        """{'steps': n, '<slot>.<param name>': array, ...}: flat, so it stores in an .npz."""
        out = {"steps": np.array(self.steps)}
        for slot, arrays in self.state.items():
            out.update((f"{slot}.{name}", a.copy()) for name, a in arrays.items())
        return out

    def load_state_dict(self, state):
        self.steps = int(state["steps"])
        for slot, arrays in self.state.items():
            for name, a in arrays.items():
                key = f"{slot}.{name}"
                if key not in state:
                    raise KeyError(f"optimizer state has no '{key}'")
                if state[key].shape != a.shape:
                    raise ValueError(f"optimizer state '{key}' has shape {state[key].shape}, expected {a.shape}")
                a[...] = state[key]


class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019):

        m = b1 m + (1 - b1) g          v = b2 v + (1 - b2) g^2
        w = w - lr * wd * w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    The decay acts on the weights directly, not through the gradient, so Adam's per-parameter
    scaling does not weaken it. `exempt_no_decay` skips biases, norms, cls token and position
    embedding (see `no_weight_decay`).
    """

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05,
                 exempt_no_decay=True):
        super().__init__(model, lr, weight_decay, exempt_no_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.state = {"m": {n: np.zeros_like(v) for n, v, _ in self.params},
                      "v": {n: np.zeros_like(v) for n, v, _ in self.params}}

    def step(self):
        self.steps += 1
        b1, b2 = self.beta1, self.beta2
        # bias corrections folded into one step size and one epsilon, saving two passes:
        # m_hat / (sqrt(v_hat) + eps) = (m / c1) / (sqrt(v) / sqrt(c2) + eps)
        c1, c2 = 1 - b1 ** self.steps, 1 - b2 ** self.steps
        step_size = self.lr * math.sqrt(c2) / c1
        eps = self.eps * math.sqrt(c2)
        for name, w, g in self.params:
            m, v = self.state["m"][name], self.state["v"][name]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            if self.weight_decay and self.decay[name]:
                w *= 1 - self.lr * self.weight_decay
            denom = np.sqrt(v)
            denom += eps
            w -= step_size * m / denom


class SGD(Optimizer):
    """SGD with momentum: b = mu b + g (+ wd w);  w = w - lr b.  Weight decay here is the
    classic L2 term added to the gradient (coupled), as in PyTorch's SGD."""

    def __init__(self, model, lr=0.1, momentum=0.9, weight_decay=0.0, exempt_no_decay=True):
        super().__init__(model, lr, weight_decay, exempt_no_decay)
        self.momentum = momentum
        self.state = {"momentum": {n: np.zeros_like(v) for n, v, _ in self.params}}

    def step(self):
        self.steps += 1
        for name, w, g in self.params:
            d = g + self.weight_decay * w if self.weight_decay and self.decay[name] else g
            buf = self.state["momentum"][name]
            buf *= self.momentum
            buf += d
            w -= self.lr * buf


def lr_at(step, total_steps, peak_lr, warmup_steps=0, min_lr=0.0):
    """Linear warm-up from ~0 to peak_lr over `warmup_steps`, then cosine decay to `min_lr` at
    `total_steps`. `step` counts from 0; warm-up step i uses peak_lr * (i + 1) / warmup_steps.
    """
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    return min_lr + 0.5 * (peak_lr - min_lr) * (1 + math.cos(math.pi * progress))


def clip_grad_norm(model, max_norm):
    """Scale all gradients together so their global L2 norm is at most max_norm; return the norm
    before clipping. One direction, shorter: clipping by the global norm keeps the update's
    direction, unlike clipping each entry."""
    grads = [g for _, _, g in model.named_parameters()]
    total = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
    if max_norm and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads:
            g *= scale
    return total


class WeightAverage:
    """An exponential moving average of the weights (Polyak averaging), updated after each
    optimiser step:

        decay_t = min(decay, (1 + t) / (10 + t))      t = updates so far
        avg     = decay_t * avg + (1 - decay_t) * w

    The weights keep jittering from step to step around the minimum the optimiser is in; their
    average sits nearer its middle. With decay 0.9998 the average spans the last ~5,000 steps
    (1 / (1 - decay)). The ramp in decay_t keeps the first steps from tying the average to the
    random initial weights for thousands of steps.

    Only parameters are averaged; buffers (BatchNorm's running statistics) stay as trained.
    """

    def __init__(self, model, decay):
        if not 0 < decay < 1:
            raise ValueError(f"decay={decay!r} must be in (0, 1)")
        self.decay = decay
        self.params = [(name, value) for name, value, _ in model.named_parameters()]
        self.average = {name: value.copy() for name, value in self.params}
        self.updates = 0

    def update(self):
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        for name, w in self.params:
            avg = self.average[name]
            avg += (1 - decay) * (w - avg)       # = decay * avg + (1 - decay) * w

    @contextmanager
    def applied(self):
        """Within the block the model holds the averaged weights; after it, its own again
        (also when the block raises)."""
        own = {name: w.copy() for name, w in self.params}
        self.copy_to()
        try:
            yield
        finally:
            for name, w in self.params:
                w[...] = own[name]

    def copy_to(self):
        """Overwrite the model's weights with the average, in place."""
        for name, w in self.params:
            w[...] = self.average[name]

    def state_dict(self):
        """{'updates': n, <param name>: averaged array, ...}."""
        return {"updates": np.array(self.updates), **{n: a.copy() for n, a in self.average.items()}}

    def load_state_dict(self, state):
        for name, avg in self.average.items():
            if name not in state:
                raise KeyError(f"weight average has no '{name}'")
            if state[name].shape != avg.shape:
                raise ValueError(f"weight average '{name}' has shape {state[name].shape}, expected {avg.shape}")
            avg[...] = state[name]
        self.updates = int(state["updates"])
