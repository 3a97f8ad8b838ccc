"""The whole ResNet: gradients, torchvision's names, state, config checks, input checks, and
that it can learn (overfit a small synthetic batch)."""
import contextlib
import json

import numpy as np
import pytest

from numpyvit.layers.activations import ReLU
from numpyvit.layers.conv import BatchNorm2d
from numpyvit.data.prepare import normalize
from numpyvit.data.synthetic import synthetic_digits
from numpyvit.gradcheck import format_table, gradcheck, max_rel_error
from numpyvit.layers.loss import SoftmaxCrossEntropy
from numpyvit.models.resnet import BasicBlock, ResNet, ResNetConfig
from test_conv import LAYER_TOL, PARITY_TOL, rel_diff

MODEL_TOL = 1e-6


def tiny_resnet_config(**overrides):
    """8x8 images, two stages of one block (4 and 8 channels), 3 classes."""
    fields = dict(image_size=8, in_channels=1, num_classes=3, widths=(4, 8), blocks_per_stage=(1, 1))
    fields.update(overrides)
    return ResNetConfig(**fields)


def generic_point(model, seed=0):
    """Move the zero/one-initialised tensors to a generic point: batch-norm weights around 1,
    biases and running statistics random. The convolutions are already random (He init)."""
    rng = np.random.default_rng(seed)
    for prefix, m in model.modules():
        if isinstance(m, BatchNorm2d):
            c = m.channels
            m.params["weight"][...] = 1 + 0.3 * rng.standard_normal(c)
            m.params["bias"][...] = 0.3 * rng.standard_normal(c)
            m.buffers["running_mean"][...] = 0.3 * rng.standard_normal(c)
            m.buffers["running_var"][...] = rng.uniform(0.5, 2.0, c)
    if hasattr(model, "fc"):
        model.fc.params["bias"][...] = 0.3 * rng.standard_normal(model.fc.params["bias"].shape)
    return model


def relu_margin(model, x, monkeypatch):
    """The smallest |input| of any ReLU in a forward pass: how close the point is to a kink."""
    smallest = [np.inf]
    forward = ReLU.forward

    def spy(self, z):
        smallest[0] = min(smallest[0], float(np.abs(z).min()))
        return forward(self, z)

    with monkeypatch.context() as m:
        m.setattr(ReLU, "forward", spy)
        model.forward(x)
    return smallest[0]


# (mode, model seed): points whose ReLU inputs all keep >= 10 h from zero (see below)
@pytest.mark.parametrize("mode,seed", [("train", 0), ("eval", 3)])
def test_resnet_backward_matches_numerical_gradient(mode, seed, rng, monkeypatch):
    model = generic_point(ResNet(tiny_resnet_config(), seed=seed, dtype=np.float64))
    model.train(mode == "train")
    x = rng.standard_normal((3, 1, 8, 8))
    # A ReLU is not differentiable at 0, and a numerical derivative whose stencil (+-2h) moves
    # a ReLU input across 0 measures a kink, not the gradient. With ~3,000 ReLU inputs some lie
    # within 1e-3 of zero at most points, so the default h = 1e-3 fails by chance. h = 1e-4 is
    # still far above rounding noise, and the check requires every ReLU input >= 10 h from 0.
    h = 1e-4
    margin = relu_margin(model, x, monkeypatch)
    assert margin > 10 * h, f"a ReLU input is {margin:.1e} from its kink: pick another seed"
    rows = gradcheck(model.train(mode == "train"), x, max_checks=40, h=h)
    assert len(rows) == 1 + len(list(model.named_parameters()))
    assert max_rel_error(rows) < MODEL_TOL, format_table(rows)


@pytest.mark.parametrize("in_channels,stride", [(4, 1), (3, 2)], ids=["identity", "downsample"])
def test_basic_block_backward_matches_numerical_gradient(in_channels, stride, rng, monkeypatch):
    block = generic_point(BasicBlock(in_channels, 4, stride, rng=np.random.default_rng(0), dtype=np.float64))
    assert (block.downsample is None) == (stride == 1)
    x = rng.standard_normal((2, in_channels, 6, 6))
    h = 1e-4
    assert relu_margin(block, x, monkeypatch) > 10 * h
    rows = gradcheck(block, x, max_checks=60, h=h)
    assert max_rel_error(rows) < LAYER_TOL, format_table(rows)


def test_gradcheck_catches_a_block_that_drops_the_shortcut_gradient(rng):
    class NoShortcutGradient(BasicBlock):
        def backward(self, dout):
            dx = super().backward(dout)
            return dx - self.relu2.backward(dout)      # forget the identity path's share

    block = generic_point(NoShortcutGradient(4, 4, rng=np.random.default_rng(0), dtype=np.float64))
    rows = gradcheck(block, rng.standard_normal((2, 4, 6, 6)), h=1e-4)
    assert rows[0].name == "input" and rows[0].max_rel_error > 1e-2


def test_block_residual_gradient_reaches_the_input_through_both_paths(rng):
    # with conv1's weights zero the main path passes no gradient to x: all of it comes
    # through the shortcut, and it must equal relu's gradient exactly
    block = BasicBlock(4, 4, rng=0, dtype=np.float64)
    block.conv1.params["weight"][...] = 0
    x = rng.standard_normal((2, 4, 5, 5))
    out = block.forward(x)
    g = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(block.backward(g), g * (out > 0))


def torchvision_names(widths=(16, 32, 64), blocks=(2, 2, 2)):
    """(parameter names, buffer names) in torchvision's ResNet order, num_batches_tracked aside."""
    def bn(prefix):
        return [prefix + ".weight", prefix + ".bias"], [prefix + ".running_mean", prefix + ".running_var"]

    params, buffers = ["conv1.weight"], []
    p, b = bn("bn1")
    params += p
    buffers += b
    in_width = widths[0]
    for s, (width, depth) in enumerate(zip(widths, blocks)):
        for i in range(depth):
            block = f"layer{s + 1}.{i}"
            for j in (1, 2):
                params.append(f"{block}.conv{j}.weight")
                p, b = bn(f"{block}.bn{j}")
                params += p
                buffers += b
            if i == 0 and (s > 0 or in_width != width):
                params.append(f"{block}.downsample.0.weight")
                p, b = bn(f"{block}.downsample.1")
                params += p
                buffers += b
        in_width = width
    return params + ["fc.weight", "fc.bias"], buffers


def test_parameter_and_buffer_names_are_torchvisions():
    model = ResNet()
    params, buffers = torchvision_names()
    assert [name for name, _, _ in model.named_parameters()] == params
    assert [name for name, _ in model.named_buffers()] == buffers
    assert list(model.state_dict()) == params + buffers
    shapes = {name: value.shape for name, value in model.state_dict().items()}
    assert shapes["conv1.weight"] == (16, 1, 3, 3)
    assert shapes["layer2.0.conv1.weight"] == (32, 16, 3, 3)
    assert shapes["layer2.0.downsample.0.weight"] == (32, 16, 1, 1)
    assert shapes["layer3.1.bn2.running_var"] == (64,)
    assert shapes["fc.weight"] == (10, 64)
    assert model.num_parameters() == 174_970      # the figure in ResNet's docstring
    assert "layer1.0.downsample.0.weight" not in shapes   # stage 1 keeps the shape: identity


def test_same_seed_gives_bit_identical_weights_and_another_seed_does_not():
    a, b, c = (ResNet(tiny_resnet_config(), seed=s) for s in (0, 0, 1))
    for (name, va, _), (_, vb, _) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(va, vb), name
    assert not np.array_equal(a.conv1.params["weight"], c.conv1.params["weight"])
    # every convolution draws its own weights from the one generator
    assert not np.array_equal(a.layer1[0].conv1.params["weight"], a.layer1[0].conv2.params["weight"])


def test_state_dict_round_trips_bit_exactly_with_the_running_stats(rng):
    a, b = ResNet(tiny_resnet_config(), seed=0), ResNet(tiny_resnet_config(), seed=1)
    a.forward(rng.standard_normal((4, 1, 8, 8)).astype(np.float32))     # moves the running stats
    state = a.state_dict()
    assert not np.array_equal(state["bn1.running_mean"], 0)
    b.load_state_dict(state)
    for name, value in b.state_dict().items():
        assert value.dtype == state[name].dtype and np.array_equal(value, state[name]), name
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    assert np.array_equal(a.eval().forward(x), b.eval().forward(x))
    with pytest.raises(KeyError, match="layer1.0.bn2.running_var"):
        b.load_state_dict({k: v for k, v in state.items() if k != "layer1.0.bn2.running_var"})


def test_eval_mode_uses_running_stats_and_does_not_update_them(rng):
    model = ResNet(tiny_resnet_config(), dtype=np.float64)
    x = rng.standard_normal((4, 1, 8, 8))
    model.forward(x)
    model.eval()
    before = model.state_dict()
    single = model.forward(x[:1])          # eval: each image independent of the batch
    assert np.allclose(single, model.forward(x)[:1], rtol=1e-12)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    model.train()
    assert not np.allclose(model.forward(x[:2])[:1], model.forward(x)[:1])   # batch statistics


def one_blas_thread():
    """Limit OpenBLAS to one thread (when threadpoolctl is installed). For small matrices its
    worker threads only add latency, and while another process keeps the cores busy each
    multithreaded matmul waits milliseconds for them: this test ran 20x slower that way."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def test_a_small_synthetic_batch_is_overfitted(rng):
    images, labels = synthetic_digits(32, seed=0, image_size=16)
    x, y = normalize(images), labels.astype(np.int64)                       # (32, 1, 16, 16)
    model = ResNet(ResNetConfig(image_size=16, widths=(8, 16), blocks_per_stage=(1, 1)), seed=0)
    loss_fn = SoftmaxCrossEntropy()
    params = [(value, grad) for _, value, grad in model.named_parameters()]
    m = [np.zeros_like(v) for v, _ in params]
    v2 = [np.zeros_like(v) for v, _ in params]
    lr, beta1, beta2, eps = 1e-2, 0.9, 0.999, 1e-8
    first = None
    with one_blas_thread():
        for t in range(1, 151):                   # Adam, written out
            model.zero_grad()
            loss = loss_fn.forward(model.forward(x), y)
            first = loss if first is None else first
            model.backward(loss_fn.backward())
            for (value, grad), mi, vi in zip(params, m, v2):
                mi += (1 - beta1) * (grad - mi)
                vi += (1 - beta2) * (grad * grad - vi)
                value -= lr * (mi / (1 - beta1 ** t)) / (np.sqrt(vi / (1 - beta2 ** t)) + eps)
    assert first > 1.5 and loss < 0.02, (first, loss)
    assert np.all(model.eval().forward(x).argmax(axis=1) == y)   # also with the running stats


@pytest.mark.parametrize("field,value,message", [
    ("image_size", 0, "image_size=0 must be a positive integer"),
    ("num_classes", 2.5, "num_classes=2.5 must be a positive integer"),
    ("stem_stride", True, "stem_stride=True must be a positive integer"),
    ("widths", (16, 0, 64), r"widths\[1\]=0 must be a positive integer"),
    ("widths", (), r"widths=\(\) must be a non-empty tuple"),
    ("blocks_per_stage", (2, 2),
     r"widths=\(16, 32, 64\) and blocks_per_stage=\(2, 2\) must have the same length"),
])
def test_config_validation_names_field_value_and_rule(field, value, message):
    with pytest.raises(ValueError, match=message):
        ResNetConfig(**{field: value})


def test_config_round_trips_through_json():
    config = tiny_resnet_config()
    back = ResNetConfig.from_dict(json.loads(json.dumps(config.to_dict())))   # tuples -> lists -> tuples
    assert back == config and back.widths == (4, 8)
    with pytest.raises(ValueError, match=r"unknown ResNetConfig fields \['depth'\]"):
        ResNetConfig.from_dict({**config.to_dict(), "depth": 3})


def test_float32_model_keeps_float32_everywhere(rng):
    model = ResNet(tiny_resnet_config(), dtype=np.float32)
    loss_fn = SoftmaxCrossEntropy()
    logits = model.forward(rng.standard_normal((4, 1, 8, 8)))   # float64 in: cast once
    loss_fn.forward(logits, np.array([0, 1, 2, 1]))
    dx = model.backward(loss_fn.backward())
    assert logits.dtype == np.float32 and dx.dtype == np.float32
    for name, value in model.state_dict().items():
        assert value.dtype == np.float32, name
    for prefix, module in model.modules():
        for attr, value in vars(module).items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                assert value.dtype == np.float32, f"{prefix}.{attr} is {value.dtype}"


def test_stem_stride_halves_the_first_stage():
    model = ResNet(tiny_resnet_config(stem_stride=2), dtype=np.float64)
    model.forward(np.zeros((2, 1, 8, 8)))
    assert model.layer1[0].conv1.x_shape == (2, 4, 4, 4)
    assert model.layer2[0].conv1.x_shape == (2, 4, 4, 4) and model.avgpool.x_shape == (2, 8, 2, 2)


# --- parity with a torchvision-style PyTorch ResNet (skipped without torch) -------------------

def torch_resnet(config, torch):
    """The same network in PyTorch, laid out as torchvision's ResNet / BasicBlock."""
    nn = torch.nn

    class TorchBasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class TorchResNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = config.widths
            self.conv1 = nn.Conv2d(config.in_channels, w[0], 3, config.stem_stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(w[0])
            self.relu = nn.ReLU()
            cin = w[0]
            for s, (width, depth) in enumerate(zip(w, config.blocks_per_stage)):
                stride = 1 if s == 0 else 2
                blocks = [TorchBasicBlock(cin if i == 0 else width, width, stride if i == 0 else 1)
                          for i in range(depth)]
                setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
                cin = width
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, config.num_classes)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            for s in range(len(config.widths)):
                x = getattr(self, f"layer{s + 1}")(x)
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return TorchResNet().double()


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_logits_gradients_and_running_stats_match_pytorch_in_float64(mode, rng):
    torch = pytest.importorskip("torch")
    config = tiny_resnet_config(blocks_per_stage=(2, 1))
    model = generic_point(ResNet(config, dtype=np.float64)).train(mode == "train")
    ref = torch_resnet(config, torch).train(mode == "train")
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})  # names line up
    x, y = rng.standard_normal((4, 1, 8, 8)), np.array([0, 1, 2, 1])

    loss_fn = SoftmaxCrossEntropy()
    logits = model.forward(x)
    loss_fn.forward(logits, y)
    dx = model.backward(loss_fn.backward())
    xt = torch.from_numpy(x).requires_grad_(True)
    logits_t = ref(xt)
    torch.nn.functional.cross_entropy(logits_t, torch.from_numpy(y)).backward()

    assert rel_diff(logits, logits_t.detach().numpy()) < PARITY_TOL
    assert rel_diff(dx, xt.grad.numpy()) < PARITY_TOL
    torch_grads = {name: p.grad.numpy() for name, p in ref.named_parameters()}
    for name, _, grad in model.named_parameters():
        assert rel_diff(grad, torch_grads[name]) < PARITY_TOL, name
    torch_state = ref.state_dict()
    for name, value in model.named_buffers():
        assert rel_diff(value, torch_state[name].numpy()) < PARITY_TOL, name
