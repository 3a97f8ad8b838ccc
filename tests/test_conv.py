"""The convolutional layers: numerical gradients (float64), a loop convolution, batch-norm
statistics, dtypes, and parity with PyTorch's nn.Conv2d / nn.BatchNorm2d."""
import numpy as np
import pytest

from conftest import PARITY_TOL, rel_diff
from numpyvit.layers.activations import ReLU
from numpyvit.layers.conv import BatchNorm2d, Conv2d, GlobalAvgPool2d
from numpyvit.gradcheck import format_table, gradcheck, max_rel_error

LAYER_TOL = 1e-7
f64 = np.float64


def generic_bn(channels, seed=0, dtype=f64):
    """A BatchNorm2d away from its initial point: weight ~ 1, bias, running stats all random."""
    rng = np.random.default_rng(seed)
    bn = BatchNorm2d(channels, dtype=dtype)
    bn.params["weight"][...] = 1 + 0.3 * rng.standard_normal(channels)
    bn.params["bias"][...] = 0.3 * rng.standard_normal(channels)
    bn.buffers["running_mean"][...] = 0.5 * rng.standard_normal(channels)
    bn.buffers["running_var"][...] = rng.uniform(0.5, 2.0, channels)
    return bn


def conv_with_bias(*args, seed=0, **kwargs):
    conv = Conv2d(*args, rng=np.random.default_rng(seed), dtype=f64, **kwargs)
    if "bias" in conv.params:   # zero at init: move it to a generic point
        conv.params["bias"][...] = 0.3 * np.random.default_rng(seed + 1).standard_normal(conv.out_channels)
    return conv


def away_from_zero(rng, shape, gap=0.2):
    """Random values with |x| >= gap: no ReLU kink within reach of the numerical derivative."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (gap + np.abs(x))


def layer_cases():
    """(name, layer factory, input factory): each layer at a generic point, in float64."""
    normal = lambda shape: lambda rng: rng.standard_normal(shape)   # noqa: E731
    return [
        ("Conv2d-k3-s1-p0", lambda: conv_with_bias(3, 4, 3), normal((2, 3, 6, 5))),
        ("Conv2d-k3-s1-p1", lambda: conv_with_bias(3, 4, 3, padding=1), normal((2, 3, 5, 6))),
        ("Conv2d-k3-s2-p1", lambda: conv_with_bias(3, 4, 3, stride=2, padding=1), normal((2, 3, 7, 6))),
        ("Conv2d-k3-s2-p0", lambda: conv_with_bias(2, 3, 3, stride=2), normal((2, 2, 7, 8))),
        ("Conv2d-k1-s2-nobias", lambda: conv_with_bias(3, 4, 1, stride=2, bias=False), normal((2, 3, 5, 5))),
        ("BatchNorm2d-train", lambda: generic_bn(3), lambda rng: 2 + 3 * rng.standard_normal((3, 3, 4, 5))),
        ("BatchNorm2d-eval", lambda: generic_bn(3).eval(), normal((2, 3, 4, 5))),
        ("ReLU", lambda: ReLU(dtype=f64), lambda rng: away_from_zero(rng, (2, 3, 4, 5))),
        ("GlobalAvgPool2d", lambda: GlobalAvgPool2d(dtype=f64), normal((2, 3, 4, 5))),
    ]


@pytest.mark.parametrize("name,make,make_input", layer_cases(), ids=[c[0] for c in layer_cases()])
def test_layer_backward_matches_numerical_gradient(name, make, make_input, rng):
    layer = make()
    rows = gradcheck(layer, make_input(rng), max_checks=200)
    assert max_rel_error(rows) < LAYER_TOL, format_table(rows)


def test_gradcheck_catches_a_batchnorm_backward_that_ignores_the_batch_statistics(rng):
    class EvalBackwardBN(BatchNorm2d):
        def backward(self, dout):      # the eval formula, wrong in training mode
            self.used_batch_stats = False
            return super().backward(dout)

    bn = EvalBackwardBN(3, dtype=f64)
    rows = gradcheck(bn, rng.standard_normal((3, 3, 4, 4)), max_checks=100)
    assert rows[0].name == "input" and rows[0].max_rel_error > 1e-2


def direct_conv(x, w, b, stride, padding):
    """The definition, one output pixel at a time: slow, but obviously right."""
    B, C, H, W = x.shape
    F, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho, Wo = (H + 2 * padding - k) // stride + 1, (W + 2 * padding - k) // stride + 1
    y = np.zeros((B, F, Ho, Wo))
    for n in range(B):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * stride:i * stride + k, j * stride:j * stride + k]
                    y[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return y


@pytest.mark.parametrize("k,stride,padding", [(3, 1, 0), (3, 1, 1), (3, 2, 1), (1, 2, 0), (5, 3, 2)])
def test_conv_forward_equals_a_direct_convolution(k, stride, padding, rng):
    conv = conv_with_bias(3, 4, k, stride=stride, padding=padding)
    x = rng.standard_normal((2, 3, 9, 8))
    expected = direct_conv(x, conv.params["weight"], conv.params["bias"], stride, padding)
    np.testing.assert_allclose(conv.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_conv_init_is_he_normal():
    w = Conv2d(32, 64, 3, rng=np.random.default_rng(0)).params["weight"]
    assert w.shape == (64, 32, 3, 3)
    assert abs(w.std() / np.sqrt(2 / (32 * 9)) - 1) < 0.03 and abs(w.mean()) < 0.005


def test_batchnorm_running_stats_follow_pytorchs_update(rng):
    bn = BatchNorm2d(3, momentum=0.1, dtype=f64)
    mean, var = np.zeros(3), np.ones(3)
    for step in range(3):
        x = step + (1 + step) * rng.standard_normal((4, 3, 5, 5))
        bn.forward(x)
        n = 4 * 5 * 5
        mean = 0.9 * mean + 0.1 * x.mean(axis=(0, 2, 3))
        var = 0.9 * var + 0.1 * x.var(axis=(0, 2, 3)) * n / (n - 1)   # the unbiased variance
        np.testing.assert_allclose(bn.buffers["running_mean"], mean, rtol=1e-13)
        np.testing.assert_allclose(bn.buffers["running_var"], var, rtol=1e-13)


def test_batchnorm_training_normalises_with_the_batch_statistics(rng):
    y = BatchNorm2d(4, dtype=f64).forward(3 + 5 * rng.standard_normal((6, 4, 3, 3)))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)   # eps keeps it just below 1


def test_batchnorm_eval_uses_the_running_stats_and_leaves_them_alone(rng):
    bn = generic_bn(3).eval()
    before = {k: v.copy() for k, v in bn.buffers.items()}
    x = rng.standard_normal((2, 3, 4, 4))
    mean, var = before["running_mean"], before["running_var"]
    w, b = bn.params["weight"], bn.params["bias"]
    expected = ((x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * w[:, None, None]
                + b[:, None, None])
    np.testing.assert_allclose(bn.forward(x), expected, rtol=1e-13)
    for key, value in bn.buffers.items():
        assert np.array_equal(value, before[key]), key
    # one value per channel: fine in eval mode, an error in training mode (no variance)
    bn.forward(x[:1, :, :1, :1])
    with pytest.raises(ValueError, match="more than one value per channel"):
        bn.train().forward(x[:1, :, :1, :1])


def test_conv_rejects_what_it_does_not_support():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\), got \(1, 2, 5, 5\)"):
        Conv2d(3, 4, 3, rng=0).forward(np.zeros((1, 2, 5, 5), np.float32))
    with pytest.raises(ValueError, match="stride=0 must be an integer >= 1"):
        Conv2d(3, 4, 3, stride=0, rng=0)


def test_backward_before_forward_raises():
    for layer in (Conv2d(2, 3, 3, rng=0), BatchNorm2d(2), ReLU(), GlobalAvgPool2d()):
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(np.zeros((1, 2, 4, 4), np.float32))


@pytest.mark.parametrize("make", [lambda: Conv2d(3, 4, 3, stride=2, padding=1, rng=0), lambda: BatchNorm2d(3),
                                  lambda: BatchNorm2d(3).eval(), ReLU, GlobalAvgPool2d],
                         ids=["Conv2d", "BatchNorm2d-train", "BatchNorm2d-eval", "ReLU", "GlobalAvgPool2d"])
def test_float32_in_float32_out(make, rng):
    layer = make()
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == np.float32 and dx.dtype == np.float32 and dx.shape == x.shape
    saved = [v for v in vars(layer).values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    saved += list(layer.grads.values()) + list(layer.buffers.values())
    assert all(v.dtype == np.float32 for v in saved)


def test_grads_accumulate(rng):
    conv, bn = conv_with_bias(2, 3, 3, padding=1), generic_bn(3)
    x = rng.standard_normal((2, 2, 5, 5))
    g = rng.standard_normal((2, 3, 5, 5))
    for layer, inp in ((conv, x), (bn, g)):
        layer.forward(inp)
        layer.backward(g)
        once = {k: v.copy() for k, v in layer.grads.items()}
        layer.backward(g)
        for k, v in layer.grads.items():
            np.testing.assert_allclose(v, 2 * once[k], rtol=1e-12, err_msg=k)


# --- parity with PyTorch (skipped when torch is not installed) -------------------------------

def assert_matches_torch(layer, ref, x, rng):
    """Forward and backward of `layer` and of the torch module `ref` on the same x and output
    gradient: outputs and input gradients agree. Parameter gradients are left in both."""
    import torch
    y = layer.forward(x)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = ref(xt)
    yt.backward(torch.from_numpy(g))
    assert rel_diff(y, yt.detach().numpy()) < PARITY_TOL
    assert rel_diff(dx, xt.grad.numpy()) < PARITY_TOL


@pytest.mark.parametrize("k,stride,padding,bias", [(3, 1, 0, True), (3, 1, 1, False), (3, 2, 1, True),
                                                   (1, 2, 0, False)])
def test_conv_matches_pytorch_in_float64(k, stride, padding, bias, rng):
    torch = pytest.importorskip("torch")
    conv = conv_with_bias(3, 5, k, stride=stride, padding=padding, bias=bias)
    ref = torch.nn.Conv2d(3, 5, k, stride=stride, padding=padding, bias=bias).double()
    ref.load_state_dict({name: torch.from_numpy(v) for name, v in conv.state_dict().items()})
    assert_matches_torch(conv, ref, rng.standard_normal((2, 3, 9, 8)), rng)
    for name, p in ref.named_parameters():
        assert rel_diff(conv.grads[name], p.grad.numpy()) < PARITY_TOL, name


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm_matches_pytorch_in_float64(training, rng):
    torch = pytest.importorskip("torch")
    bn = generic_bn(4).train(training)
    ref = torch.nn.BatchNorm2d(4).double().train(training)
    # strict: the keys match; PyTorch tolerates the absent num_batches_tracked by itself
    ref.load_state_dict({name: torch.from_numpy(v.copy()) for name, v in bn.state_dict().items()})
    assert_matches_torch(bn, ref, 1 + 2 * rng.standard_normal((3, 4, 5, 5)), rng)
    assert rel_diff(bn.grads["weight"], ref.weight.grad.numpy()) < PARITY_TOL
    assert rel_diff(bn.grads["bias"], ref.bias.grad.numpy()) < PARITY_TOL
    for name in ("running_mean", "running_var"):
        assert rel_diff(bn.buffers[name], getattr(ref, name).numpy()) < PARITY_TOL, name
