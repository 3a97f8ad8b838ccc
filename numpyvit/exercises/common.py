"""What the forward and the backward checks share: the relative error, calling a learner's
function so that nothing it does can raise out of `check`, and naming a constant factor."""
import numpy as np


def relative_error(a, b, floor):
    """Entry-wise |a - b| / max(|a| + |b|, floor), same shape as a and b."""
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


def describe(names, values):
    """'x (2, 5, 3), W (4, 3), p=4': the arguments of one call."""
    return ", ".join(f"{n} {v.shape}" if isinstance(v, np.ndarray) else f"{n}={v!r}"
                     for n, v in zip(names, values))


def _innermost_function(error):
    """The name of the function whose code raised `error` (the last frame of its traceback)."""
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name


def call(fn, args, where):
    """(result, None), or (None, the FAIL lines) when fn raised. fn gets copies of the array
    arguments, so an in-place edit cannot spoil the check's own inputs."""
    try:
        return fn(*(a.copy() if isinstance(a, np.ndarray) else a for a in args)), None
    except NotImplementedError as e:
        raised_in = _innermost_function(e)
        if raised_in != getattr(fn, "__name__", raised_in):
            # e.g. attention_backward calling a softmax_backward stub
            return None, [f"not implemented yet: it calls {raised_in}, which raises "
                          f"NotImplementedError. Write {raised_in} first, run its cell, then "
                          f"run this check again."]
        return None, ["not implemented yet. This FAIL is expected until you write the function: "
                      "fill it in, run its cell, then run this check again."]
    except Exception as e:                   # the learner's bug, reported, never raised
        return None, [f"raised {type(e).__name__}: {e}", where,
                      "  hint: call your function on arrays of these shapes and print the shape "
                      "of everything it computes"]


def factor_hint(a, r, tol, floor):
    """'it is 2 times the right value' when a is a constant multiple c != 1 of r (to `tol`),
    else ''. c is the least-squares fit <a, r> / <r, r>; a missing 1/B or Dh^-0.5 shows up
    this way."""
    c = float(np.sum(a * r) / max(float(np.sum(r * r)), 1e-300))
    if abs(c - 1) < 1e-6 or np.max(relative_error(a, c * r, floor)) > tol:
        return ""
    if abs(c + 1) < 1e-6:
        return "it has the wrong sign"
    return f"it is {c:.6g} times the right value: a constant factor is missing or extra"
