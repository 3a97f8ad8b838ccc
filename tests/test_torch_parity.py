"""numpyvit against the same model in PyTorch (skipped when torch is not installed)."""
import numpy as np
import pytest

from numpyvit import SoftmaxCrossEntropy, VisionTransformer
from conftest import PARITY_TOL, rel_diff, tiny_config
from numpyvit.gradcheck import random_point

torch = pytest.importorskip("torch")
from torch_reference import torch_vit_from_numpyvit  # noqa: E402

def parity(model, ref, x, y, label_smoothing=0.1):
    """{what: rel_diff against PyTorch} for the logits, the loss, the input gradient and every
    parameter gradient of one forward and backward pass of both models, in float64."""
    loss_fn = SoftmaxCrossEntropy(label_smoothing=label_smoothing)
    logits = model.forward(x)
    loss = loss_fn.forward(logits, y)
    model.zero_grad()
    dx = model.backward(loss_fn.backward())

    xt = torch.from_numpy(x).requires_grad_(True)
    logits_t = ref(xt)
    loss_t = torch.nn.functional.cross_entropy(logits_t, torch.from_numpy(y), label_smoothing=label_smoothing)
    loss_t.backward()

    torch_grads = {name: p.grad.numpy() for name, p in ref.named_parameters()}
    names = [name for name, _, _ in model.named_parameters()]
    assert sorted(names) == sorted(torch_grads)
    diffs = {"logits": rel_diff(logits, logits_t.detach().numpy()),
             "loss": abs(loss - loss_t.item()) / abs(loss_t.item()),
             "input": rel_diff(dx, xt.grad.numpy())}
    diffs.update((name, rel_diff(grad, torch_grads[name])) for name, _, grad in model.named_parameters())
    return diffs


def tiny_pair(pool="cls", pos_embed="learned", act="gelu_tanh"):
    model = random_point(VisionTransformer(tiny_config(pool=pool, pos_embed=pos_embed, act=act), dtype=np.float64))
    return model, torch_vit_from_numpyvit(model, dtype=torch.float64)


@pytest.mark.parametrize("pool", ["cls", "mean"])
@pytest.mark.parametrize("pos_embed", ["learned", "sincos"])
def test_logits_and_every_gradient_match_pytorch_in_float64(pool, pos_embed, rng):
    model, ref = tiny_pair(pool, pos_embed)
    diffs = parity(model, ref, rng.standard_normal((4, 1, 8, 8)), np.array([0, 1, 2, 1]))
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] < PARITY_TOL, f"{worst}: {diffs[worst]:.1e}"


def test_erf_gelu_model_matches_pytorch_in_float64(rng):
    model, ref = tiny_pair(act="gelu")
    diffs = parity(model, ref, rng.standard_normal((4, 1, 8, 8)), np.array([0, 1, 2, 1]))
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] < PARITY_TOL, f"{worst}: {diffs[worst]:.1e}"


def test_parity_catches_a_planted_backward_bug(rng, monkeypatch):
    # the softmax's backward off by one part in 10^7: the forward still agrees, the gradients
    # of everything at or below the first attention do not
    import numpyvit.layers.attention as attention
    real = attention.softmax_backward
    monkeypatch.setattr(attention, "softmax_backward", lambda att, datt: real(att, datt) * (1 + 1e-7))
    model, ref = tiny_pair()
    diffs = parity(model, ref, rng.standard_normal((4, 1, 8, 8)), np.array([0, 1, 2, 1]))
    failing = {name for name, d in diffs.items() if d >= PARITY_TOL}
    assert diffs["logits"] < PARITY_TOL and diffs["loss"] < PARITY_TOL
    assert {"input", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight"} <= failing
    assert "head.weight" not in failing             # above every attention: untouched


def test_default_model_matches_pytorch_in_float32(rng):
    from numpyvit import ViTConfig
    model = VisionTransformer(ViTConfig(), seed=0)
    ref = torch_vit_from_numpyvit(model)
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.forward(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("act", ["gelu", "gelu_tanh"])
def test_both_gelu_forms_match_torch_in_value_and_derivative(act, rng):
    from numpyvit import GELU, GELUErf
    import torch.nn.functional as F
    layer = (GELUErf if act == "gelu" else GELU)(dtype=np.float64)
    approximate = "none" if act == "gelu" else "tanh"
    x = np.concatenate([4 * rng.standard_normal(2000), np.linspace(-8, 8, 1601)])
    dout = rng.standard_normal(x.shape)
    y, dx = layer.forward(x), layer.backward(dout)

    xt = torch.from_numpy(x).requires_grad_(True)
    yt = F.gelu(xt, approximate=approximate)
    yt.backward(torch.from_numpy(dout))
    # atol: a few ulps of the inputs' scale (|x| up to ~16); in the left tail both sides are
    # tiny differences of O(1) numbers, computed in another order by each library
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-13, atol=3e-14)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-13, atol=3e-14)


def test_the_gelu_forms_differ_by_more_than_the_parity_tolerance(rng):
    # the check above must be able to fail: the tanh layer against torch's erf GELU does
    from numpyvit import GELU
    import torch.nn.functional as F
    x = np.linspace(-4, 4, 801)
    gap = np.abs(GELU(dtype=np.float64).forward(x) - F.gelu(torch.from_numpy(x)).numpy()).max()
    assert gap > 1e-4
