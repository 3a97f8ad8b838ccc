"""The backward exercises: write a layer's backward pass yourself, checked against the package's.

`check` (numpyvit.exercises) calls your function on seeded random float64 inputs of several
shapes and compares every gradient it returns twice: with the package's own backward pass
(the reference), and with a numerical gradient, the central difference of the scalar
L = sum(out * dout). The exercises and their fixed signatures, in the notebook's order:

    linear_backward(x, W, dout) -> (dx, dW, db)      y = x W^T + b;  x (..., D_in), W (D_out, D_in)
    cross_entropy_backward(logits, labels) -> dlogits mean loss over the batch, no smoothing
    softmax_backward(att, datt) -> dscores            att = softmax(scores) over the last axis
    layernorm_backward(x, weight, dout, eps) -> (dx, dweight, dbias)   over the last axis
    gelu_backward(x, dout) -> dx                      the tanh form numpyvit's GELU uses
    attention_backward(q, k, v, dout) -> (dq, dk, dv) out = softmax(q k^T * Dh^-0.5) v
    embed_backward(dtokens) -> (dcls_token, dpos_embed)
        tokens = concat(cls_token broadcast to the batch, patches) + pos_embed:
        cls_token (1, 1, D), patches (B, P, D), pos_embed (1, N, D), dtokens (B, N, D)

Shape legend: B batch, P patches, N = P + 1 tokens, D width, h heads, Dh head width, K classes.
"""
import numpy as np

from ..gradcheck import numerical_gradient
from ..layers.activations import GELU
from ..layers.attention import softmax, softmax_backward
from ..layers.linear import Linear
from ..layers.loss import SoftmaxCrossEntropy
from ..layers.norm import LayerNorm
from .common import call, describe, factor_hint, relative_error
from .forward import attention

# --- how close is close enough -------------------------------------------------------------
# Every comparison is entry by entry, with the relative error |a - r| / max(|a| + |r|, floor)
# (as in CS231n's gradient checks), and the worst entry decides.
#
# Against the package's backward pass: both sides compute the same formula in float64, so
# they differ only by rounding (the answer key, whose order of operations differs from the
# package's, is off by 2e-13 at worst). 1e-6 leaves a margin of a million for that and still
# fails the nearest miss we know of: the exact-erf GELU's derivative is within 1e-3 of the
# tanh form's, yet on these inputs half its entries are off by 1.6e-4 relative or more and
# the worst by 0.5.
REF_TOL = 1e-6
# The inputs are O(1), so gradient entries are O(1) too. Where an entry happens to be tiny
# (or exactly zero) a relative error compares rounding noise with rounding noise; below this
# floor the comparison turns absolute: |a - r| < REF_TOL * REF_FLOOR = 1e-14.
REF_FLOOR = 1e-8
# Against the numerical gradient: the fourth-order central difference at h = 1e-3 (the
# stencil numpyvit.gradcheck uses) is good to ~1e-10 relative on these smooth functions, but
# its absolute noise is ~1e-16 |L| / h ~ 1e-12, so tiny entries carry a larger relative
# error. 1e-6 relative, judged absolutely (|a - n| < 1e-10) below a floor of 1e-4, passes
# the answer key with a margin of 400 (its worst is 2.5e-9, in GELU's tails) and fails the
# erf GELU here too (0.2). The comparison with the package is the tight one; this one shows
# the learner that a gradient is right by its definition, not just by agreement.
NUM_TOL = 1e-6
NUM_FLOOR = 1e-4
NUM_STEP = 1e-3


# --- the exercises -------------------------------------------------------------------------
class BackwardExercise:
    """One backward exercise: how to draw its inputs, the package's forward and backward for
    them, and how a learner's function is called; `run(fn)` checks fn.

    args:      the learner's argument names, in order; each is a key of a case's inputs, or
               one of UPSTREAM (a random upstream gradient shaped like the output)
    grads:     the names of the gradients the learner returns, in order
    wrt:       for each gradient, the input it differentiates (its shape is the expected one)
    cases:     rng -> list of input dicts (several shapes)
    forward:   inputs -> the output (an array, or the scalar loss when there is no dout)
    reference: (inputs, dout) -> the package's gradients, in the order of `grads`
    hints:     for each gradient, what to look at when it is wrong (a nudge, not the answer)
    """

    def __init__(self, name, args, grads, wrt, cases, forward, reference, reference_name, hints):
        self.name, self.args, self.grads, self.wrt = name, args, grads, wrt
        self.cases, self.forward, self.reference = cases, forward, reference
        self.reference_name, self.hints = reference_name, hints

    def run(self, fn):
        """(passed, lines): the verdict, a one-line summary, then indented details and hints."""
        return _run(self, fn)


def _linear(inputs):
    """A float64 Linear holding W and b."""
    W = inputs["W"]
    layer = Linear(W.shape[1], W.shape[0], rng=0, dtype=np.float64)
    layer.params["weight"][...] = W
    layer.params["bias"][...] = inputs["b"]
    return layer


def _linear_cases(rng):
    # y = x W^T + b with rows only, then with a batch and a token axis. b is part of y (so
    # db can be checked) but not an argument: no gradient depends on it. D_in != D_out and
    # B != N, so a transposed or unsummed result has a visibly wrong shape.
    cases = []
    for x_shape, d_out in (((4, 3), 2), ((2, 5, 3), 4)):        # (B, D_in), (B, N, D_in)
        cases.append({"x": rng.standard_normal(x_shape),
                      "W": rng.standard_normal((d_out, x_shape[-1])),   # (D_out, D_in)
                      "b": rng.standard_normal(d_out)})                  # (D_out,)
    return cases


def _layer_gradients(layer, x, dout):
    """(dx, dweight, dbias) from one forward and backward pass of a fresh float64 layer."""
    layer.forward(x)
    dx = layer.backward(dout)
    return dx, layer.grads["weight"], layer.grads["bias"]


def _linear_reference(inputs, dout):
    return _layer_gradients(_linear(inputs), inputs["x"], dout)


def _softmax_cases(rng):
    # attention's (B, h, N, N) scores, and plain (B, K) rows that are not square
    return [{"scores": rng.standard_normal((2, 3, 4, 4))}, {"scores": 2 * rng.standard_normal((5, 6))}]


def _cross_entropy_cases(rng):
    # batches of more than one sample, so a forgotten 1/B shows
    cases = []
    for B, K in ((5, 4), (3, 7)):
        cases.append({"logits": 2 * rng.standard_normal((B, K)),      # (B, K)
                      "labels": rng.integers(0, K, size=B)})           # (B,) ints in [0, K)
    return cases


def _cross_entropy_forward(inputs):
    return SoftmaxCrossEntropy().forward(inputs["logits"], inputs["labels"])


def _cross_entropy_reference(inputs, dout):
    loss = SoftmaxCrossEntropy()
    loss.forward(inputs["logits"], inputs["labels"])
    return (loss.backward(),)


def _layernorm(inputs):
    """A float64 LayerNorm holding weight and bias."""
    layer = LayerNorm(inputs["x"].shape[-1], eps=inputs["eps"], dtype=np.float64)
    layer.params["weight"][...] = inputs["weight"]
    layer.params["bias"][...] = inputs["bias"]
    return layer


def _layernorm_cases(rng):
    # weight away from 1, so forgetting it shows; the package's eps and a large one, so an
    # answer that ignores eps shows too. bias is part of y (so dbias is checked) but, like b
    # in the linear layer, not an argument.
    cases = []
    for x_shape, eps in (((2, 5, 6), 1e-6), ((4, 8), 0.1)):        # (B, N, D), (B, D)
        D = x_shape[-1]
        cases.append({"x": rng.standard_normal(x_shape), "eps": eps,
                      "weight": 1 + 0.5 * rng.standard_normal(D), "bias": rng.standard_normal(D)})
    return cases


def _layernorm_reference(inputs, dout):
    return _layer_gradients(_layernorm(inputs), inputs["x"], dout)


def _gelu_cases(rng):
    # wide enough to reach both tails, where the tanh and erf forms differ most
    return [{"x": 2 * rng.standard_normal((2, 5, 6))}, {"x": np.linspace(-4, 4, 17)}]


def _gelu_reference(inputs, dout):
    layer = GELU(dtype=np.float64)
    layer.forward(inputs["x"])
    return (layer.backward(dout),)


def _attention_cases(rng):
    # q, k, v each (B, h, N, Dh), with N != Dh so a transpose in the wrong place changes a shape
    cases = []
    for shape in ((2, 3, 5, 4), (1, 2, 6, 8)):
        cases.append({name: rng.standard_normal(shape) for name in ("q", "k", "v")})
    return cases


def _attention_reference(inputs, dout):
    # The core of Attention.backward, which the class does not expose on its own (it is fused
    # with the qkv and proj layers): the same steps, on the package's softmax and
    # softmax_backward. The exercise tests check this reference against the numerical gradient.
    q, k, v = inputs["q"], inputs["k"], inputs["v"]
    scale = q.shape[-1] ** -0.5
    att = softmax(scale * (q @ k.swapaxes(-1, -2)))                # (B, h, N, N)
    datt = dout @ v.swapaxes(-1, -2)                                # (B, h, N, N)
    dv = att.swapaxes(-1, -2) @ dout                                # (B, h, N, Dh)
    dscores = scale * softmax_backward(att, datt)                   # (B, h, N, N)
    dq = dscores @ k                                                # (B, h, N, Dh)
    dk = dscores.swapaxes(-1, -2) @ q                               # (B, h, N, Dh)
    return dq, dk, dv


def _embed_cases(rng):
    # B > 1, so a gradient not summed over the batch has the wrong shape or value; P != D
    cases = []
    for B, P, D in ((3, 4, 5), (2, 9, 6)):
        cases.append({"cls_token": rng.standard_normal((1, 1, D)),    # (1, 1, D)
                      "patches": rng.standard_normal((B, P, D)),      # (B, P, D)
                      "pos_embed": rng.standard_normal((1, P + 1, D))})  # (1, N, D)
    return cases


def _embed_forward(inputs):
    # VisionTransformer.embed after the patch embedding: the class token broadcast to every
    # image and prepended, then the position embedding broadcast over the batch and added
    patches = inputs["patches"]
    B, P, D = patches.shape
    cls = np.broadcast_to(inputs["cls_token"], (B, 1, D))            # (B, 1, D)
    return np.concatenate([cls, patches], axis=1) + inputs["pos_embed"]   # (B, N, D)


def _embed_reference(inputs, dout):
    # the last lines of VisionTransformer.backward, which are not a function of their own
    return dout[:, :1].sum(axis=0, keepdims=True), dout.sum(axis=0, keepdims=True)


_SUM_OVER_ROWS = ("is shared by every row of x (every sample and every token), so its gradient sums "
                  "over all of them")

EXERCISES = {ex.name: ex for ex in (
    BackwardExercise(
        "linear_backward", args=("x", "W", "dout"), grads=("dx", "dW", "db"), wrt=("x", "W", "b"),
        cases=_linear_cases, forward=lambda inputs: _linear(inputs).forward(inputs["x"]),
        reference=_linear_reference, reference_name="Linear.backward",
        hints={"dx": "y_o = sum_i W[o, i] x_i: every output of a row depends on every input of that row "
                     "through a column of W; dx has x's shape (..., D_in)",
               "dW": f"W {_SUM_OVER_ROWS}: flatten x and dout to 2-D rows first; dW has W's shape "
                     "(D_out, D_in)",
               "db": f"b {_SUM_OVER_ROWS}: sum dout over every axis but the last"}),
    BackwardExercise(
        "cross_entropy_backward", args=("logits", "labels"), grads=("dlogits",), wrt=("logits",),
        cases=_cross_entropy_cases, forward=_cross_entropy_forward,
        reference=_cross_entropy_reference, reference_name="SoftmaxCrossEntropy.backward",
        hints={"dlogits": "write one sample's loss as -z_y + log sum_k exp(z_k) and differentiate; the "
                          "loss is the mean over the batch, so each sample's share carries 1/B"}),
    BackwardExercise(
        "softmax_backward", args=("att", "datt"), grads=("dscores",), wrt=("scores",),
        cases=_softmax_cases, forward=lambda inputs: softmax(inputs["scores"]),
        reference=lambda inputs, dout: (softmax_backward(softmax(inputs["scores"]), dout),),
        reference_name="numpyvit.layers.attention.softmax_backward",
        hints={"dscores": "every a_i depends on every score s_j of its row, through the normalising "
                          "sum: the Jacobian is diag(a) - a a^T, not diag(a)"}),
    BackwardExercise(
        "layernorm_backward", args=("x", "weight", "dout", "eps"), grads=("dx", "dweight", "dbias"),
        wrt=("x", "weight", "bias"), cases=_layernorm_cases,
        forward=lambda inputs: _layernorm(inputs).forward(inputs["x"]),
        reference=_layernorm_reference, reference_name="LayerNorm.backward",
        hints={"dx": "x reaches xhat = (x - mean) * rstd three ways: directly, through the mean and "
                     "through the variance; dx has one term for each, and eps sits inside rstd",
               "dweight": "weight multiplies xhat in every row (every sample and token): sum dout * xhat "
                          "over every axis but the last",
               "dbias": "bias is added to every row: sum dout over every axis but the last"}),
    BackwardExercise(
        "gelu_backward", args=("x", "dout"), grads=("dx",), wrt=("x",), cases=_gelu_cases,
        forward=lambda inputs: GELU(dtype=np.float64).forward(inputs["x"]),
        reference=_gelu_reference, reference_name="GELU.backward",
        hints={"dx": "the tanh form 0.5 x (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2/pi), not the "
                     "exact erf form: product rule, then d tanh(u)/du = 1 - tanh(u)^2; multiply by dout"}),
    BackwardExercise(
        "attention_backward", args=("q", "k", "v", "dout"), grads=("dq", "dk", "dv"), wrt=("q", "k", "v"),
        cases=_attention_cases, forward=attention, reference=_attention_reference,
        reference_name="the core of Attention.backward",
        hints={"dq": "scores = Dh^-0.5 q k^T: the scale is on the path to q; then the softmax's backward, "
                     "then dP = dC R^T for C = P R",
               "dk": "scores = Dh^-0.5 q k^T: the scale is on the path to k too; dR = P^T dC for C = P R, "
                     "transposing only the last two axes (batch and heads come along)",
               "dv": "out = att v: dR = P^T dC for C = P R, transposing only the last two axes"}),
    BackwardExercise(
        "embed_backward", args=("dtokens",), grads=("dcls_token", "dpos_embed"),
        wrt=("cls_token", "pos_embed"), cases=_embed_cases, forward=_embed_forward,
        reference=_embed_reference, reference_name="VisionTransformer.backward",
        hints={"dcls_token": "one class token is copied to every image, and it becomes token 0 of "
                             "each: its gradient is token 0's gradient, summed over the batch",
               "dpos_embed": "one position embedding is added to every image: its gradient sums "
                             "dtokens over the batch (all N rows, the class token's too), not a mean"}),
)}

# The backward exercises, in the order the notebook poses them.
NAMES = tuple(EXERCISES)


# --- running a learner's function ----------------------------------------------------------
UPSTREAM = ("dout", "datt", "dtokens")   # the argument names of the upstream gradient


def _argument(arg, inputs, dout):
    """The value the learner's argument `arg` receives in one case."""
    if arg in UPSTREAM:
        return dout
    # softmax_backward's learner receives att = softmax(scores), not the scores themselves
    if arg == "att":
        return softmax(inputs["scores"])
    return inputs[arg]


def _items(ex, result, inputs):
    """The returned gradients as a tuple of arrays, or a message saying what is wrong with them."""
    n = len(ex.grads)
    expected = ex.grads[0] if n == 1 else f"{n} items ({', '.join(ex.grads)})"
    if result is None:
        return None, f"returned None, expected {expected}: is a `return` missing?"
    if n == 1:
        if isinstance(result, (tuple, list)):
            return None, (f"returned a {type(result).__name__} of {len(result)} "
                          f"item{'s' if len(result) != 1 else ''}, expected one array {ex.grads[0]}")
        items = (result,)
    else:
        if not isinstance(result, (tuple, list)):
            return None, f"returned one {type(result).__name__}, expected {expected}"
        if len(result) != n:
            return None, f"returned {len(result)} items, expected {expected}"
        items = tuple(result)
    for grad, key, item in zip(ex.grads, ex.wrt, items):
        shape = inputs[key].shape
        if not isinstance(item, np.ndarray):
            return None, f"{grad} is a {type(item).__name__}, expected a NumPy array of shape {shape}"
        if item.shape != shape:
            return None, (f"{grad} has shape {item.shape}, expected {shape}, the shape of "
                          f"{key}{_shape_hint(item.shape, shape)}")
        if item.dtype != np.float64:
            return None, (f"{grad} has dtype {item.dtype}, expected float64, the inputs' dtype "
                          f"(a gradient keeps its input's dtype)")
        if not np.all(np.isfinite(item)):
            return None, f"{grad} contains {np.sum(~np.isfinite(item))} NaN or infinite entries"
    return items, None


def _shape_hint(got, shape):
    """A guess at why a gradient has the wrong shape, or ''."""
    if len(shape) > 1 and got == shape[::-1]:
        return " (transposed?)"
    if len(got) == len(shape) and shape[0] == 1 and got[0] > 1 and got[1:] == shape[1:]:
        return (f" (one gradient per image: the parameter is shared by all {got[0]} images of the "
                f"batch, so its gradient sums over axis 0; keepdims=True keeps the 1)")
    if len(got) == len(shape) == 3 and got[1] == shape[1] - 1:
        return " (one token short: the class token's row is part of it, and has a gradient too)"
    return ""


def _run(ex, fn):
    """(passed, lines): the verdict, a one-line summary, then indented details and hints."""
    if not callable(fn):
        return False, [f"expected a function, got {type(fn).__name__} {fn!r:.60}"]
    rng = np.random.default_rng(0)
    cases = ex.cases(rng)
    worst_ref = worst_num = 0.0
    for c, inputs in enumerate(cases, 1):
        out = ex.forward(inputs)
        # a random upstream gradient, unless the output is the scalar loss itself (L = loss)
        dout = rng.standard_normal(np.shape(out)) if set(UPSTREAM) & set(ex.args) else None
        args = [_argument(arg, inputs, dout) for arg in ex.args]
        where = f"  on case {c} of {len(cases)}: {describe(ex.args, args)}"
        result, problem = call(fn, args, where)
        if problem:
            return False, problem
        try:
            items, problem = _items(ex, result, inputs)
        except Exception as e:                   # an exotic result that does not even compare
            items, problem = None, f"returned something that cannot be checked ({type(e).__name__}: {e})"
        if problem:
            return False, [problem, where]

        reference = ex.reference(inputs, dout)

        def loss():
            value = ex.forward(inputs)
            return float(value) if dout is None else float(np.sum(value * dout))

        wrong, details = [], []
        for grad, key, a, r in zip(ex.grads, ex.wrt, items, reference):
            n = numerical_gradient(loss, inputs[key], NUM_STEP).reshape(inputs[key].shape)
            e_ref = relative_error(a, r, REF_FLOOR)
            e_num = relative_error(a, n, NUM_FLOOR)
            worst_ref, worst_num = max(worst_ref, e_ref.max()), max(worst_num, e_num.max())
            if e_ref.max() > REF_TOL or e_num.max() > NUM_TOL:
                wrong.append(grad)
                index = np.unravel_index(np.argmax(e_ref), e_ref.shape)
                details.append(f"  {grad}: worst relative error {e_ref.max():.1e} against "
                               f"{ex.reference_name} (allowed {REF_TOL:.0e}), {e_num.max():.1e} against "
                               f"the numerical gradient (allowed {NUM_TOL:.0e}); "
                               f"{grad}[{', '.join(map(str, index))}] is "
                               f"{a[index]:.6g}, expected {r[index]:.6g}")
                factor = factor_hint(a, r, REF_TOL, REF_FLOOR)
                details.append(f"  hint for {grad}: {factor + '; ' if factor else ''}{ex.hints[grad]}")
        if wrong:
            right = [g for g in ex.grads if g not in wrong]
            summary = " and ".join(wrong) + (" are" if len(wrong) > 1 else " is") + " wrong"
            summary += f" ({', '.join(right)} {'are' if len(right) > 1 else 'is'} right)" if right else ""
            return False, [summary, where] + details
    verb = "matches" if len(ex.grads) == 1 else "match"
    return True, [f"{', '.join(ex.grads)} {verb} {ex.reference_name} (worst relative error "
                  f"{worst_ref:.1e}) and the numerical gradient ({worst_num:.1e}) on {len(cases)} "
                  f"random cases"]
