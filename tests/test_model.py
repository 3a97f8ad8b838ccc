"""The whole VisionTransformer: gradients, names and shapes, config checks, dtypes, state."""

import numpy as np
import pytest

from numpyvit import ConfigError, ResNet, SoftmaxCrossEntropy, ViTConfig, VisionTransformer, format_table, gradcheck, max_rel_error
from conftest import tiny_config
from numpyvit.gradcheck import random_point

MODEL_TOL = 1e-6


@pytest.mark.parametrize("pool", ["cls", "mean"])
@pytest.mark.parametrize("pos_embed", ["learned", "sincos"])
def test_vit_backward_matches_numerical_gradient(pool, pos_embed, rng):
    model = random_point(VisionTransformer(tiny_config(pool=pool, pos_embed=pos_embed), dtype=np.float64))
    rows = gradcheck(model, rng.standard_normal((2, 1, 8, 8)), max_checks=60)
    assert len(rows) == 1 + len(list(model.named_parameters()))
    assert max_rel_error(rows) < MODEL_TOL, format_table(rows)


def test_vit_with_loss_backward_matches_numerical_gradient(rng):
    class ModelWithLoss:                       # images -> scalar loss, one backward for both
        def __init__(self, model, labels):
            self.model, self.loss, self.labels = model, SoftmaxCrossEntropy(0.1), labels

        def forward(self, x):
            return self.loss.forward(self.model.forward(x), self.labels)

        def backward(self, dloss):
            return self.model.backward(self.loss.backward(dloss))

        def named_parameters(self):
            return self.model.named_parameters()

        def zero_grad(self):
            self.model.zero_grad()

    model = random_point(VisionTransformer(tiny_config(), dtype=np.float64))
    rows = gradcheck(ModelWithLoss(model, np.array([0, 2, 1])), rng.standard_normal((3, 1, 8, 8)))
    assert max_rel_error(rows) < MODEL_TOL, format_table(rows)


def timm_names_and_shapes(D=64, depth=6, N=17, M=128, K=10, C=1, p=7):
    names = [("cls_token", (1, 1, D)), ("pos_embed", (1, N, D)),
             ("patch_embed.proj.weight", (D, C, p, p)), ("patch_embed.proj.bias", (D,))]
    for i in range(depth):
        b = f"blocks.{i}."
        names += [(b + "norm1.weight", (D,)), (b + "norm1.bias", (D,)),
                  (b + "attn.qkv.weight", (3 * D, D)), (b + "attn.qkv.bias", (3 * D,)),
                  (b + "attn.proj.weight", (D, D)), (b + "attn.proj.bias", (D,)),
                  (b + "norm2.weight", (D,)), (b + "norm2.bias", (D,)),
                  (b + "mlp.fc1.weight", (M, D)), (b + "mlp.fc1.bias", (M,)),
                  (b + "mlp.fc2.weight", (D, M)), (b + "mlp.fc2.bias", (D,))]
    return names + [("norm.weight", (D,)), ("norm.bias", (D,)), ("head.weight", (K, D)), ("head.bias", (K,))]


def test_parameter_names_and_shapes_are_timms():
    model = VisionTransformer(ViTConfig())
    ours = [(name, value.shape) for name, value, _ in model.named_parameters()]
    assert ours == timm_names_and_shapes()
    assert [(k, v.shape) for k, v in model.state_dict().items()] == ours
    assert model.num_parameters() == 205_962          # the figure in ../shared/MEASURED.md


def test_same_seed_gives_bit_identical_weights_and_another_seed_does_not():
    a, b, c = (VisionTransformer(ViTConfig(), seed=s) for s in (0, 0, 1))
    for (name, va, _), (_, vb, _), (_, vc, _) in zip(a.named_parameters(), b.named_parameters(),
                                                     c.named_parameters()):
        assert np.array_equal(va, vb), name
    assert not np.array_equal(a.params["pos_embed"], c.params["pos_embed"])


def test_initialisation_follows_timm():
    model = VisionTransformer(ViTConfig(dim=128, mlp_dim=256), seed=0)
    w = model.blocks[0].mlp.fc1.params["weight"]
    assert abs(w.std() - 0.02) < 0.002 * 2 and np.abs(w).max() <= 0.04   # truncated at 2 std
    assert np.all(model.blocks[0].attn.qkv.params["bias"] == 0)
    assert np.all(model.norm.params["weight"] == 1) and np.all(model.norm.params["bias"] == 0)
    assert np.abs(model.params["cls_token"]).max() < 1e-5


def test_two_backward_calls_double_the_grads_and_zero_grad_clears_them(rng):
    model = VisionTransformer(tiny_config(), dtype=np.float64)
    dlogits = rng.standard_normal((2, 3))
    model.forward(rng.standard_normal((2, 1, 8, 8)))
    model.backward(dlogits)
    once = {name: g.copy() for name, _, g in model.named_parameters()}
    model.backward(dlogits)
    for name, _, g in model.named_parameters():
        np.testing.assert_allclose(g, 2 * once[name], rtol=1e-12, err_msg=name)
    model.zero_grad()
    assert all(not g.any() for _, _, g in model.named_parameters())


def test_state_dict_round_trips_bit_exactly(rng):
    a, b = VisionTransformer(tiny_config(), seed=0), VisionTransformer(tiny_config(), seed=1)
    b.load_state_dict(a.state_dict())
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    assert np.array_equal(a.forward(x), b.forward(x))
    for (name, va, _), (_, vb, _) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(va, vb), name


def test_load_state_dict_is_strict():
    model = VisionTransformer(tiny_config())
    state = model.state_dict()
    missing = {k: v for k, v in state.items() if k != "head.bias"}
    with pytest.raises(KeyError, match="head.bias"):
        model.load_state_dict(missing)
    with pytest.raises(KeyError, match="extra"):
        model.load_state_dict({**state, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"head.weight.*\(4, 8\).*\(3, 8\)"):
        model.load_state_dict({**state, "head.weight": np.zeros((4, 8))})


@pytest.mark.parametrize("field,value,message", [
    ("patch_size", 5, "image_size=28 is not divisible by patch_size=5"),
    ("heads", 5, "dim=64 is not divisible by heads=5"),
    ("depth", 0, "depth=0 must be a positive integer"),
    ("dim", 64.0, "dim=64.0 must be a positive integer"),
    ("pool", "max", "pool='max' must be 'cls' or 'mean'"),
    ("pos_embed", "rope", "pos_embed='rope' must be 'learned' or 'sincos'"),
    ("norm_eps", 0.0, "norm_eps=0.0 must be positive"),
    ("act", "relu", "act='relu' must be one of 'gelu_tanh', 'gelu'"),
])
def test_config_validation_names_field_value_and_rule(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ViTConfig(**{field: value})


@pytest.mark.parametrize("make", [lambda: VisionTransformer(ViTConfig()),
                                  lambda: ResNet()], ids=["vit", "resnet"])
def test_forward_rejects_wrong_shapes_and_integer_images(make):
    model = make()
    with pytest.raises(ValueError, match=r"images.shape=\(2, 28, 28\), expected shape \(B, 1, 28, 28\)"):
        model.forward(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"images.shape=\(2, 3, 28, 28\)"):
        model.forward(np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"images.shape=\(2, 1, 32, 32\)"):
        model.forward(np.zeros((2, 1, 32, 32), np.float32))
    with pytest.raises(ValueError, match="normalise"):
        model.forward(np.zeros((2, 1, 28, 28), np.uint8))
    with pytest.raises(TypeError, match="NumPy array"):
        model.forward([[0.0]])


def test_float32_model_keeps_float32_everywhere(rng):
    model = VisionTransformer(ViTConfig(), seed=0, dtype=np.float32)
    loss_fn = SoftmaxCrossEntropy(0.1)
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    logits = model.forward(x)
    loss_fn.forward(logits, np.array([1, 2, 3, 4]))
    dx = model.backward(loss_fn.backward())
    assert logits.dtype == np.float32 and dx.dtype == np.float32
    for name, value, grad in model.named_parameters():
        assert value.dtype == np.float32 and grad.dtype == np.float32, name
    # every saved activation is float32 too: no silent upcast inside a layer
    for prefix, module in model.modules():
        for attr, value in vars(module).items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                assert value.dtype == np.float32, f"{prefix}.{attr} is {value.dtype}"


def test_a_stored_config_with_dropout_zero_still_loads():
    # checkpoints and committed run folders saved before dropout was removed hold "dropout": 0.0
    stored = {**tiny_config().to_dict(), "dropout": 0.0}
    assert ViTConfig.from_dict(stored) == tiny_config()
    assert "dropout" not in ViTConfig().to_dict()


def test_a_stored_config_without_act_gets_the_tanh_gelu_it_was_trained_with():
    stored = {k: v for k, v in tiny_config().to_dict().items() if k != "act"}
    assert ViTConfig.from_dict(stored).act == "gelu_tanh"
    model = VisionTransformer(ViTConfig.from_dict(stored))
    assert type(model.blocks[0].mlp.act).__name__ == "GELU"


def test_act_gelu_puts_the_erf_form_in_every_block():
    model = VisionTransformer(tiny_config(act="gelu"), dtype=np.float64)
    assert {type(b.mlp.act).__name__ for b in model.blocks} == {"GELUErf"}


def test_a_stored_config_with_nonzero_dropout_is_rejected():
    with pytest.raises(ConfigError, match=r"dropout=0\.1.*only a stored dropout of 0\.0 can be loaded"):
        ViTConfig.from_dict({**tiny_config().to_dict(), "dropout": 0.1})
    with pytest.raises(ConfigError, match="unknown ViTConfig fields"):      # the usual check still runs
        ViTConfig.from_dict({**tiny_config().to_dict(), "dropout": 0.0, "drop_path": 0.0})


def test_train_and_eval_mode_give_the_same_vit_output(rng):
    # no dropout anywhere in the ViT: the mode changes nothing (the ResNet's BatchNorm does)
    model = VisionTransformer(tiny_config(), dtype=np.float64)
    x = rng.standard_normal((2, 1, 8, 8))
    assert np.array_equal(model.eval().forward(x), model.train().forward(x))


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_the_head_reads_the_class_token_or_only_the_patch_tokens(pool, rng, monkeypatch):
    model = VisionTransformer(tiny_config(pool=pool), dtype=np.float64)
    x = rng.standard_normal((2, 1, 8, 8))
    logits = model.forward(x)
    # move the final class token by a lot: only a 'cls' head may notice
    real_forward = model.norm.forward
    monkeypatch.setattr(model.norm, "forward", lambda t: real_forward(t) + np.eye(5)[None, :, :1] * 100)
    moved = model.forward(x)
    assert np.array_equal(moved, logits) == (pool == "mean")
    # backward: the gradient reaching the final tokens is the head's, on token 0 ('cls') or
    # spread evenly over the 4 patch tokens ('mean')
    seen = {}
    real_backward = model.norm.backward

    def recording_backward(dtokens):
        seen["dtokens"] = dtokens.copy()
        return real_backward(dtokens)

    monkeypatch.setattr(model.norm, "backward", recording_backward)
    dlogits = rng.standard_normal((2, 3))
    model.backward(dlogits)
    dtokens, dpooled = seen["dtokens"], dlogits @ model.head.params["weight"]   # (B, N, D), (B, D)
    if pool == "cls":
        np.testing.assert_allclose(dtokens[:, 0], dpooled)
        assert not dtokens[:, 1:].any()
    else:
        assert not dtokens[:, 0].any()
        np.testing.assert_allclose(dtokens[:, 1:], np.repeat(dpooled[:, None] / 4, 4, axis=1))


def _python_blocks(path):
    """Every ```python block of a Markdown file, in order."""
    import re
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), flags=re.S | re.M)


def test_readme_python_examples_run_as_written():
    # every ```python block of the README runs verbatim, in order, in one namespace, except the
    # training loop, which trains for minutes on MNIST (the training tests exercise it) and is
    # only compiled; each example the README promises must be there
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    blocks = _python_blocks(root / "README.md")
    loops = [b for b in blocks if "load_mnist()" in b]
    assert len(loops) == 1, "the README's training loop is missing"
    compile(loops[0], "README.md", "exec")
    examples = [b for b in blocks if b is not loops[0]]
    assert any("model.backward(" in b for b in examples), "the README's model example is missing"
    assert any("gradcheck(" in b for b in examples), "the README's gradcheck example is missing"
    namespace = {}
    for block in examples:
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["logits"].shape == (8, 10)
    # docs/performance.md's DataParallel example continues the loop: run it on synthetic stand-ins
    parallel = [b for b in _python_blocks(root / "docs" / "performance.md") if "DataParallel(model" in b]
    assert len(parallel) == 1, "docs/performance.md's DataParallel example is missing"
    from numpyvit import AdamW, SoftmaxCrossEntropy, ViTConfig, VisionTransformer, normalize, synthetic_digits
    x_train, y_train = synthetic_digits(128, seed=0)
    model = VisionTransformer(ViTConfig(), seed=0)
    namespace = {"model": model, "opt": AdamW(model), "loss_fn": SoftmaxCrossEntropy(),
                 "normalize": normalize, "x_train": x_train, "y_train": y_train}
    before = model.params["cls_token"].copy()
    exec(compile(parallel[0], "docs/performance.md", "exec"), namespace)
    assert np.isfinite(namespace["loss"]) and not np.array_equal(model.params["cls_token"], before)
