"""A notebook's finding, checked on whatever model the reader has.

A notebook states a finding in words, then computes it. On the model the notebook was built
with (tools/build_notebooks.py sets NUMPYVIT_STRICT=1) a finding that does not hold is a
broken notebook: `finding` raises, and the build stops. On a student's own model, trained on
another CPU or for fewer epochs, it may simply not hold: `finding` then says so and why, and
the notebook goes on.

    finding(same_row > same_column + 0.05, "rows are more alike than columns",
            f"same row {same_row:.3f}, same column {same_column:.3f}")

prints

    holds: rows are more alike than columns (same row 0.103, same column 0.033)

or, on a model where it does not,

    does not hold for this model: rows are more alike than columns (same row 0.051, ...)

`differ` is the companion for two measurements with a known spread (the spread of reruns
over seeds and CPUs): a gap inside it is no finding, and it says "no difference".
"""
import os

STRICT_ENV = "NUMPYVIT_STRICT"


def strict():
    """True when findings must hold (the notebook build), False on a reader's own run."""
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def finding(holds, claim, numbers=""):
    """Report whether `claim` holds, with the `numbers` that decide it; raise AssertionError
    instead of reporting a failure when strict(). Returns the verdict as a bool."""
    holds = bool(holds)
    detail = f" ({numbers})" if numbers else ""
    if not holds and strict():
        raise AssertionError(f"finding does not hold: {claim}{detail}")
    print(f"{'holds' if holds else 'does not hold for this model'}: {claim}{detail}")
    return holds


def differ(a, b, spread, names=("a", "b")):
    """Compare two measurements whose reruns scatter by `spread` (the same units): returns
    f"{names[0]} ahead", f"{names[1]} ahead" or "no difference" (|a - b| <= spread)."""
    if not spread >= 0:
        raise ValueError(f"spread must be a non-negative number, got {spread!r}")
    if abs(a - b) <= spread:
        return "no difference"
    return f"{names[0] if a > b else names[1]} ahead"
