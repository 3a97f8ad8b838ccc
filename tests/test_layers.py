"""Every layer's hand-written backward pass against numerical derivatives (float64)."""
import numpy as np
import pytest

import math

from numpyvit import (GELU, Attention, Block, Dropout, GELUErf, LayerNorm, Linear, Mlp, PatchEmbed, Patchify,
                      SoftmaxCrossEntropy, erf, format_table, gradcheck, max_rel_error)
from numpyvit.gradcheck import random_point

LAYER_TOL = 1e-7


def layer_cases():
    """(name, layer factory, input shape): each layer at a generic random point."""
    f64 = np.float64
    return [
        ("Linear", lambda: Linear(5, 4, rng=0, dtype=f64), (2, 3, 5)),
        ("LayerNorm", lambda: LayerNorm(6, dtype=f64), (2, 3, 6)),
        ("GELU", lambda: GELU(dtype=f64), (2, 3, 6)),
        ("GELUErf", lambda: GELUErf(dtype=f64), (2, 3, 6)),
        ("Patchify", lambda: Patchify(2, dtype=f64), (2, 3, 4, 6)),
        ("PatchEmbed", lambda: PatchEmbed(8, 4, 2, 6, rng=0, dtype=f64), (2, 2, 8, 8)),
        ("Attention", lambda: Attention(8, 2, rng=0, dtype=f64), (2, 5, 8)),
        ("Mlp", lambda: Mlp(6, 10, rng=0, dtype=f64), (2, 3, 6)),
        ("Block", lambda: Block(8, 2, 16, rng=0, dtype=f64), (2, 5, 8)),
        ("Block-gelu", lambda: Block(8, 2, 16, act="gelu", rng=0, dtype=f64), (2, 5, 8)),
    ]


@pytest.mark.parametrize("name,make,shape", layer_cases(), ids=[c[0] for c in layer_cases()])
def test_layer_backward_matches_numerical_gradient(name, make, shape, rng):
    layer = random_point(make())
    rows = gradcheck(layer, rng.standard_normal(shape), max_checks=200)
    assert max_rel_error(rows) < LAYER_TOL, format_table(rows)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_loss_backward_matches_numerical_gradient(smoothing, rng):
    logits = rng.standard_normal((6, 5))
    labels = np.array([0, 1, 4, 2, 2, 3])
    rows = gradcheck(SoftmaxCrossEntropy(smoothing), logits, args=(labels,))
    assert max_rel_error(rows) < LAYER_TOL, format_table(rows)


def test_attention_key_bias_gradient_is_zero_and_judged_by_the_floor(rng):
    # softmax is unchanged by adding one vector to every key, so the key part of qkv's bias
    # has an exactly zero gradient: the check must count those entries as zeros, and pass
    attn = random_point(Attention(8, 2, rng=0, dtype=np.float64))
    rows = gradcheck(attn, rng.standard_normal((2, 5, 8)), max_checks=200)
    bias = next(r for r in rows if r.name == "qkv.bias")
    assert bias.zeros >= 8
    assert np.abs(attn.qkv.grads["bias"][8:16]).max() < 1e-12       # (3, h, Dh): keys are 8:16


def test_gradcheck_catches_a_wrong_backward(rng):
    class BrokenGELU(GELU):
        def backward(self, dout):
            return 1.01 * super().backward(dout)   # a 1% error in the derivative

    rows = gradcheck(BrokenGELU(dtype=np.float64), rng.standard_normal((3, 4)))
    assert max_rel_error(rows) > 1e-3


def test_gradcheck_catches_a_wrong_parameter_gradient(rng):
    class BrokenLinear(Linear):
        def backward(self, dout):
            dx = super().backward(dout)
            self.grads["bias"] *= 0.5               # half the bias gradient
            return dx

    rows = gradcheck(random_point(BrokenLinear(4, 3, rng=0, dtype=np.float64)), rng.standard_normal((2, 4)))
    bias = next(r for r in rows if r.name == "bias")
    assert bias.max_rel_error > 0.1 and max_rel_error(rows) > 0.1


def test_gradcheck_floor_still_catches_an_error_on_a_zero_gradient(rng):
    class ShiftedKeyBias(Attention):
        def backward(self, dout):
            dx = super().backward(dout)
            self.qkv.grads["bias"][8:16] += 1e-7     # the true key-bias gradient is 0
            return dx

    rows = gradcheck(random_point(ShiftedKeyBias(8, 2, rng=0, dtype=np.float64)), rng.standard_normal((2, 5, 8)),
                     max_checks=200)
    bias = next(r for r in rows if r.name == "qkv.bias")
    assert bias.max_rel_error > 0.5 and bias.zeros == 0


def test_patchify_orders_patches_row_major_and_flattens_c_p_p():
    x = np.arange(2 * 4 * 6, dtype=np.float64).reshape(1, 2, 4, 6)   # (B, C, H, W)
    patches = Patchify(2, dtype=np.float64).forward(x)                 # (1, 6, 8)
    assert patches.shape == (1, 6, 8)
    # patch 4 sits at grid row 1, column 1: pixels rows 2-3, columns 2-3 of both channels
    np.testing.assert_array_equal(patches[0, 4], x[0, :, 2:4, 2:4].reshape(-1))


def test_patchify_backward_is_its_exact_inverse(rng):
    layer = Patchify(2, dtype=np.float64)
    x = rng.standard_normal((2, 3, 4, 6))
    np.testing.assert_array_equal(layer.backward(layer.forward(x)), x)


def test_patch_embed_equals_a_strided_convolution(rng):
    pe = PatchEmbed(8, 4, 2, 3, rng=rng, dtype=np.float64)
    x = rng.standard_normal((1, 2, 8, 8))
    w, b = pe.proj.params["weight"], pe.proj.params["bias"]     # (D, C, p, p), (D,)
    expected = np.array([[np.sum(w[d] * x[0, :, 4 * i:4 * i + 4, 4 * j:4 * j + 4]) + b[d]
                          for d in range(3)] for i in range(2) for j in range(2)])
    np.testing.assert_allclose(pe.forward(x)[0], expected, rtol=1e-12)


def test_gelu_is_the_tanh_approximation():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    expected = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(GELU(dtype=np.float64).forward(x), expected, rtol=1e-15)


def test_gelu_backward_matches_numerical_gradient_far_into_both_tails():
    # the inputs above are ~N(0, 1); here both forms' derivatives are checked where they
    # differ most, and where GELUErf's erf switches from its series to its continued fraction
    # (|x| = 2.5). One point at a time: the loss is then as small as the tail's output, so the
    # differences' rounding noise stays far below the tail's tiny derivative. Down to -4.5
    # only: below it GELUErf's 1 + erf(x / sqrt 2) (PyTorch's formula) cancels, and its
    # rounding in the forward pass (~1e-16 absolute) swamps the numerical derivative.
    for x in np.concatenate([np.linspace(-4.5, 6, 43), [-2.5, 2.5, 2.4999, -2.5001]]):
        for layer in (GELU(dtype=np.float64), GELUErf(dtype=np.float64)):
            rows = gradcheck(layer, np.array([x]))
            assert max_rel_error(rows) < LAYER_TOL, (type(layer).__name__, x, format_table(rows))


def test_erf_matches_math_erf_to_double_precision():
    x = np.linspace(-10, 10, 400_001)                                 # step 5e-5
    x = np.concatenate([x, [2.5, -2.5, np.nextafter(2.5, 0), 1e-300, 0.0, 40.0, -np.inf, np.inf]])
    expected = np.array([math.erf(v) for v in x])
    assert np.abs(erf(x) - expected).max() < 1e-14


def test_erf_check_catches_a_truncated_series(monkeypatch):
    import numpyvit.layers.activations as activations
    monkeypatch.setattr(activations, "_SERIES_BANDS", ((1.0, 20), (2.5, 25)))   # too few terms near 2.5
    x = np.linspace(-10, 10, 40_001)
    expected = np.array([math.erf(v) for v in x])
    assert np.abs(erf(x) - expected).max() > 1e-14


def test_erf_keeps_the_dtype_and_is_odd():
    x32 = np.linspace(-3, 3, 13, dtype=np.float32)
    assert erf(x32).dtype == np.float32
    np.testing.assert_array_equal(erf(-x32), -erf(x32))


def test_gelu_erf_is_x_times_the_normal_cdf():
    x = np.array([-5.0, -3.0, -1.0, 0.0, 0.5, 2.0, 4.0])
    expected = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    # atol: 1 + erf(x / sqrt 2) cancels for x < 0, in this reference as in PyTorch's formula
    np.testing.assert_allclose(GELUErf(dtype=np.float64).forward(x), expected, rtol=1e-14, atol=1e-15)
    # and it differs from the tanh form by up to ~5e-4 (near |x| = 2)
    gap = np.abs(GELU(dtype=np.float64).forward(x) - expected).max()
    assert 1e-4 < gap < 1e-3


def test_mlp_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match=r"Mlp act='relu' is not one of \['gelu', 'gelu_tanh'\]"):
        Mlp(4, 8, act="relu", rng=0)


def test_layernorm_output_has_zero_mean_unit_variance(rng):
    y = LayerNorm(16, dtype=np.float64).forward(3 + 5 * rng.standard_normal((4, 16)))
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-5)


def test_attention_rows_sum_to_one_and_are_kept(rng):
    attn = Attention(8, 2, rng=0, dtype=np.float64)
    attn.forward(rng.standard_normal((3, 5, 8)))
    assert attn.att.shape == (3, 2, 5, 5)
    np.testing.assert_allclose(attn.att.sum(-1), 1, rtol=1e-12)


def test_dropout_is_inverted_seeded_and_identity_in_eval(rng):
    x = np.ones((200, 50))
    a, b = Dropout(0.25, rng=3, dtype=np.float64), Dropout(0.25, rng=np.random.default_rng(3), dtype=np.float64)
    ya = a.forward(x)
    np.testing.assert_array_equal(ya, b.forward(x))                 # same seed, same mask
    assert set(np.unique(ya)) == {0.0, 1 / 0.75}                     # survivors scaled up
    assert abs(ya.mean() - 1) < 0.02                                 # expectation preserved
    np.testing.assert_array_equal(a.backward(x), ya)                 # gradient uses the same mask
    np.testing.assert_array_equal(a.eval().forward(x), x)


def test_backward_before_forward_raises():
    for layer in (Linear(3, 2, rng=0), LayerNorm(3), GELU(), Attention(4, 2, rng=0), Patchify(2)):
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(np.zeros((1, 2, 4)))
    with pytest.raises(RuntimeError, match="before forward"):
        SoftmaxCrossEntropy().backward()


def test_loss_rejects_bad_labels():
    loss = SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        loss.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="shape"):
        loss.forward(np.zeros((2, 3)), np.array([0, 1, 2]))


def reference_softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_matches_the_row_max_formula(dtype, rng):
    from numpyvit.layers.attention import softmax
    s = (4 * rng.standard_normal((3, 2, 5, 5))).astype(dtype)
    out = softmax(s.copy())
    assert out.dtype == dtype
    np.testing.assert_allclose(out, reference_softmax(s.astype(np.float64)), rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("offset", [-500.0, 500.0])
def test_softmax_shifts_by_the_row_max_when_exp_would_underflow_or_overflow(offset, rng):
    from numpyvit.layers.attention import softmax
    s = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    s[0, 0, 2] += offset         # exp of this row alone would give 0/0 or inf/inf
    out = softmax(s.copy())
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, reference_softmax(s.astype(np.float64)), rtol=1e-5)


def test_softmax_accepts_a_single_matrix_and_a_single_row(rng):
    from numpyvit.layers.attention import softmax
    s = rng.standard_normal((4, 4))
    np.testing.assert_allclose(softmax(s), reference_softmax(s), rtol=1e-12)
    np.testing.assert_allclose(softmax(s[0]), reference_softmax(s[0]), rtol=1e-12)


# --- soft targets (CutMix's mixed labels) --------------------------------------------------------

def soft_targets(rng, B, K):
    """Random target distributions (B, K): non-negative rows summing to 1."""
    return rng.dirichlet(np.ones(K), size=B)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_loss_backward_matches_numerical_gradient_with_soft_targets(smoothing, rng):
    logits = rng.standard_normal((6, 5))
    rows = gradcheck(SoftmaxCrossEntropy(smoothing), logits, args=(soft_targets(rng, 6, 5),))
    assert max_rel_error(rows) < LAYER_TOL, format_table(rows)


def test_gradcheck_catches_a_loss_that_hardens_soft_targets_in_backward(rng):
    class HardBackward(SoftmaxCrossEntropy):
        def backward(self, dloss=1.0):            # the bug: backward uses argmax(q), forward q
            B, K = self.targets.shape
            return (self.probs - np.eye(K)[self.targets.argmax(1)]) * dloss / B

    rows = gradcheck(HardBackward(), rng.standard_normal((6, 5)), args=(soft_targets(rng, 6, 5),))
    assert max_rel_error(rows) > 1e-2


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_hot_float_targets_give_exactly_the_loss_and_gradient_of_integer_labels(smoothing, dtype, rng):
    logits = rng.standard_normal((7, 4)).astype(dtype)
    labels = np.array([0, 3, 1, 1, 2, 0, 3])
    hard, soft = SoftmaxCrossEntropy(smoothing), SoftmaxCrossEntropy(smoothing)
    assert hard.forward(logits, labels) == soft.forward(logits, np.eye(4, dtype=dtype)[labels])
    d_hard, d_soft = hard.backward(), soft.backward()
    assert d_soft.dtype == d_hard.dtype == dtype
    np.testing.assert_array_equal(d_soft, d_hard)


def test_soft_targets_change_the_loss():
    # the check above must be able to fail: a target that is not one-hot gives another loss
    logits = np.array([[2.0, 0.0, -1.0]])
    one_hot = SoftmaxCrossEntropy().forward(logits, np.array([[1.0, 0.0, 0.0]]))
    mixed = SoftmaxCrossEntropy().forward(logits, np.array([[0.5, 0.5, 0.0]]))
    assert mixed > one_hot


@pytest.mark.parametrize("targets, message", [
    (np.array([[1.5, -0.5, 0.0], [0.0, 1.0, 0.0]]), "must be >= 0"),               # rows sum to 1
    (np.array([[0.5, 0.4, 0.0], [0.0, 1.0, 0.0]]), "row sums from 0.9 to 1"),
    (np.full((2, 4), 0.25), r"float targets of shape \(2, 3\)"),                     # K + 1 columns
    (np.full((3, 3), 1 / 3), r"float targets of shape \(2, 3\)"),                    # B + 1 rows
    (np.array([[1, 0, 0], [0, 1, 0]]), r"integers of shape \(2,\)"),                 # int one-hot
])
def test_loss_rejects_invalid_target_distributions(targets, message):
    with pytest.raises(ValueError, match=message):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), targets)


class FixedMaskDropout(Dropout):
    """Dropout whose every forward draws the same mask: the function gradcheck differentiates
    must not change between its evaluations."""

    def forward(self, x):
        self.rng = np.random.default_rng(3)
        return super().forward(x)


def test_dropout_backward_matches_numerical_gradient(rng):
    layer = FixedMaskDropout(0.3, rng=3, dtype=np.float64)
    rows = gradcheck(layer, rng.standard_normal((4, 6)))
    assert layer.mask is not None and (layer.mask == 0).any()       # some entries were dropped
    assert max_rel_error(rows) < LAYER_TOL, format_table(rows)


def test_dropout_needs_a_generator():
    with pytest.raises(TypeError, match=r"^Dropout got rng=None: pass rng=<int seed or np.random.Generator>"):
        Dropout(0.1)
