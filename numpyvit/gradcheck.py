"""Numerical gradient checking: the proof that every hand-written backward pass is right.

For a layer f and a fixed random G shaped like its output, take L = sum(f(x) * G). Then
backward(G) must return dL/dx and add dL/dparams into grads. We compare each with the
central difference (L(w + h) - L(w - h)) / 2h, entry by entry (a seeded sample of entries
for large tensors), in float64.
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class GradCheckRow:
    name: str           # 'input' or the parameter's dotted name
    shape: tuple
    checked: int        # entries compared
    max_rel_error: float  # max |a - n| / (|a| + |n|) over the entries above the floor
    max_abs_error: float  # max |a - n| over all checked entries
    zeros: int = 0      # entries below the floor (|a| + |n| < floor): a true gradient of ~0


def _parameters(module):
    if hasattr(module, "named_parameters"):
        return list(module.named_parameters())
    return []


def _sample(size, max_checks, rng):
    """All flat indices of a small tensor, a seeded sample of a large one."""
    if size <= max_checks:
        return np.arange(size)
    return rng.choice(size, max_checks, replace=False)


def gradcheck(module, x, args=(), seed=0, h=1e-3, max_checks=40, floor=1e-8, verbose=False):
    """Compare module.backward's gradients with central differences; return a GradCheckRow list.

    module: anything with forward(x, *args) and backward(dout) (and, optionally,
            named_parameters()); it must be float64 for the comparison to mean anything.
    x:      the input (float64); its gradient is checked as the row 'input'.
    h:      the step of the differences. With the fourth-order stencil below the truncation
            error is ~h^4 = 1e-12 at h = 1e-3, while rounding noise (~1e-16 |L| / h) is 100x
            smaller than at h = 1e-5: the most accurate numerical derivative for float64.
    floor:  an absolute floor. Where the true gradient is exactly zero (the key part of qkv's
            bias: softmax ignores a shift along the keys) both sides are rounding noise and
            |a - n| / (|a| + |n|) is meaningless. Entries with |a| + |n| < floor are judged
            absolutely instead: both sides are then within `floor` of zero, so |a - n| < floor.
            They are counted in `zeros` and left out of max_rel_error; every other entry keeps
            the pure relative error, so an error of `floor` or more is always caught.
    """
    x = np.array(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    if hasattr(module, "train"):
        module.train()
    out = np.asarray(module.forward(x, *args))
    G = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(np.asarray(module.forward(x, *args)) * G))

    if hasattr(module, "zero_grad"):
        module.zero_grad()
    module.forward(x, *args)
    dx = module.backward(G if G.shape else float(G))
    tensors = [("input", x, np.asarray(dx))]
    tensors += [(name, value, grad.copy()) for name, value, grad in _parameters(module)]

    rows = []
    for name, value, analytic in tensors:
        flat, grad_flat = value.reshape(-1), analytic.reshape(-1)
        idx = _sample(flat.size, max_checks, rng)
        numeric = np.empty(len(idx))
        for j, i in enumerate(idx):
            old = flat[i]
            f = {}
            for step in (-2, -1, 1, 2):
                flat[i] = old + step * h
                f[step] = loss()
            flat[i] = old
            # fourth-order central difference, error O(h^4); the plain (f(+h) - f(-h)) / 2h has
            # O(h^2), which forces a small h and with it more rounding noise
            numeric[j] = (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * h)
        a = grad_flat[idx]
        abs_err = np.abs(a - numeric)
        zero = np.abs(a) + np.abs(numeric) < floor
        rel_err = abs_err[~zero] / (np.abs(a) + np.abs(numeric))[~zero]
        rows.append(GradCheckRow(name, value.shape, len(idx), float(rel_err.max(initial=0.0)),
                                 float(abs_err.max(initial=0.0)), int(zero.sum())))
    if verbose:
        print(format_table(rows))
    return rows


def max_rel_error(rows):
    """The worst relative error over all tensors."""
    return max(r.max_rel_error for r in rows)


def format_table(rows):
    """The check's results as a text table, worst tensor marked."""
    width = max(len(r.name) for r in rows)
    worst = max(rows, key=lambda r: r.max_rel_error)
    lines = [f"{'tensor':<{width}}  {'shape':<16} {'checked':>7}  {'max rel err':>11}  "
             f"{'max abs err':>11}  zeros"]
    for r in rows:
        mark = "  <- worst" if r is worst else ""
        lines.append(f"{r.name:<{width}}  {str(r.shape):<16} {r.checked:>7}  "
                     f"{r.max_rel_error:>11.2e}  {r.max_abs_error:>11.2e}  "
                     f"{r.zeros:>5}{mark}")
    return "\n".join(lines)
