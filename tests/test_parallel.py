"""DataParallel: a batch split across worker processes must give the whole batch's logits and
gradients."""
import numpy as np
import pytest

from conftest import tiny_config
from numpyvit.gradcheck import random_point
from numpyvit import AdamW, DataParallel, ResNet, ResNetConfig, SoftmaxCrossEntropy, VisionTransformer
from numpyvit.parallel.data_parallel import split_batch


def grads(model):
    return {name: g.copy() for name, _, g in model.named_parameters()}


def serial_and_parallel(model, x, y, workers, start_method=None):
    """(logits, dx, grads) of one loss.forward + backward, run whole and through DataParallel."""
    loss = SoftmaxCrossEntropy()
    results = []
    with DataParallel(model, workers, start_method=start_method) as net:
        for run in (model, net):
            model.zero_grad()
            logits = run.forward(x)
            loss.forward(logits, y)
            dx = run.backward(loss.backward())
            results.append((logits, dx, grads(model)))
    return results


@pytest.mark.parametrize("batch, workers", [(7, 2), (9, 3), (1, 2), (6, 1)])
def test_split_batch_gives_the_whole_batchs_logits_and_gradients(batch, workers, rng):
    check_whole_batch(batch, workers, None, rng)


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_worker_processes_started_either_way_give_the_whole_batchs_gradients(start_method, rng):
    # macOS and Windows spawn (a fresh interpreter that imports numpyvit); Linux forks
    check_whole_batch(9, 3, start_method, rng)


def check_whole_batch(batch, workers, start_method, rng):
    model = random_point(VisionTransformer(tiny_config(), dtype=np.float64))
    x = rng.standard_normal((batch, 1, 8, 8))
    y = rng.integers(0, 3, batch)
    (l0, dx0, g0), (l1, dx1, g1) = serial_and_parallel(model, x, y, workers, start_method)
    assert l1.shape == l0.shape and dx1.shape == dx0.shape
    assert np.allclose(l1, l0, rtol=1e-12, atol=1e-14)
    assert np.allclose(dx1, dx0, rtol=1e-10, atol=1e-16)
    for name in g0:
        assert np.allclose(g1[name], g0[name], rtol=1e-10, atol=1e-16), name
        assert np.any(g1[name] != 0) or np.all(g0[name] == 0), name


def test_a_lost_replica_gradient_would_be_caught(rng):
    # the comparison above is sharp enough to see one chunk's gradient missing
    model = random_point(VisionTransformer(tiny_config(), dtype=np.float64))
    x, y = rng.standard_normal((8, 1, 8, 8)), rng.integers(0, 3, 8)
    (_, _, g0), _ = serial_and_parallel(model, x, y, 2)
    loss = SoftmaxCrossEntropy()
    with DataParallel(model, 2) as net:
        model.zero_grad()
        loss.forward(net.forward(x), y)
        dlogits = loss.backward()
        dlogits[4:] = 0                    # as if the second replica's part were dropped
        net.backward(dlogits)
    assert not np.allclose(model.grads["cls_token"], g0["cls_token"], rtol=1e-6)


def test_gradients_accumulate_like_a_modules(rng):
    model = random_point(VisionTransformer(tiny_config(), dtype=np.float64))
    x, y = rng.standard_normal((6, 1, 8, 8)), rng.integers(0, 3, 6)
    net, loss = DataParallel(model, 2), SoftmaxCrossEntropy()
    model.zero_grad()
    for _ in range(2):                     # two backward passes without zero_grad: twice the gradient
        loss.forward(net.forward(x), y)
        net.backward(loss.backward())
    twice = grads(model)
    net.zero_grad()
    loss.forward(net.forward(x), y)
    net.backward(loss.backward())
    for name, g in grads(model).items():
        assert np.allclose(twice[name], 2 * g, rtol=1e-12, atol=1e-16), name


@pytest.mark.parametrize("optimizer_first", [False, True])
def test_replicas_see_optimizer_steps_and_loaded_weights(optimizer_first, rng):
    # docs/performance.md's example makes the optimiser before the DataParallel: both orders must train
    model = VisionTransformer(tiny_config(), dtype=np.float64)
    opt = AdamW(model, lr=1e-2) if optimizer_first else None
    net, loss = DataParallel(model, 2), SoftmaxCrossEntropy()
    opt = opt or AdamW(model, lr=1e-2)
    before = model.state_dict()
    x, y = rng.standard_normal((6, 1, 8, 8)), rng.integers(0, 3, 6)
    for _ in range(3):
        loss.forward(net.forward(x), y)
        model.zero_grad()
        net.backward(loss.backward())
        opt.step()
    assert not np.allclose(model.state_dict()["cls_token"], before["cls_token"])
    assert np.allclose(net.forward(x), model.forward(x), rtol=1e-12, atol=1e-14)
    model.load_state_dict(random_point(VisionTransformer(tiny_config(), dtype=np.float64), seed=5).state_dict())
    assert np.allclose(net.forward(x), model.forward(x), rtol=1e-12, atol=1e-14)


def test_eval_mode_set_on_the_model_reaches_the_replicas(rng):
    # a ResNet's BatchNorm normalises by the batch in training and by its running statistics in
    # eval mode, so a replica left in training mode would give other logits
    config = ResNetConfig(image_size=8, widths=(4, 8), blocks_per_stage=(1, 1), num_classes=3)
    model = ResNet(config, dtype=np.float64)
    net = DataParallel(model, 2)
    x = rng.standard_normal((6, 1, 8, 8))
    model.eval()                           # on the model, not on net
    assert np.allclose(net.forward(x), model.forward(x), rtol=1e-12, atol=1e-14)
    model.train()
    assert not np.allclose(net.forward(x[:3]), model.eval().forward(x[:3]))   # the mode matters here
    net.train()
    assert model.training and net.training
    net.close()


def test_float32_stays_float32(rng):
    model = VisionTransformer(tiny_config())
    net, loss = DataParallel(model, 2), SoftmaxCrossEntropy()
    logits = net.forward(rng.standard_normal((6, 1, 8, 8)))   # float64 input, cast at the entry
    loss.forward(logits, rng.integers(0, 3, 6))
    dx = net.backward(loss.backward())
    assert logits.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for _, _, g in model.named_parameters())


def test_batchnorm_models_train_on_one_worker_and_evaluate_on_all(rng):
    config = ResNetConfig(image_size=8, widths=(4, 8), blocks_per_stage=(1, 1), num_classes=3)
    model = ResNet(config, dtype=np.float64)
    x, y = rng.standard_normal((8, 1, 8, 8)), rng.integers(0, 3, 8)
    # training: batch statistics over the whole batch, so one chunk, and the serial result
    (l0, dx0, g0), (l1, dx1, g1) = serial_and_parallel(model, x, y, 2)
    assert np.array_equal(l1, l0) and np.array_equal(dx1, dx0)
    assert all(np.array_equal(g1[name], g0[name]) for name in g0)
    net = DataParallel(model, 2)
    net.forward(x)
    assert len(net.chunks) == 1
    # eval: running statistics, so every worker; the same logits as the model's
    model.eval()
    logits = net.forward(x)
    assert len(net.chunks) == 2
    assert np.allclose(logits, model.forward(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_worker_counts_are_refused(workers):
    with pytest.raises(ValueError, match="workers"):
        DataParallel(VisionTransformer(tiny_config()), workers)


def test_bad_images_fail_before_any_worker_is_asked():
    net = DataParallel(VisionTransformer(tiny_config()), 2)
    with pytest.raises(ValueError, match=r"shape \(B, 1, 8, 8\)"):
        net.forward(np.zeros((4, 1, 9, 9), dtype=np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        DataParallel(VisionTransformer(tiny_config()), 2).backward(np.zeros((4, 3), dtype=np.float32))
    net.forward(np.zeros((4, 1, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="batch of 4"):
        net.backward(np.zeros((5, 3), dtype=np.float32))


def test_split_batch_pieces_are_contiguous_and_balanced():
    for n in range(0, 20):
        for parts in range(1, 5):
            pieces = split_batch(n, parts)
            sizes = [s.stop - s.start for s in pieces]
            assert sum(sizes) == n and pieces[0].start == 0
            assert all(a.stop == b.start for a, b in zip(pieces, pieces[1:]))
            assert max(sizes) - min(sizes) <= 1 and len(pieces) == max(1, min(parts, n))
