"""Write pieces of the ViT yourself, and check each against the package's own.

    from numpyvit.exercises import NAMES, check

    def gelu_backward(x, dout):
        ...                                  # your derivation
    check("gelu_backward", gelu_backward)    # prints PASS or FAIL with a hint; returns True/False

`check` never raises because of your function: an exception inside it, a missing `return`, a
wrong number of results, a wrong shape or dtype and wrong values are all reported as FAIL,
with what is wrong and a hint. The exercises, in the order notebook 5 poses them:

    forward.py   patchify, interpolate_pos_embed, split_heads, attention_forward, merge_heads:
                 compared with the package's output (exactly, for the rearrangements)
    backward.py  linear, cross_entropy, softmax, layernorm, gelu and attention backward, then
                 embed_backward (a broadcast in the forward pass is a sum in the backward pass):
                 compared with the package's backward pass and a numerical gradient
    capstone.py  your functions inside a whole ViT, to gradient-check and train

Each file lists its signatures and says how close is close enough, and why.
"""
from . import backward, forward
from .common import relative_error

EXERCISES = {**forward.EXERCISES, **backward.EXERCISES}

# Every exercise, in the order the notebook poses them: forward passes first, then backward.
NAMES = tuple(EXERCISES)


def _exercise(name):
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise name={name!r}; expected one of {', '.join(NAMES)}")
    return EXERCISES[name]


def passes(name, fn):
    """check's verdict, printing nothing: True when fn is a right answer to exercise `name`."""
    return _exercise(name).run(fn)[0]


def check(name, fn):
    """Check a learner's function `fn` for the exercise `name` (one of NAMES).

    Prints 'PASS name: ...' or 'FAIL name: ...' with what is wrong and a hint, and returns
    True or False. Never raises because of `fn`; an unknown `name` raises ValueError.
    """
    passed, lines = _exercise(name).run(fn)
    print(f"{'PASS' if passed else 'FAIL'} {name}: " + "\n".join(lines))
    return passed
