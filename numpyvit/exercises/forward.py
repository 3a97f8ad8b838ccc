"""The forward exercises: the rearrangements and computations of notebooks 1 and 2, checked
against the package's own.

`check` (numpyvit.exercises) calls your function on seeded random float64 inputs of several
shapes and compares its output with the package's, entry by entry. When the output is wrong
it looks for the mistake: a wrong shape, the right numbers in the wrong places, or one of
the known near misses (patches in column order, heads interleaved, softmax over the wrong
axis, ...), each with its own hint. The exercises and their fixed signatures:

    patchify(images, p) -> patches                 images (B, C, H, W) -> (B, P, C*p*p): the
                            p x p patches row by row over the grid, each flattened in (C, p, p) order
    interpolate_pos_embed(pos_embed, new_grid) -> (1, 1 + G*G, D) from (1, 1 + g*g, D): the
                            class token's row kept, the g x g grid resized bilinearly to G x G
    split_heads(x, h) -> (B, h, N, Dh)             from x (B, N, D), Dh = D / h: head j owns
                                                   channels j*Dh to (j+1)*Dh - 1
    attention_forward(q, k, v) -> out              softmax(q k^T * Dh^-0.5) v, all (B, h, N, Dh)
    merge_heads(x) -> (B, N, D)                    the inverse of split_heads

Shape legend: B batch, C channels, H, W image height/width, p patch size, P patches, N tokens,
D width, h heads, Dh head width, g and G the old and new grid sides.
"""
import numpy as np

from ..layers.attention import softmax
from ..layers.patch_embed import Patchify
from ..models.resize import interpolation_weights, resize_pos_embed
from .common import call, describe, relative_error

# --- how close is close enough -------------------------------------------------------------
# A rearrangement (patchify, split_heads, merge_heads) copies numbers and computes none, so
# it must match exactly: any difference, however small, means the numbers were combined.
#
# A computed output (attention_forward, interpolate_pos_embed) is compared entry by entry
# with the relative error |a - r| / max(|a| + |r|, FWD_FLOOR); the worst entry decides. Both
# sides compute the same formula in float64 in a different order, so they differ by rounding
# alone: the answer key, written independently, is off by 6e-15 at worst (attention; 4e-15
# for the interpolation). 1e-10 leaves a margin of 10^4 for that and still fails an output
# that is 0.1% off (its worst entry is 5e-4 off; tests/test_exercises.py plants one). Unlike
# the backward checks there is no numerical derivative, and so no noise, to allow for.
FWD_TOL = 1e-10
# Outputs are O(1). Where an entry is near zero its rounding error (~1e-16 absolute) is a
# large relative one; below this floor the comparison turns absolute: |a - r| < 1e-14.
FWD_FLOOR = 1e-4


class ForwardExercise:
    """One forward exercise: how to draw its inputs, the package's output for them, and the
    mistakes it recognises; `run(fn)` checks fn.

    args:       the learner's argument names, in order, each a key of a case's inputs
    output:     the output's name and its shape in the legend's letters, e.g. 'patches (B, P, C*p*p)'
    cases:      rng -> list of input dicts (several shapes)
    reference:  inputs -> the package's output
    exact:      True for a rearrangement (must match exactly), False for a computed output (FWD_TOL)
    mistakes:   (what is wrong, inputs -> the output it gives, hint), the near misses it names
    hint:       what to look at when the values are wrong and no known mistake matches
    shape_hint: (got, expected) -> a guess at why the shape is wrong, or ''
    """

    def __init__(self, name, args, output, cases, reference, reference_name, exact, mistakes, hint,
                 shape_hint=lambda got, expected: ""):
        self.name, self.args, self.output, self.cases = name, args, output, cases
        self.reference, self.reference_name, self.exact = reference, reference_name, exact
        self.mistakes, self.hint, self.shape_hint = mistakes, hint, shape_hint

    def matches(self, a, r):
        """True when a equals the reference r to this exercise's tolerance (same shapes)."""
        return np.array_equal(a, r) if self.exact else relative_error(a, r, FWD_FLOOR).max() <= FWD_TOL

    def run(self, fn):
        """(passed, lines): the verdict, a one-line summary, then indented details and hints."""
        return _run(self, fn)


# --- patchify ----------------------------------------------------------------------------------
def _patchify_cases(rng):
    # 3 channels, so the order inside a patch matters; a 2 x 3 grid, so rows and columns differ;
    # then MNIST's shape (one channel, 28 x 28 in 7 x 7 patches)
    return [{"images": rng.standard_normal((2, 3, 8, 12)), "p": 4},
            {"images": rng.standard_normal((3, 1, 28, 28)), "p": 7}]


def _patch_grid(inputs):
    """The package's patches as (B, H/p, W/p, C, p, p), to rearrange into the near misses."""
    B, C, H, W = inputs["images"].shape
    p = inputs["p"]
    return _patchify(inputs).reshape(B, H // p, W // p, C, p, p)


def _flat(grid):
    """(B, a, b, ...) -> (B, a*b, rest): the patch grid flattened back to patches."""
    return grid.reshape(grid.shape[0], grid.shape[1] * grid.shape[2], -1)


def _patchify(inputs):
    return Patchify(inputs["p"], dtype=np.float64).forward(inputs["images"])


def _patchify_shape_hint(got, expected):
    if len(got) == 4 and got[0] == expected[0] and got[1] * got[2] == expected[1]:
        return "the grid's two axes are still separate: flatten them into one axis of P patches"
    return ""


# --- position-embedding interpolation ------------------------------------------------------------
def _interpolate_cases(rng):
    # up (4 x 4 to 8 x 8, MNIST's patch 7 at 56 x 56 pixels), down (7 x 7 to 4 x 4), and an
    # odd factor (3 x 3 to 5 x 5)
    return [{"pos_embed": rng.standard_normal((1, 1 + g * g, D)), "new_grid": G}
            for g, G, D in ((4, 8, 6), (7, 4, 4), (3, 5, 5))]


def _interpolate_reference(inputs):
    return resize_pos_embed(inputs["pos_embed"], inputs["new_grid"])


def _resized_grid(inputs, weights):
    """The patch rows resized with the (G, g) per-axis weights, as a (G, G, D) grid."""
    pos = inputs["pos_embed"]
    g = int(round(np.sqrt(pos.shape[1] - 1)))
    grid = pos[0, 1:].reshape(g, g, -1)                             # (g, g, D)
    A = weights(g, inputs["new_grid"])                              # (G, g)
    return np.einsum("Ji,ijd,Kj->JKd", A, grid, A)                  # (G, G, D)


def _with_class_row(inputs, grid):
    """The class token's row, then the (G, G, D) grid row by row: (1, 1 + G*G, D)."""
    rows = grid.reshape(-1, grid.shape[-1])
    return np.concatenate([inputs["pos_embed"][0, :1], rows])[None]


def _corner_weights(g, G):
    """Linear interpolation that pins the corner cells' centres to each other, the mistake of
    measuring positions in cell indices (align_corners=True in PyTorch's terms): each new
    centre c takes weight 1 - |c - i| from every old cell i within 1 of it."""
    centres = np.arange(G) * (g - 1) / max(G - 1, 1)                 # (G,), in old cell units
    return np.maximum(0, 1 - np.abs(centres[:, None] - np.arange(g)[None]))   # (G, g)


def _nearest_weights(g, G):
    """Each new cell takes the old cell its centre falls in."""
    A = np.zeros((G, g))
    A[np.arange(G), ((np.arange(G) + 0.5) * g / G).astype(int)] = 1
    return A


def _interpolate_shape_hint(got, expected):
    if len(got) == 3 and got[1] == expected[1] - 1:
        return "one row short: keep the class token's row, first and unchanged, before the grid's rows"
    if len(got) == 3 and got[1] == expected[1] + 1 or len(got) == 4:
        return "flatten the G x G grid back into G*G rows, after the class token's row"
    return ""


# --- heads ---------------------------------------------------------------------------------------
def _split_cases(rng):
    # x (B, N, D) with N, h and Dh all different, so a swapped axis changes the shape or the values
    return [{"x": rng.standard_normal((2, 5, 12)), "h": 3},
            {"x": rng.standard_normal((1, 7, 16)), "h": 2}]


def _split(inputs):
    # Attention.forward's layout: reshape to (B, N, h, Dh) (head j owns the j-th block of Dh
    # channels), then bring the heads next to the batch; tests/test_exercises.py checks that
    # this is exactly the q Attention.forward keeps
    x, h = inputs["x"], inputs["h"]
    B, N, D = x.shape
    return x.reshape(B, N, h, D // h).transpose(0, 2, 1, 3)         # (B, h, N, Dh)


def _merge_cases(rng):
    return [{"x": rng.standard_normal((2, 3, 5, 4))}, {"x": rng.standard_normal((1, 2, 7, 8))}]


def _merge(inputs):
    # the inverse of _split: Attention.forward writes att v into this (B, N, h, Dh) layout
    x = inputs["x"]
    B, h, N, Dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, N, h * Dh)            # (B, N, D)


def _heads_shape_hint(got, expected):
    if len(got) == len(expected) and sorted(got) == sorted(expected):
        return "the right axes in the wrong order: check which axes you swapped"
    return ""


# --- attention forward ---------------------------------------------------------------------------
def _attention_cases(rng):
    # q, k, v each (B, h, N, Dh), N != Dh; scores large enough that the softmax is far from uniform
    return [{name: 1.5 * rng.standard_normal(shape) for name in ("q", "k", "v")}
            for shape in ((2, 3, 5, 4), (1, 2, 6, 8))]


def attention(inputs, scale=None, axis=-1):
    """softmax(q k^T * scale) v, as Attention.forward computes it (scale Dh^-0.5 on q, then the
    package's softmax over the keys); another scale or axis gives a near miss. The backward
    exercise's forward pass too."""
    q, k, v = inputs["q"], inputs["k"], inputs["v"]
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = (q * scale) @ k.swapaxes(-1, -2)                       # (B, h, N, N)
    att = softmax(scores) if axis == -1 else softmax(scores.swapaxes(-1, -2)).swapaxes(-1, -2)
    return att @ v                                                  # (B, h, N, Dh)


EXERCISES = {ex.name: ex for ex in (
    ForwardExercise(
        "patchify", args=("images", "p"), output="patches (B, P, C*p*p)", cases=_patchify_cases,
        reference=_patchify, reference_name="Patchify.forward", exact=True,
        mistakes=[
            ("the patches are in column order",
             lambda i: _flat(_patch_grid(i).transpose(0, 2, 1, 3, 4, 5)),
             "number the patches row by row, as text is read: patch 1 is right of patch 0, not "
             "below it; the grid's row axis (H/p) comes before its column axis (W/p)"),
            ("each patch is flattened with its channels last, (p, p, C)",
             lambda i: _flat(_patch_grid(i).transpose(0, 1, 2, 4, 5, 3)),
             "flatten a patch in (C, p, p) order, all of channel 0 first, the layout of the "
             "projection's (D, C, p, p) kernel"),
            ("each patch's pixels are in column order",
             lambda i: _flat(_patch_grid(i).swapaxes(-1, -2)),
             "inside a patch too, the pixels go row by row"),
            ("the image was reshaped without a transpose",
             lambda i: i["images"].reshape(_patchify(i).shape),
             "a reshape alone cuts the image into strips of whole rows, not squares: split H into "
             "(H/p, p) and W into (W/p, p), move the two grid axes next to the batch, then flatten"),
        ],
        hint="patches only move pixels: print patchify(images, p)[0, 0] next to images[0, :, :p, :p]",
        shape_hint=_patchify_shape_hint),
    ForwardExercise(
        "interpolate_pos_embed", args=("pos_embed", "new_grid"), output="pos_embed (1, 1 + G*G, D)",
        cases=_interpolate_cases, reference=_interpolate_reference,
        reference_name="numpyvit.models.resize.resize_pos_embed", exact=False,
        mistakes=[
            ("the grid's rows and columns are swapped",
             lambda i: _with_class_row(i, _resized_grid(i, interpolation_weights).swapaxes(0, 1)),
             "the patch rows are in row-major order: reshape them to (g, g, D) with the image's "
             "rows first, and flatten back the same way"),
            ("the corners are aligned instead of the cells' centres",
             lambda i: _with_class_row(i, _resized_grid(i, _corner_weights)),
             "cell i of n covers the image from i/n to (i + 1)/n, its centre at (i + 0.5)/n: "
             "place the new centres among the old ones on that scale"),
            ("each new cell copies its nearest old cell",
             lambda i: _with_class_row(i, _resized_grid(i, _nearest_weights)),
             "bilinear: mix the two nearest old centres along each axis, weighted by distance"),
        ],
        hint="one axis at a time: a (G, g) matrix of weights whose rows sum to 1, applied to the "
             "grid's rows and then to its columns; the class token's row is copied unchanged",
        shape_hint=_interpolate_shape_hint),
    ForwardExercise(
        "split_heads", args=("x", "h"), output="(B, h, N, Dh)", cases=_split_cases,
        reference=_split, reference_name="Attention.forward's split", exact=True,
        mistakes=[
            ("the heads are interleaved: head j takes every h-th channel",
             lambda i: i["x"].reshape(*i["x"].shape[:2], -1, i["h"]).transpose(0, 3, 1, 2),
             "head j owns the j-th block of Dh consecutive channels: split D into (h, Dh), not (Dh, h)"),
            ("x was reshaped to (B, h, N, Dh) without a transpose",
             lambda i: i["x"].reshape(_split(i).shape),
             "that reshape mixes tokens across heads: reshape to (B, N, h, Dh) first, then swap the "
             "N and h axes"),
        ],
        hint="split the last axis D into (h, Dh), then move the heads next to the batch",
        shape_hint=_heads_shape_hint),
    ForwardExercise(
        "attention_forward", args=("q", "k", "v"), output="out (B, h, N, Dh)", cases=_attention_cases,
        reference=attention, reference_name="Attention.forward's core", exact=False,
        mistakes=[
            ("the scores are not scaled",
             lambda i: attention(i, scale=1.0), "divide the scores by sqrt(Dh), Dh = q.shape[-1]"),
            ("the scores are scaled by 1/Dh",
             lambda i: attention(i, scale=1 / i["q"].shape[-1]), "the scale is 1/sqrt(Dh), a square root"),
            ("the scores are scaled by the full width's 1/sqrt(h*Dh)",
             lambda i: attention(i, scale=(i["q"].shape[1] * i["q"].shape[-1]) ** -0.5),
             "each head is its own attention: the scale uses the head width Dh = q.shape[-1]"),
            ("the softmax runs over the queries (axis -2)",
             lambda i: attention(i, axis=-2),
             "each query's weights over the keys sum to 1: softmax over the last axis of the scores"),
        ],
        hint="scores (B, h, N, N) = q k^T / sqrt(Dh), transposing only k's last two axes; softmax "
             "over the keys; then the weighted sum of the values",
        shape_hint=_heads_shape_hint),
    ForwardExercise(
        "merge_heads", args=("x",), output="(B, N, D)", cases=_merge_cases,
        reference=_merge, reference_name="Attention.forward's merge", exact=True,
        mistakes=[
            ("x was reshaped to (B, N, D) without a transpose",
             lambda i: i["x"].reshape(_merge(i).shape),
             "that reshape mixes tokens across heads: move N back next to B first, (B, N, h, Dh), "
             "then flatten the heads"),
            ("the heads are interleaved: channel c of the result comes from head c % h",
             lambda i: i["x"].transpose(0, 2, 3, 1).reshape(_merge(i).shape),
             "head 0's Dh channels come first, then head 1's: flatten (h, Dh), not (Dh, h)"),
        ],
        hint="undo split_heads step by step, in reverse order",
        shape_hint=_heads_shape_hint),
)}

# The forward exercises, in the order the notebook poses them.
NAMES = tuple(EXERCISES)


# --- running a learner's function ----------------------------------------------------------
def _problem(ex, result, expected):
    """None when the output is an array of the right shape, dtype and finite values, else what
    is wrong (and, after a newline, a hint)."""
    if result is None:
        return f"returned None, expected {ex.output}: is a `return` missing?"
    if not isinstance(result, np.ndarray):
        return f"returned a {type(result).__name__}, expected a NumPy array {ex.output}"
    if result.shape != expected.shape:
        guess = ex.shape_hint(result.shape, expected.shape)
        if not guess and result.size == expected.size:
            guess = "the right number of entries: a reshape or transpose is missing or in the wrong order"
        return (f"returned shape {result.shape}, expected {expected.shape}, that is {ex.output}"
                + (f"\n  hint: {guess}" if guess else ""))
    if result.dtype != expected.dtype:
        return f"returned dtype {result.dtype}, expected {expected.dtype}, the inputs' dtype"
    if not np.all(np.isfinite(result)):
        return f"returned {np.sum(~np.isfinite(result))} NaN or infinite entries"
    return None


def _diagnosis(ex, inputs, result, expected):
    """The FAIL lines for an output of the right shape with wrong values: a known mistake if it
    matches one, else whether the numbers are merely misplaced, and the worst entry."""
    for mistake, output, hint in ex.mistakes:
        wrong = output(inputs)
        if wrong.shape == result.shape and ex.matches(result, wrong):
            return [mistake, f"  hint: {hint}"]
    if ex.exact:
        if np.array_equal(np.sort(result, axis=None), np.sort(expected, axis=None)):
            lines = ["the right numbers in the wrong places"]
        else:
            lines = ["it returns numbers that are not in its input: a rearrangement only moves them"]
        index = np.unravel_index(np.argmax(result != expected), result.shape)
    else:
        error = relative_error(result, expected, FWD_FLOOR)
        index = np.unravel_index(np.argmax(error), error.shape)
        lines = [f"wrong values: worst relative error {error.max():.1e} against {ex.reference_name} "
                 f"(allowed {FWD_TOL:.0e})"]
    at = ", ".join(map(str, index))
    lines.append(f"  out[{at}] is {result[index]:.6g}, expected {expected[index]:.6g}")
    return lines + [f"  hint: {ex.hint}"]


def _run(ex, fn):
    if not callable(fn):
        return False, [f"expected a function, got {type(fn).__name__} {fn!r:.60}"]
    cases = ex.cases(np.random.default_rng(0))
    worst = 0.0
    for c, inputs in enumerate(cases, 1):
        args = [inputs[a] for a in ex.args]
        where = f"  on case {c} of {len(cases)}: {describe(ex.args, args)}"
        result, problem = call(fn, args, where)
        if problem:
            return False, problem
        expected = ex.reference(inputs)
        problem = _problem(ex, result, expected)
        if problem:
            summary, *hint = problem.split("\n")
            return False, [summary, where, *hint]
        if not ex.matches(result, expected):
            lines = _diagnosis(ex, inputs, result, expected)
            return False, [lines[0], where] + lines[1:]
        if not ex.exact:
            worst = max(worst, relative_error(result, expected, FWD_FLOOR).max())
    how = "exactly" if ex.exact else f"(worst relative error {worst:.1e})"
    return True, [f"matches {ex.reference_name} {how} on {len(cases)} random cases"]
