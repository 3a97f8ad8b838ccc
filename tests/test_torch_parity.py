"""numpyvit against the same model in PyTorch (skipped when torch is not installed)."""
import numpy as np
import pytest

from numpyvit import SoftmaxCrossEntropy, VisionTransformer
from conftest import PARITY_TOL, randomize, rel_diff, tiny_config

torch = pytest.importorskip("torch")
from benchmarks.torch_vit import torch_vit_from_numpyvit  # noqa: E402

@pytest.mark.parametrize("pool", ["cls", "mean"])
@pytest.mark.parametrize("pos_embed", ["learned", "sincos"])
def test_logits_and_every_gradient_match_pytorch_in_float64(pool, pos_embed, rng):
    model = randomize(VisionTransformer(tiny_config(pool=pool, pos_embed=pos_embed), dtype=np.float64))
    ref = torch_vit_from_numpyvit(model, dtype=torch.float64)
    x = rng.standard_normal((4, 1, 8, 8))
    y = np.array([0, 1, 2, 1])

    loss_fn = SoftmaxCrossEntropy(label_smoothing=0.1)
    logits = model.forward(x)
    loss = loss_fn.forward(logits, y)
    model.zero_grad()
    dx = model.backward(loss_fn.backward())

    xt = torch.from_numpy(x).requires_grad_(True)
    logits_t = ref(xt)
    loss_t = torch.nn.functional.cross_entropy(logits_t, torch.from_numpy(y), label_smoothing=0.1)
    loss_t.backward()

    assert rel_diff(logits, logits_t.detach().numpy()) < PARITY_TOL
    assert abs(loss - loss_t.item()) < PARITY_TOL * abs(loss)
    assert rel_diff(dx, xt.grad.numpy()) < PARITY_TOL
    torch_grads = {name: p.grad.numpy() for name, p in ref.named_parameters()}
    names = [name for name, _, _ in model.named_parameters()]
    assert sorted(names) == sorted(torch_grads)
    for name, _, grad in model.named_parameters():
        assert rel_diff(grad, torch_grads[name]) < PARITY_TOL, name


def test_default_model_matches_pytorch_in_float32(rng):
    from numpyvit import ViTConfig
    model = VisionTransformer(ViTConfig(), seed=0)
    ref = torch_vit_from_numpyvit(model)
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.forward(x), expected, rtol=1e-4, atol=1e-5)
