"""Write a layer's backward pass yourself, and check it against the package's own.

    from numpyvit.exercises import NAMES, check

    def gelu_backward(x, dout):
        ...                                  # your derivation
    check("gelu_backward", gelu_backward)    # prints PASS or FAIL with a hint; returns True/False

`check` calls your function on seeded random float64 inputs of several shapes and compares
every gradient it returns twice: with the package's own backward pass (the reference), and
with a numerical gradient, the central difference of the scalar L = sum(out * dout). It
never raises because of your function: an exception inside it, a missing `return`, a wrong
number of results, a wrong shape or dtype and wrong values are all reported as FAIL, with
what is wrong and a hint. The exercises and their fixed signatures:

    linear_backward(x, W, dout) -> (dx, dW, db)      y = x W^T + b;  x (..., D_in), W (D_out, D_in)
    softmax_backward(att, datt) -> dscores            att = softmax(scores) over the last axis
    cross_entropy_backward(logits, labels) -> dlogits mean loss over the batch, no smoothing
    layernorm_backward(x, weight, dout, eps) -> (dx, dweight, dbias)   over the last axis
    gelu_backward(x, dout) -> dx                      the tanh form numpyvit's GELU uses
    attention_backward(q, k, v, dout) -> (dq, dk, dv) out = softmax(q k^T * Dh^-0.5) v

Shape legend: B batch, N tokens, D width, h heads, Dh head width, K classes.
"""
import numpy as np

from .gradcheck import numerical_gradient
from .layers.activations import GELU
from .layers.attention import softmax, softmax_backward
from .layers.linear import Linear
from .layers.loss import SoftmaxCrossEntropy
from .layers.norm import LayerNorm

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


def relative_error(a, b, floor):
    """Entry-wise |a - b| / max(|a| + |b|, floor), same shape as a and b."""
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


# --- the exercises -------------------------------------------------------------------------
class Exercise:
    """One exercise: how to draw its inputs, the package's forward and backward for them, and
    how a learner's function is called.

    args:      the learner's argument names, in order; each is a key of a case's inputs, or
               'dout' / 'datt' (a random upstream gradient shaped like the output)
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


def _attention_forward(inputs):
    q, k, v = inputs["q"], inputs["k"], inputs["v"]
    scale = q.shape[-1] ** -0.5
    att = softmax(scale * (q @ k.swapaxes(-1, -2)))                # (B, h, N, N)
    return att @ v                                                  # (B, h, N, Dh)


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


_SUM_OVER_ROWS = ("is shared by every row of x (every sample and every token), so its gradient sums "
                  "over all of them")

EXERCISES = {ex.name: ex for ex in (
    Exercise(
        "linear_backward", args=("x", "W", "dout"), grads=("dx", "dW", "db"), wrt=("x", "W", "b"),
        cases=_linear_cases, forward=lambda inputs: _linear(inputs).forward(inputs["x"]),
        reference=_linear_reference, reference_name="Linear.backward",
        hints={"dx": "y_o = sum_i W[o, i] x_i: every output of a row depends on every input of that row "
                     "through a column of W; dx has x's shape (..., D_in)",
               "dW": f"W {_SUM_OVER_ROWS}: flatten x and dout to 2-D rows first; dW has W's shape "
                     "(D_out, D_in)",
               "db": f"b {_SUM_OVER_ROWS}: sum dout over every axis but the last"}),
    Exercise(
        "softmax_backward", args=("att", "datt"), grads=("dscores",), wrt=("scores",),
        cases=_softmax_cases, forward=lambda inputs: softmax(inputs["scores"]),
        reference=lambda inputs, dout: (softmax_backward(softmax(inputs["scores"]), dout),),
        reference_name="numpyvit.layers.attention.softmax_backward",
        hints={"dscores": "every a_i depends on every score s_j of its row, through the normalising "
                          "sum: the Jacobian is diag(a) - a a^T, not diag(a)"}),
    Exercise(
        "cross_entropy_backward", args=("logits", "labels"), grads=("dlogits",), wrt=("logits",),
        cases=_cross_entropy_cases, forward=_cross_entropy_forward,
        reference=_cross_entropy_reference, reference_name="SoftmaxCrossEntropy.backward",
        hints={"dlogits": "write one sample's loss as -z_y + log sum_k exp(z_k) and differentiate; the "
                          "loss is the mean over the batch, so each sample's share carries 1/B"}),
    Exercise(
        "layernorm_backward", args=("x", "weight", "dout", "eps"), grads=("dx", "dweight", "dbias"),
        wrt=("x", "weight", "bias"), cases=_layernorm_cases,
        forward=lambda inputs: _layernorm(inputs).forward(inputs["x"]),
        reference=_layernorm_reference, reference_name="LayerNorm.backward",
        hints={"dx": "x reaches xhat = (x - mean) * rstd three ways: directly, through the mean and "
                     "through the variance; dx has one term for each, and eps sits inside rstd",
               "dweight": "weight multiplies xhat in every row (every sample and token): sum dout * xhat "
                          "over every axis but the last",
               "dbias": "bias is added to every row: sum dout over every axis but the last"}),
    Exercise(
        "gelu_backward", args=("x", "dout"), grads=("dx",), wrt=("x",), cases=_gelu_cases,
        forward=lambda inputs: GELU(dtype=np.float64).forward(inputs["x"]),
        reference=_gelu_reference, reference_name="GELU.backward",
        hints={"dx": "the tanh form 0.5 x (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2/pi), not the "
                     "exact erf form: product rule, then d tanh(u)/du = 1 - tanh(u)^2; multiply by dout"}),
    Exercise(
        "attention_backward", args=("q", "k", "v", "dout"), grads=("dq", "dk", "dv"), wrt=("q", "k", "v"),
        cases=_attention_cases, forward=_attention_forward, reference=_attention_reference,
        reference_name="the core of Attention.backward",
        hints={"dq": "scores = Dh^-0.5 q k^T: the scale is on the path to q; then the softmax's backward, "
                     "then dP = dC R^T for C = P R",
               "dk": "scores = Dh^-0.5 q k^T: the scale is on the path to k too; dR = P^T dC for C = P R, "
                     "transposing only the last two axes (batch and heads come along)",
               "dv": "out = att v: dR = P^T dC for C = P R, transposing only the last two axes"}),
)}

# The exercises, in the order the notebook poses them.
NAMES = tuple(EXERCISES)


# --- running a learner's function ----------------------------------------------------------
UPSTREAM = ("dout", "datt")   # the argument names of the upstream gradient


def _argument(arg, inputs, dout):
    """The value the learner's argument `arg` receives in one case."""
    if arg in UPSTREAM:
        return dout
    # softmax_backward's learner receives att = softmax(scores), not the scores themselves
    if arg == "att":
        return softmax(inputs["scores"])
    return inputs[arg]


def _describe(ex, inputs, dout):
    """'x (2, 5, 3), W (4, 3), dout (2, 5, 4)': the arguments of one call."""
    parts = []
    for arg in ex.args:
        value = _argument(arg, inputs, dout)
        parts.append(f"{arg} {value.shape}" if isinstance(value, np.ndarray) else f"{arg}={value!r}")
    return ", ".join(parts)


def _call(ex, fn, inputs, dout):
    """Call fn on copies of the case's arguments (so an in-place edit cannot spoil the check)."""
    args = []
    for arg in ex.args:
        value = _argument(arg, inputs, dout)
        args.append(value.copy() if isinstance(value, np.ndarray) else value)
    return fn(*args)


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
            transposed = " (transposed?)" if len(shape) > 1 and item.shape == shape[::-1] else ""
            return None, f"{grad} has shape {item.shape}, expected {shape}, the shape of {key}{transposed}"
        if item.dtype != np.float64:
            return None, (f"{grad} has dtype {item.dtype}, expected float64, the inputs' dtype "
                          f"(a gradient keeps its input's dtype)")
        if not np.all(np.isfinite(item)):
            return None, f"{grad} contains {np.sum(~np.isfinite(item))} NaN or infinite entries"
    return items, None


def _factor_hint(a, r):
    """'it is 2 times the right value' when a is a constant multiple c != 1 of r, else ''.
    c is the least-squares fit <a, r> / <r, r>; a missing 1/B or Dh^-0.5 shows up this way."""
    c = float(np.sum(a * r) / max(float(np.sum(r * r)), 1e-300))
    if abs(c - 1) < 1e-6 or np.max(relative_error(a, c * r, REF_FLOOR)) > REF_TOL:
        return ""
    if abs(c + 1) < 1e-6:
        return "it has the wrong sign"
    return f"it is {c:.6g} times the right value: a constant factor is missing or extra"


def _innermost_function(error):
    """The name of the function whose code raised `error` (the last frame of its traceback)."""
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name


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
        where = f"  on case {c} of {len(cases)}: {_describe(ex, inputs, dout)}"
        try:
            result = _call(ex, fn, inputs, dout)
        except NotImplementedError as e:
            raised_in = _innermost_function(e)
            if raised_in != getattr(fn, "__name__", raised_in):
                # e.g. attention_backward calling a softmax_backward stub
                return False, [f"not implemented yet: it calls {raised_in}, which raises "
                               f"NotImplementedError. Write {raised_in} first, run its cell, then "
                               f"run this check again."]
            return False, ["not implemented yet. This FAIL is expected until you write the function: "
                           "fill it in, run its cell, then run this check again."]
        except Exception as e:                   # the learner's bug, reported, never raised
            return False, [f"raised {type(e).__name__}: {e}", where,
                           "  hint: call your function on arrays of these shapes and print the shape "
                           "of everything it computes"]
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
                factor = _factor_hint(a, r)
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


def check(name, fn):
    """Check a learner's backward function `fn` for the exercise `name` (one of NAMES).

    Prints 'PASS name: ...' or 'FAIL name: ...' with what is wrong and a hint, and returns
    True or False. Never raises because of `fn`; an unknown `name` raises ValueError.
    """
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise name={name!r}; expected one of {', '.join(NAMES)}")
    passed, lines = _run(EXERCISES[name], fn)
    print(f"{'PASS' if passed else 'FAIL'} {name}: " + "\n".join(lines))
    return passed
