"""Numerical gradient checking: the proof that every hand-written backward pass is right.

For a layer f and a fixed random G shaped like its output, take L = sum(f(x) * G). Then
backward(G) must return dL/dx and add dL/dparams into grads. We compare each with a numerical
derivative of L, entry by entry (a seeded sample of entries for large tensors), in float64.
The numerical derivative is the fourth-order central difference

    dL/dw ~ (8 (L(w + h) - L(w - h)) - (L(w + 2h) - L(w - 2h))) / 12h,

four evaluations of L per entry, with an error of order h^4 (the two-point (L(w + h) -
L(w - h)) / 2h has order h^2, which forces a smaller h and with it more rounding noise).

The module is checked in the mode it is in: a new module trains; call module.eval() first to
check its eval-mode pass (BatchNorm's running statistics, dropout off).
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
    h:      the step of the differences. With the fourth-order stencil the truncation error
            is ~h^4 = 1e-12 at h = 1e-3, while rounding noise (~1e-16 |L| / h) is 100x smaller
            than at h = 1e-5: the most accurate numerical derivative for float64.
    floor:  an absolute floor. Where the true gradient is exactly zero (the key part of qkv's
            bias: softmax ignores a shift along the keys) both sides are rounding noise and
            |a - n| / (|a| + |n|) is meaningless. Entries with |a| + |n| < floor are judged
            absolutely instead: both sides are then within `floor` of zero, so |a - n| < floor.
            They are counted in `zeros` and left out of max_rel_error; every other entry keeps
            the pure relative error, so an error of `floor` or more is always caught.
    """
    x = np.array(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
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
        idx = _sample(value.size, max_checks, rng)
        numeric = numerical_gradient(loss, value, h, idx)
        a = analytic.reshape(-1)[idx]
        abs_err = np.abs(a - numeric)
        zero = np.abs(a) + np.abs(numeric) < floor
        rel_err = abs_err[~zero] / (np.abs(a) + np.abs(numeric))[~zero]
        rows.append(GradCheckRow(name, value.shape, len(idx), float(rel_err.max(initial=0.0)),
                                 float(abs_err.max(initial=0.0)), int(zero.sum())))
    if verbose:
        print(format_table(rows))
    return rows


def numerical_gradient(loss, x, h=1e-3, indices=None):
    """dloss/dx by the fourth-order central difference of the module docstring, at the flat
    `indices` of x (default: every entry), as a flat array.

    loss: a function of no arguments that reads x; x (float64) is nudged in place, one entry
    at a time, and restored.
    """
    flat = x.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient needs an x whose reshape(-1) is a view (a contiguous array)")
    indices = np.arange(flat.size) if indices is None else indices
    grad = np.empty(len(indices))
    for j, i in enumerate(indices):
        old = flat[i]
        f = {}
        for step in (-2, -1, 1, 2):
            flat[i] = old + step * h
            f[step] = loss()
        flat[i] = old
        grad[j] = (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * h)
    return grad


def random_point(module, seed=0, scale=0.2):
    """Move every parameter to a generic random point for a gradient check; returns the module.

    Each parameter becomes scale * Normal(0, 1), and norm weights 1 + scale * Normal(0, 1).
    Why not check at initialisation: there the class token is ~1e-6 and the position
    embedding ~0.02, so LayerNorm sees inputs of tiny variance and is very curved, and the
    numerical derivative, not the model, limits the check. The scale stays small so that few
    GELU inputs land deep in its flat negative tail, where gradients of ~1e-7 would be compared
    at the ~1e-12 rounding noise of the numerical derivative.
    """
    rng = np.random.default_rng(seed)
    for name, value, _ in module.named_parameters():
        base = 1.0 if "norm" in name and name.endswith("weight") else 0.0   # 'blocks.0.norm1.weight'
        value[...] = base + scale * rng.standard_normal(value.shape)
    return module


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
