"""numpyvit.exercises.check: the answer key passes, and every near miss fails with a useful message.

Each negative test plants one mistake a learner plausibly makes (built on the answer key, so
everything else is right) and asserts the FAIL line names what is wrong.
"""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from numpyvit.exercises import NAMES, check, relative_error
from numpyvit.gradcheck import numerical_gradient

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions" / "your_turn.py"


def load_solutions():
    spec = importlib.util.spec_from_file_location("your_turn", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S = load_solutions()


def run(capsys, name, fn):
    """check's verdict and the text it printed."""
    passed = check(name, fn)
    return passed, capsys.readouterr().out


# --- the answer key passes -------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_answer_key_passes_against_reference_and_numerical_gradient(name, capsys):
    passed, out = run(capsys, name, getattr(S, name))
    assert passed, out
    assert out.startswith(f"PASS {name}:") and "numerical gradient" in out, out
    assert "FAIL" not in out and "hint" not in out, out


def package_backward(name):
    """The package's own backward pass, called through the exercise's signature."""
    from numpyvit import GELU, LayerNorm, Linear, SoftmaxCrossEntropy, softmax_backward
    from numpyvit.exercises import _attention_reference

    def linear_backward(x, W, dout):
        layer = Linear(W.shape[1], W.shape[0], rng=0, dtype=np.float64)
        layer.params["weight"][...] = W
        layer.forward(x)
        dx = layer.backward(dout)
        return dx, layer.grads["weight"], layer.grads["bias"]

    def cross_entropy_backward(logits, labels):
        loss = SoftmaxCrossEntropy()
        loss.forward(logits, labels)
        return loss.backward()

    def layernorm_backward(x, weight, dout, eps):
        layer = LayerNorm(x.shape[-1], eps=eps, dtype=np.float64)
        layer.params["weight"][...] = weight
        layer.forward(x)
        dx = layer.backward(dout)
        return dx, layer.grads["weight"], layer.grads["bias"]

    def gelu_backward(x, dout):
        layer = GELU(dtype=np.float64)
        layer.forward(x)
        return layer.backward(dout)

    def attention_backward(q, k, v, dout):
        return _attention_reference({"q": q, "k": k, "v": v}, dout)

    return {"linear_backward": linear_backward, "softmax_backward": softmax_backward,
            "cross_entropy_backward": cross_entropy_backward, "layernorm_backward": layernorm_backward,
            "gelu_backward": gelu_backward, "attention_backward": attention_backward}[name]


@pytest.mark.parametrize("name", NAMES)
def test_package_layers_pass_so_every_reference_agrees_with_the_numerical_gradient(name, capsys):
    passed, out = run(capsys, name, package_backward(name))
    assert passed, out


def test_names_list_the_six_exercises_in_notebook_order():
    assert NAMES == ("linear_backward", "softmax_backward", "cross_entropy_backward",
                     "layernorm_backward", "gelu_backward", "attention_backward")


def test_attention_reference_matches_the_numerical_gradient():
    # the attention reference is assembled from softmax/softmax_backward rather than taken from
    # the Attention class, so it gets its own numerical check
    from numpyvit.exercises import _attention_forward, _attention_reference
    rng = np.random.default_rng(3)
    inputs = {name: rng.standard_normal((2, 2, 3, 4)) for name in ("q", "k", "v")}
    dout = rng.standard_normal((2, 2, 3, 4))
    for key, analytic in zip(("q", "k", "v"), _attention_reference(inputs, dout)):
        numeric = numerical_gradient(lambda: float(np.sum(_attention_forward(inputs) * dout)),
                                     inputs[key]).reshape(analytic.shape)
        assert relative_error(analytic, numeric, 1e-4).max() < 1e-8, key


# --- one planted bug per exercise fails --------------------------------------------------------
def test_linear_db_not_summed_over_batch_and_tokens_fails_naming_the_shape(capsys):
    def linear_backward(x, W, dout):
        dx, dW, _ = S.linear_backward(x, W, dout)
        return dx, dW, dout.sum(axis=0)            # the bug: sums over the batch axis only
    passed, out = run(capsys, "linear_backward", linear_backward)
    assert not passed
    # the 2-D case (B, D_out) passes by luck; the (B, N, D_out) case exposes it
    assert "FAIL linear_backward: db has shape (5, 4), expected (4,), the shape of b" in out, out


def test_linear_dW_transposed_fails_and_says_so(capsys):
    def linear_backward(x, W, dout):
        dx, dW, db = S.linear_backward(x, W, dout)
        return dx, dW.T, db
    passed, out = run(capsys, "linear_backward", linear_backward)
    assert not passed and "dW has shape (3, 2), expected (2, 3), the shape of W (transposed?)" in out, out


def test_softmax_backward_missing_the_subtracted_term_fails(capsys):
    passed, out = run(capsys, "softmax_backward", lambda att, datt: att * datt)
    assert not passed
    assert "FAIL softmax_backward: dscores is wrong\n" in out and "hint for dscores:" in out, out
    assert "diag(a) - a a^T" in out, out


def test_cross_entropy_without_dividing_by_batch_fails_and_names_the_factor(capsys):
    def cross_entropy_backward(logits, labels):
        return S.cross_entropy_backward(logits, labels) * logits.shape[0]   # the bug: no 1/B
    passed, out = run(capsys, "cross_entropy_backward", cross_entropy_backward)
    assert not passed and "FAIL cross_entropy_backward: dlogits is wrong" in out, out
    assert "it is 5 times the right value" in out and "1/B" in out, out       # first case: B = 5


def test_layernorm_missing_the_variance_term_fails_on_dx_only(capsys):
    def layernorm_backward(x, weight, dout, eps):
        _, dweight, dbias = S.layernorm_backward(x, weight, dout, eps)
        rstd = 1 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)
        dxhat = dout * weight
        dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True))           # the bug: 2 of 3 terms
        return dx, dweight, dbias
    passed, out = run(capsys, "layernorm_backward", layernorm_backward)
    assert not passed and "FAIL layernorm_backward: dx is wrong (dweight, dbias are right)" in out, out
    assert "through the variance" in out, out


def test_layernorm_ignoring_eps_fails(capsys):
    def layernorm_backward(x, weight, dout, eps):
        return S.layernorm_backward(x, weight, dout, 0.0)     # the bug: eps left out of rstd
    passed, out = run(capsys, "layernorm_backward", layernorm_backward)
    # caught already at the package's eps = 1e-6, where a row of small variance feels it
    assert not passed and "dx is wrong" in out and "eps sits inside rstd" in out, out


def test_exact_erf_gelu_derivative_fails_against_the_tanh_form(capsys):
    erf = np.vectorize(math.erf)

    def gelu_backward(x, dout):
        # the exact GELU's derivative Phi(x) + x phi(x): within 1e-3 of the tanh form's
        return (0.5 * (1 + erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)) * dout
    passed, out = run(capsys, "gelu_backward", gelu_backward)
    assert not passed and "FAIL gelu_backward: dx is wrong" in out and "not the exact erf form" in out, out
    x = np.linspace(-4, 4, 801)      # the near miss really is near: a test that really is tight
    assert np.max(np.abs(gelu_backward(x, 1.0) - S.gelu_backward(x, 1.0))) < 1e-3


def test_attention_missing_the_scale_fails_on_dq_and_dk(capsys):
    def attention_backward(q, k, v, dout):
        dq, dk, dv = S.attention_backward(q, k, v, dout)
        root = math.sqrt(q.shape[-1])
        return dq * root, dk * root, dv            # the bug: backward forgets Dh^-0.5
    passed, out = run(capsys, "attention_backward", attention_backward)
    assert not passed and "FAIL attention_backward: dq and dk are wrong (dv is right)" in out, out
    assert "it is 2 times the right value" in out, out                        # first case: Dh = 4


# --- what the learner's function does wrong is a FAIL, never an exception ------------------------
def test_not_implemented_stub_fails_as_not_implemented_yet(capsys):
    def gelu_backward(x, dout):
        raise NotImplementedError
    passed, out = run(capsys, "gelu_backward", gelu_backward)
    assert not passed, out
    assert "FAIL gelu_backward: not implemented yet. This FAIL is expected until you write" in out, out


def test_a_stub_called_from_inside_is_named(capsys):
    def softmax_backward(att, datt):
        raise NotImplementedError

    def attention_backward(q, k, v, dout):
        return softmax_backward(q, dout)           # relies on exercise 2, not written yet
    passed, out = run(capsys, "attention_backward", attention_backward)
    assert not passed
    assert "not implemented yet: it calls softmax_backward, which raises NotImplementedError" in out, out


def test_a_function_that_raises_fails_with_the_exception_type_and_message(capsys):
    def linear_backward(x, W, dout):
        return dout @ W.T, None, None              # a wrong transpose: matmul raises
    passed, out = run(capsys, "linear_backward", linear_backward)
    assert not passed
    assert "FAIL linear_backward: raised ValueError: matmul" in out, out
    assert "on case 1 of 2: x (4, 3), W (2, 3), dout (4, 2)" in out
    assert "hint:" in out, out


def test_wrong_shape_fails_naming_both_shapes(capsys):
    passed, out = run(capsys, "gelu_backward", lambda x, dout: S.gelu_backward(x, dout).reshape(-1))
    assert not passed and "dx has shape (60,), expected (2, 5, 6), the shape of x" in out, out


@pytest.mark.parametrize("result, says", [
    (lambda dx, dW, db: (dx, dW), "returned 2 items, expected 3 items (dx, dW, db)"),
    (lambda dx, dW, db: dx, "returned one ndarray, expected 3 items (dx, dW, db)"),
    (lambda dx, dW, db: None, "returned None, expected 3 items (dx, dW, db): is a `return` missing?"),
])
def test_wrong_number_of_returned_items_fails(result, says, capsys):
    passed, out = run(capsys, "linear_backward", lambda x, W, dout: result(*S.linear_backward(x, W, dout)))
    assert not passed and says in out, out


def test_a_tuple_where_one_array_is_expected_fails(capsys):
    passed, out = run(capsys, "softmax_backward", lambda att, datt: (S.softmax_backward(att, datt),))
    assert not passed and "returned a tuple of 1 item, expected one array dscores" in out, out


def test_float32_result_fails_naming_the_dtype(capsys):
    passed, out = run(capsys, "gelu_backward", lambda x, dout: S.gelu_backward(x, dout).astype(np.float32))
    assert not passed and "dx has dtype float32, expected float64" in out, out


def test_nan_result_fails(capsys):
    passed, out = run(capsys, "gelu_backward", lambda x, dout: S.gelu_backward(x, dout) * np.nan)
    assert not passed and "NaN or infinite" in out, out


def test_learner_editing_its_inputs_in_place_does_not_spoil_the_check(capsys):
    def softmax_backward(att, datt):
        ds = S.softmax_backward(att, datt)
        att[...] = 0                               # scribbles on its input
        datt[...] = 0
        return ds
    passed, out = run(capsys, "softmax_backward", softmax_backward)
    assert passed, out


def test_something_not_callable_fails(capsys):
    passed, out = run(capsys, "gelu_backward", None)
    assert not passed and "expected a function, got NoneType" in out, out


def test_unknown_exercise_name_is_the_callers_error_and_lists_the_names():
    with pytest.raises(ValueError, match="unknown exercise name='gelu'; expected one of linear_backward, "):
        check("gelu", S.gelu_backward)


def test_a_flipped_sign_is_named(capsys):
    passed, out = run(capsys, "gelu_backward", lambda x, dout: -S.gelu_backward(x, dout))
    assert not passed and "hint for dx: it has the wrong sign" in out, out
