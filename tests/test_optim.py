"""Optimisers, schedule and clipping against hand-computed values."""
import math

import numpy as np
import pytest

from numpyvit.layers.linear import Linear
from numpyvit.training.optim import SGD, AdamW, WeightAverage, clip_grad_norm, lr_at, no_weight_decay


def linear_with_grads(w, b, gw, gb):
    layer = Linear(len(w[0]), len(w), rng=0, dtype=np.float64)
    layer.params["weight"][...] = w
    layer.params["bias"][...] = b
    layer.grads["weight"][...] = gw
    layer.grads["bias"][...] = gb
    return layer


def test_one_adamw_step_equals_the_hand_computed_update():
    layer = linear_with_grads([[1.0, -2.0]], [0.5], [[0.1, -0.3]], [2.0])
    opt = AdamW(layer, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    opt.step()
    # step 1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2 -> update = lr * g / (|g| + eps)
    for w, g in [(1.0, 0.1), (-2.0, -0.3)]:
        expected = w - 0.01 * 0.1 * w - 0.01 * g / (abs(g) + 1e-8)   # decay, then Adam step
        idx = 0 if w == 1.0 else 1
        assert layer.params["weight"][0, idx] == pytest.approx(expected, rel=1e-12)
    # the bias is exempt from weight decay
    assert layer.params["bias"][0] == pytest.approx(0.5 - 0.01 * 2.0 / (2.0 + 1e-8), rel=1e-12)


def test_two_adamw_steps_follow_the_bias_corrected_moments():
    layer = linear_with_grads([[1.0]], [0.0], [[0.5]], [0.0])
    opt = AdamW(layer, lr=0.1, weight_decay=0.0)
    opt.step()
    layer.grads["weight"][...] = -1.0
    opt.step()
    m = 0.9 * (0.1 * 0.5) + 0.1 * -1.0
    v = 0.999 * (0.001 * 0.25) + 0.001 * 1.0
    m_hat, v_hat = m / (1 - 0.9 ** 2), v / (1 - 0.999 ** 2)
    w1 = 1.0 - 0.1 * 1.0                      # first step moves by lr * sign(g)
    assert layer.params["weight"][0, 0] == pytest.approx(w1 - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8),
                                                        rel=1e-6)


def test_one_sgd_momentum_step_equals_the_hand_computed_update():
    layer = linear_with_grads([[1.0, 2.0]], [0.0], [[0.5, -1.0]], [1.0])
    opt = SGD(layer, lr=0.1, momentum=0.9, weight_decay=0.01)
    opt.step()
    np.testing.assert_allclose(layer.params["weight"], [[1.0 - 0.1 * (0.5 + 0.01), 2.0 - 0.1 * (-1.0 + 0.02)]])
    opt.step()                                 # grads unchanged: buffer = 0.9 b + g'
    b1 = 0.5 + 0.01
    w = 1.0 - 0.1 * b1
    assert layer.params["weight"][0, 0] == pytest.approx(w - 0.1 * (0.9 * b1 + 0.5 + 0.01 * w))


def test_adamw_keeps_float32_state():
    layer = Linear(3, 2, rng=0)
    opt = AdamW(layer)
    layer.grads["weight"][...] = 1
    opt.step()
    assert all(a.dtype == np.float32 for slot in opt.state.values() for a in slot.values())
    assert layer.params["weight"].dtype == np.float32


def test_optimizer_state_dict_round_trips_so_the_next_step_is_identical():
    rng = np.random.default_rng(0)
    a = Linear(3, 2, rng=np.random.default_rng(1), dtype=np.float64)
    b = Linear(3, 2, rng=np.random.default_rng(2), dtype=np.float64)   # other weights, until loaded
    oa, ob = AdamW(a, lr=0.1), AdamW(b, lr=0.1)
    for _ in range(3):                      # m, v and the step count all away from their start
        for name, _, grad in a.named_parameters():
            grad[...] = rng.standard_normal(grad.shape)
        oa.step()
    b.load_state_dict(a.state_dict())
    ob.load_state_dict(oa.state_dict())
    assert ob.steps == oa.steps == 3
    grads = {name: rng.standard_normal(g.shape) for name, _, g in a.named_parameters()}
    for model, opt in ((a, oa), (b, ob)):   # the same gradients into both
        for name, _, grad in model.named_parameters():
            grad[...] = grads[name]
        opt.step()
    for (name, wa, _), (_, wb, _) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(wa, wb), name  # bit for bit: bias correction, m and v all restored


def test_weight_decay_exemptions():
    assert no_weight_decay("blocks.0.norm1.weight", np.zeros(4))
    assert no_weight_decay("pos_embed", np.zeros((1, 5, 4)))
    assert no_weight_decay("cls_token", np.zeros((1, 1, 4)))
    assert not no_weight_decay("blocks.0.attn.qkv.weight", np.zeros((12, 4)))


def test_schedule_values_at_the_boundaries():
    peak, warm, total = 3e-3, 10, 110
    assert lr_at(0, total, peak, warm) == pytest.approx(peak / 10)         # first warm-up step
    assert lr_at(9, total, peak, warm) == pytest.approx(peak)              # end of warm-up
    assert lr_at(10, total, peak, warm) == pytest.approx(peak)             # cosine starts at peak
    assert lr_at(60, total, peak, warm) == pytest.approx(peak / 2)         # halfway down
    assert lr_at(110, total, peak, warm, min_lr=1e-5) == pytest.approx(1e-5)  # the floor
    assert lr_at(0, total, peak, 0) == pytest.approx(peak)                 # no warm-up


def test_clip_grad_norm_scales_to_the_max_norm_and_keeps_direction():
    layer = linear_with_grads([[0.0, 0.0]], [0.0], [[3.0, 0.0]], [4.0])    # global norm 5
    assert clip_grad_norm(layer, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(layer.grads["weight"], [[0.6, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(layer.grads["bias"], [0.8], rtol=1e-6)
    assert clip_grad_norm(layer, 10.0) == pytest.approx(1.0, rel=1e-5)     # below: untouched


# --- the weight average ---------------------------------------------------------------------------
def test_weight_average_follows_its_recurrence_with_the_ramped_decay():
    layer = linear_with_grads([[1.0, -2.0]], [0.5], [[0.0, 0.0]], [0.0])
    average = WeightAverage(layer, decay=0.5)
    expected = np.array([1.0, -2.0])
    for t, new in enumerate([[3.0, 0.0], [5.0, 4.0], [-1.0, 2.0]]):
        layer.params["weight"][0] = new
        average.update()
        d = min(0.5, (1 + t) / (10 + t))        # 0.1, 0.18..., then capped at 0.5 from t = 8
        expected = d * expected + (1 - d) * np.array(new)
        np.testing.assert_allclose(average.average["weight"][0], expected, rtol=1e-12)
    assert average.updates == 3
    # the bias never moved, so its average did not either
    assert average.average["bias"][0] == 0.5


def test_weight_average_applied_swaps_the_weights_in_and_back_even_on_error():
    layer = linear_with_grads([[1.0, -2.0]], [0.5], [[0.0, 0.0]], [0.0])
    average = WeightAverage(layer, decay=0.9)
    layer.params["weight"][...] = [[7.0, 7.0]]
    with pytest.raises(RuntimeError, match="inside"):
        with average.applied():
            np.testing.assert_array_equal(layer.params["weight"], [[1.0, -2.0]])   # the average
            raise RuntimeError("inside")
    np.testing.assert_array_equal(layer.params["weight"], [[7.0, 7.0]])            # its own again


def test_weight_average_state_round_trips_and_rejects_a_wrong_shape():
    layer = linear_with_grads([[1.0, -2.0]], [0.5], [[0.0, 0.0]], [0.0])
    average = WeightAverage(layer, decay=0.9)
    layer.params["weight"][...] = [[3.0, 3.0]]
    average.update()
    other = WeightAverage(linear_with_grads([[0.0, 0.0]], [0.0], [[0.0, 0.0]], [0.0]), decay=0.9)
    other.load_state_dict(average.state_dict())
    assert other.updates == 1
    np.testing.assert_array_equal(other.average["weight"], average.average["weight"])
    with pytest.raises(ValueError, match="weight average 'weight' has shape"):
        other.load_state_dict({**average.state_dict(), "weight": np.zeros((2, 2))})


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_weight_average_decay_outside_0_1_is_refused(decay):
    with pytest.raises(ValueError, match=r"must be in \(0, 1\)"):
        WeightAverage(linear_with_grads([[1.0]], [0.0], [[0.0]], [0.0]), decay=decay)
