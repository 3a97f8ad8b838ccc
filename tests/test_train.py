"""Training loop, exact resume, checkpoints and the command line, on small synthetic data."""
import json
import os
import signal

import numpy as np
import pytest

import numpyvit.training.trainer as train_mod
from numpyvit.cli import main
from numpyvit.layers.loss import SoftmaxCrossEntropy
from numpyvit.models.vit import ViTConfig, VisionTransformer
from numpyvit.training.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from numpyvit.data.prepare import normalize
from numpyvit.data.synthetic import synthetic_digits
from numpyvit.training.optim import AdamW
from numpyvit.models.registry import build_model
from numpyvit.parallel.data_parallel import DataParallel
from numpyvit.training.trainer import TrainConfig, TrainingDiverged, train

SMALL = ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32).to_dict()


@pytest.fixture(scope="module")
def data():
    x, y = synthetic_digits(640, seed=0)
    return x[:512], y[:512], x[512:], y[512:]


def small_train_config(**kw):
    base = dict(epochs=2, batch_size=64, lr=3e-3, warmup_epochs=0.5, rotate=5.0, scale=0.05)
    base.update(kw)
    return TrainConfig(**base)


def fit(model_config, cfg, data, out, resume=None, workers=None, kind="vit", **kw):
    """Train as the command line does: the model built from the run's seed, each batch split
    across `workers` processes (default: every core, or a resumed run's own count). Returns
    (model, metrics)."""
    from numpyvit.cli import parallel
    model = build_model(kind, model_config, seed=cfg.seed)
    with parallel(model, workers, resume) as net:
        state = train(net, cfg, data, out, resume=resume, **kw)
    return model, state.metrics


def weights(model):
    return {name: value.copy() for name, value, _ in model.named_parameters()}


def read_jsonl(path, drop=()):
    """The rows of a .jsonl file, without the keys in `drop` (timings, which differ run to run)."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in drop} for row in rows]


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    """The weights and dynamics.jsonl rows (without timings) after an uninterrupted small run,
    one run per worker count, shared by every resume test that compares against it."""
    runs = {}

    def final_run(workers=1):
        if workers not in runs:
            out = tmp_path_factory.mktemp("uninterrupted")
            model, _ = fit(SMALL, small_train_config(), data, out, progress=False, log=lambda s: None,
                           workers=workers)
            runs[workers] = weights(model), read_jsonl(out / "dynamics.jsonl", drop={"dynamics_s"})
        return runs[workers]
    return final_run


def test_a_small_batch_overfits_to_near_zero_loss(data):
    x, y = normalize(data[0][:16]), data[1][:16]
    model = VisionTransformer(ViTConfig.from_dict(SMALL), seed=0)
    loss_fn, opt = SoftmaxCrossEntropy(), AdamW(model, lr=3e-3, weight_decay=0.0)
    for _ in range(300):
        loss = loss_fn.forward(model.forward(x), y)
        model.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    assert loss < 0.01


def test_training_learns_and_writes_the_run_folder(tmp_path):
    x, y = synthetic_digits(2304, seed=0)
    data = x[:2048], y[:2048], x[2048:], y[2048:]
    _, metrics = fit(SMALL, small_train_config(epochs=6, lr=1e-2), data, tmp_path,
                       progress=False, log=lambda s: None)
    assert metrics[-1]["test_acc"] > 0.9 and metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
    for key in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "epoch_s",
                "elapsed_s", "img_per_s"):
        assert key in rows[0]
    assert json.loads((tmp_path / "config.json").read_text())["model_config"] == SMALL
    assert not (tmp_path / "curves.png").exists()          # the trainer draws nothing; the CLI does
    dynamics = read_jsonl(tmp_path / "dynamics.jsonl")
    assert [r["epoch"] for r in dynamics] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in dynamics] == [32, 64, 96, 128, 160, 192]      # 32 steps an epoch
    assert all(r["samples"] == 8 for r in dynamics)                           # dynamics_steps=8
    assert list(dynamics[0]["grad_norm"]) == ["cls/pos", "patch_embed", "blocks.0.norm", "blocks.0.attn",
                                              "blocks.0.mlp", "norm", "head"]
    assert len(dynamics[0]["attn_entropy"]) == 1 and 0 < dynamics[0]["attn_entropy"][0] <= np.log(17)
    assert all(0 <= r["clip_fraction"] <= 1 for r in dynamics)
    assert load_checkpoint(tmp_path)["train"]["epoch"] == 6


def test_max_steps_ends_the_run_and_the_schedule_mid_epoch(data, tmp_path):
    # 512 images, batch 64: 8 steps an epoch; 12 steps end halfway through epoch 2
    _, metrics = fit(SMALL, small_train_config(epochs=5, max_steps=12), data, tmp_path,
                       progress=False, log=lambda s: None)
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert metrics[-1]["test_acc"] is not None
    from numpyvit.training.optim import lr_at
    assert metrics[-1]["lr"] == pytest.approx(lr_at(11, 12, 3e-3, 4))  # the schedule spans 12 steps, not 40


def test_the_full_training_set_is_a_valid_subset_size():
    from numpyvit.data.prepare import class_balanced_subset
    labels = np.array([0] * 5 + [1] * 3)
    assert len(class_balanced_subset(labels, 8, seed=0)) == 8
    picked = class_balanced_subset(labels, 6, seed=0)
    assert sorted(np.bincount(labels[picked])) == [3, 3]


def interrupt_when(predicate):
    """A log/lr hook that sends this process Ctrl-C when predicate() first holds."""
    def hook(*args):
        if predicate(*args):
            os.kill(os.getpid(), signal.SIGINT)
    return hook


def test_two_epochs_equal_one_epoch_then_resume_bit_for_bit(data, uninterrupted, tmp_path):
    # stop after epoch 1 with a Ctrl-C, then resume from the run folder
    with pytest.raises(KeyboardInterrupt):
        fit(SMALL, small_train_config(), data, tmp_path, progress=False, workers=1,
              log=interrupt_when(lambda line: line.startswith("epoch   1/")))
    ckpt = load_checkpoint(tmp_path)
    assert (ckpt["train"]["epoch"], ckpt["train"]["step_in_epoch"]) == (1, 0)
    resumed, metrics = fit(SMALL, small_train_config(), data, tmp_path, resume=ckpt,
                             progress=False, log=lambda s: None)
    assert [m["epoch"] for m in metrics] == [1, 2]
    final_weights, final_dynamics = uninterrupted()
    for name, value in final_weights.items():
        assert np.array_equal(value, weights(resumed)[name]), name
    assert read_jsonl(tmp_path / "dynamics.jsonl", drop={"dynamics_s"}) == final_dynamics


def interrupt_at(monkeypatch, step):
    """Send the trainer a Ctrl-C when it computes the learning rate of `step`; returns a
    function that stops the interruptions."""
    real_lr_at = train_mod.lr_at

    def lr_at_with_interrupt(s, *args, **kw):
        if s == step:
            os.kill(os.getpid(), signal.SIGINT)
        return real_lr_at(s, *args, **kw)

    monkeypatch.setattr(train_mod, "lr_at", lr_at_with_interrupt)
    return lambda: monkeypatch.setattr(train_mod, "lr_at", real_lr_at)

@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_mid_epoch_saves_and_resume_continues_exactly(workers, data, uninterrupted, tmp_path,
                                                             monkeypatch, capsys):
    model_config = SMALL
    run = dict(progress=False, workers=workers)
    stop_interrupting = interrupt_at(monkeypatch, 11)     # epoch 2, step 3 of 8
    with pytest.raises(KeyboardInterrupt):
        fit(model_config, small_train_config(), data, tmp_path / "b", log=print, **run)
    assert "resume with: python -m numpyvit train --resume" in capsys.readouterr().out
    stop_interrupting()
    ckpt = load_checkpoint(tmp_path / "b")
    assert (ckpt["train"]["epoch"], ckpt["train"]["step_in_epoch"]) == (1, 4)
    resumed, _ = fit(model_config, small_train_config(), data, tmp_path / "b", resume=ckpt,
                       log=lambda s: None, **run)
    final_weights, final_dynamics = uninterrupted(workers)
    for name, value in final_weights.items():
        assert np.array_equal(value, weights(resumed)[name]), name
    # the half-finished epoch's sums travelled in the checkpoint: the same rows as without a stop
    assert read_jsonl(tmp_path / "b" / "dynamics.jsonl", drop={"dynamics_s"}) == final_dynamics


def test_recording_the_dynamics_changes_nothing_in_the_run(data, uninterrupted, tmp_path):
    # 8 steps an epoch and dynamics_steps=8: every step is sampled, the most it can interfere
    model, _ = fit(SMALL, small_train_config(dynamics_steps=0), data, tmp_path,
                     progress=False, log=lambda s: None, workers=1)
    assert not (tmp_path / "dynamics.jsonl").exists()
    for name, value in uninterrupted()[0].items():
        assert np.array_equal(value, weights(model)[name]), name


def test_a_non_finite_loss_stops_with_step_lr_and_checkpoint(data, tmp_path, monkeypatch):
    real = SoftmaxCrossEntropy.forward
    calls = {"n": 0}

    def forward(self, logits, labels):
        calls["n"] += 1
        return float("nan") if calls["n"] == 12 else real(self, logits, labels)

    monkeypatch.setattr(SoftmaxCrossEntropy, "forward", forward)
    with pytest.raises(TrainingDiverged, match=r"nan at step \d+ .*lr=.*last good checkpoint: .*last.npz"):
        fit(SMALL, small_train_config(), data, tmp_path, progress=False, log=lambda s: None)


def test_checkpoint_round_trip_opens_with_plain_np_load(tmp_path):
    model = VisionTransformer(ViTConfig.from_dict(SMALL), seed=3)
    opt = AdamW(model)
    path = save_checkpoint(tmp_path / "m.npz", model, opt, {"epoch": 1})
    with np.load(path) as npz:                # plain np.load: allow_pickle defaults to False
        assert np.array_equal(npz["blocks.0.attn.qkv.weight"], model.blocks[0].attn.qkv.params["weight"])
        assert json.loads(str(npz["meta.config"])) == SMALL
    loaded = load_model(path)
    for name, value in weights(model).items():
        assert np.array_equal(value, weights(loaded)[name])


def test_a_resnet_checkpoint_loads_back_as_a_resnet_with_its_buffers(tmp_path):
    from numpyvit.models.resnet import ResNet, ResNetConfig
    model = ResNet(ResNetConfig(widths=(4, 8), blocks_per_stage=(1, 1)), seed=2)
    model.bn1.buffers["running_mean"][...] = 0.5
    loaded = load_model(save_checkpoint(tmp_path / "r.npz", model))
    assert isinstance(loaded, ResNet) and not loaded.training
    for name, value in model.state_dict().items():
        assert np.array_equal(value, loaded.state_dict()[name]), name


def test_a_checkpoint_that_needs_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"meta.format": np.array("numpyvit-checkpoint-1"), "x": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(path)


def test_foreign_and_missing_files_are_not_checkpoints(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a numpyvit checkpoint"):
        load_checkpoint(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CheckpointError, match="not a numpyvit checkpoint"):
        load_checkpoint(tmp_path / "text.npz")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz")


def test_a_checkpoint_is_readable_like_any_file(tmp_path):
    path = save_checkpoint(tmp_path / "m.npz", VisionTransformer(ViTConfig.from_dict(SMALL)))
    assert path.stat().st_mode & 0o044 or os.umask(os.umask(0)) & 0o044  # group/other read unless umask forbids


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    model = VisionTransformer(ViTConfig.from_dict(SMALL), seed=0)
    path = save_checkpoint(tmp_path / "last.npz", model)
    before = path.read_bytes()

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, VisionTransformer(ViTConfig.from_dict(SMALL), seed=1))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.npz"]     # no temp file left


# --- the command line --------------------------------------------------------------------
def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args,message", [
    (["train", "--epochs", "-1"], "epochs=-1 must be a positive integer"),
    (["train", "--patch-size", "5"], "image_size=28 is not divisible by patch_size=5"),
    (["train", "--pool", "max"], "pool='max' must be 'cls' or 'mean'"),
    (["eval", "missing.npz"], "does not exist"),
    (["predict", "missing.npz", "x.png"], "does not exist"),
])
def test_cli_bad_input_is_one_line_and_a_nonzero_exit(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_refuses_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    (tmp_path / "notes.npz").write_text("not a checkpoint")
    code, _, err = run_cli(["eval", str(tmp_path / "notes.npz")], capsys)
    assert code == 2 and "not a numpyvit checkpoint" in err


def test_cli_predict_reports_top3_and_rejects_unreadable_images(tmp_path, capsys):
    from PIL import Image
    model = VisionTransformer(ViTConfig.from_dict(SMALL), seed=0)
    ckpt = save_checkpoint(tmp_path / "m.npz", model)
    digit = np.full((56, 56), 255, np.uint8)          # a dark stroke on white paper
    digit[10:46, 26:30] = 0
    Image.fromarray(digit).save(tmp_path / "one.png")
    Image.fromarray(digit).convert("RGB").save(tmp_path / "one.jpg")
    code, out, _ = run_cli(["predict", str(ckpt), str(tmp_path / "one.png"), str(tmp_path / "one.jpg")], capsys)
    assert code == 0 and out.count("(") == 6          # three classes with probabilities per image
    (tmp_path / "bad.png").write_bytes(b"not an image")
    code, _, err = run_cli(["predict", str(ckpt), str(tmp_path / "bad.png")], capsys)
    assert code == 2 and "cannot read image" in err


def test_predict_reads_a_dark_digit_on_a_light_page_as_light_on_black(tmp_path):
    from PIL import Image
    from numpyvit.app.preprocess import preprocess_digit, read_image
    page = np.full((28, 28), 250, np.uint8)
    page[5:20, 12:15] = 10
    Image.fromarray(page).save(tmp_path / "d.png")
    x = preprocess_digit(read_image(tmp_path / "d.png"))
    assert x[0, 0] == 0 and x[13, 13] > 200          # background exactly 0, the stroke light, centred


@pytest.mark.parametrize("dynamics_steps, drawn", [("8", True), ("0", False)])
def test_cli_train_draws_curves_and_dynamics_beside_the_run(dynamics_steps, drawn, data, tmp_path, monkeypatch,
                                                            capsys):
    import numpyvit.data.datasets as datasets
    monkeypatch.setattr(datasets, "load_dataset", lambda name, data_dir=None: data)
    small = ["--dim", "16", "--depth", "1", "--heads", "2", "--mlp-dim", "32"]
    code, _, _ = run_cli(["train", "--out", str(tmp_path), "--epochs", "2", "--batch-size", "64", "--no-progress",
                          "--dynamics-steps", dynamics_steps, *small], capsys)
    assert code == 0 and (tmp_path / "curves.png").exists()
    assert (tmp_path / "dynamics.png").exists() == (tmp_path / "dynamics.jsonl").exists() == drawn


def test_cli_will_not_overwrite_an_existing_run(tmp_path, capsys):
    save_checkpoint(tmp_path / "last.npz", VisionTransformer(ViTConfig.from_dict(SMALL)))
    code, _, err = run_cli(["train", "--out", str(tmp_path)], capsys)
    assert code == 2 and "--resume" in err


def test_resume_keeps_the_stored_worker_count_and_says_when_it_changes(data, tmp_path, monkeypatch):
    import numpyvit.cli as cli
    import numpyvit.parallel.data_parallel as dp
    fit(SMALL, small_train_config(epochs=1), data, tmp_path, progress=False, log=lambda s: None, workers=2)
    ckpt = load_checkpoint(tmp_path)
    assert ckpt["train"]["workers"] == 2
    monkeypatch.setattr(dp, "available_cores", lambda: 4)
    for workers in (None, 3):
        lines = []
        model = build_model("vit", SMALL)
        with cli.parallel(model, workers, ckpt) as net:      # what `train --resume` runs on
            train(net, small_train_config(epochs=2), data, tmp_path / f"w{workers}", resume=ckpt, progress=False,
                  log=lines.append)
        notes = [line for line in lines if "not bit for bit" in line]
        assert (net.workers, len(notes)) == ((2, 0) if workers is None else (3, 1))
    monkeypatch.setattr(dp, "available_cores", lambda: 1)   # a smaller machine: every core it has
    assert cli.parallel(build_model("vit", SMALL), None, ckpt).workers == 1


def test_a_bug_in_a_command_keeps_its_traceback(monkeypatch):
    import numpyvit.cli as cli

    def broken(args):
        raise RuntimeError("a bug, not the user's mistake")

    monkeypatch.setitem(cli.COMMANDS, "eval", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["eval", "whatever.npz"])


def test_user_errors_are_the_package_error_type():
    from numpyvit import ConfigError, UsageError
    from numpyvit.data.mnist import DownloadError
    for error in (ConfigError, CheckpointError, DownloadError, TrainingDiverged):
        assert issubclass(error, UsageError), error
    with pytest.raises(ConfigError, match="epochs=0 must be a positive integer"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="dynamics_steps=2.5 must be a whole number of steps >= 0"):
        TrainConfig(dynamics_steps=2.5)
    with pytest.raises(ConfigError, match="dynamics_steps=-1 must be a number >= 0"):
        TrainConfig(dynamics_steps=-1)
    with pytest.raises(ConfigError, match="cooldown_steps=True must be a whole number of steps >= 0"):
        TrainConfig(cooldown_steps=True)
    assert isinstance(ConfigError("x"), ValueError)     # what a library user would catch


class FakeStream:
    def __init__(self, tty):
        self.tty, self.text = tty, []

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass


def test_progress_off_a_terminal_is_a_few_plain_lines_per_epoch():
    stream = FakeStream(tty=False)
    bar = train_mod.Progress(200, "epoch 1/3", stream=stream)
    for done in range(1, 201):
        bar.update(done, lambda: {"loss": "0.1234"})
    bar.close()
    lines = "".join(stream.text).splitlines()
    assert lines == [f"epoch 1/3: step {k}/200  loss 0.1234" for k in (50, 100, 150)]
    assert "\r" not in "".join(stream.text)


def test_progress_on_a_terminal_is_a_live_bar():
    pytest.importorskip("tqdm")
    stream = FakeStream(tty=True)
    bar = train_mod.Progress(200, "epoch 1/3", stream=stream)
    for done in range(1, 201):
        bar.update(done, lambda: {"loss": "0.1234"})
    bar.close()
    assert "\r" in "".join(stream.text) and "loss=0.1234" in "".join(stream.text)


def test_a_logged_training_run_writes_few_progress_lines(data, tmp_path, capsys):
    fit(SMALL, small_train_config(epochs=2), data, tmp_path, progress=True, log=print)
    err = capsys.readouterr().err          # not a terminal under pytest
    assert len(err.splitlines()) == 2 * 3 and "\r" not in err


# --- training dynamics -------------------------------------------------------------------
def tiny_vit_with_gradients(x, y, optimizer_cls=None, **opt_kw):
    from numpyvit.training.dynamics import TrainingDynamics
    model = VisionTransformer(ViTConfig.from_dict(SMALL), seed=0)
    dynamics = TrainingDynamics(model, x[:4], every=1)
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(x), y)
    model.zero_grad()
    model.backward(loss_fn.backward())
    return model, dynamics


def group_norm(arrays):
    return float(np.sqrt(sum(np.sum(np.asarray(a, dtype=np.float64) ** 2) for a in arrays)))


def test_recorded_gradient_norm_per_group_equals_one_computed_by_hand(data):
    model, dynamics = tiny_vit_with_gradients(normalize(data[0][:8]), data[1][:8])
    dynamics.gradients(0)
    dynamics.updated(0)                        # no optimiser step: every update ratio is 0
    row = dynamics.end_period(epoch=1)
    attn = model.blocks[0].attn
    by_hand = group_norm([attn.qkv.grads["weight"], attn.qkv.grads["bias"],
                          attn.proj.grads["weight"], attn.proj.grads["bias"]])
    assert row["grad_norm"]["blocks.0.attn"] == pytest.approx(by_hand, rel=1e-6)
    by_hand = group_norm([model.grads["cls_token"], model.grads["pos_embed"]])
    assert row["grad_norm"]["cls/pos"] == pytest.approx(by_hand, rel=1e-6)
    assert row["update_ratio"]["blocks.0.attn"] == 0.0 and row["samples"] == 1
    assert row["clip_fraction"] is None        # no norm was passed: clipping was not measured


def test_recorded_update_ratio_of_a_known_sgd_step(data):
    # plain SGD moves w by exactly lr * g, so the ratio of a group is lr |g| / |w|
    from numpyvit.training.optim import SGD
    model, dynamics = tiny_vit_with_gradients(normalize(data[0][:8]), data[1][:8])
    mlp = model.blocks[0].mlp
    arrays = [(m.params[k].copy(), m.grads[k].copy()) for m in (mlp.fc1, mlp.fc2) for k in ("weight", "bias")]
    expected = 0.1 * group_norm([g for _, g in arrays]) / group_norm([w for w, _ in arrays])
    dynamics.gradients(0)
    SGD(model, lr=0.1, momentum=0.0).step()
    dynamics.updated(0, norm=2.0, max_norm=1.0)
    row = dynamics.end_period(epoch=1)
    assert row["update_ratio"]["blocks.0.mlp"] == pytest.approx(expected, rel=1e-4)
    assert (row["clip_fraction"], row["grad_norm_mean"], row["grad_norm_max"]) == (1.0, 2.0, 2.0)


def test_only_every_nth_step_is_sampled(data):
    from numpyvit.training.dynamics import TrainingDynamics
    dynamics = TrainingDynamics(VisionTransformer(ViTConfig.from_dict(SMALL)), normalize(data[0][:2]), every=4)
    assert [s for s in range(12) if dynamics.sampled(s)] == [2, 6, 10]


def test_entropy_of_uniform_attention_is_ln_n_and_of_one_hot_attention_zero(data):
    from numpyvit.training.dynamics import TrainingDynamics, attention_entropy
    assert attention_entropy(np.full((2, 3, 5, 5), 0.2)) == pytest.approx(np.log(5), rel=1e-12)
    assert attention_entropy(np.broadcast_to(np.eye(5), (2, 3, 5, 5))) == 0.0
    # zero queries and keys: every score is 0, every attention row uniform over N = 17 tokens
    model = VisionTransformer(ViTConfig.from_dict({**SMALL, "depth": 2}), seed=0)
    for block in model.blocks:
        block.attn.qkv.params["weight"][:2 * 16] = 0.0
        block.attn.qkv.params["bias"][:2 * 16] = 0.0
    row = TrainingDynamics(model, normalize(data[0][:4]), every=1).end_period(epoch=1)
    assert row["attn_entropy"] == pytest.approx([np.log(17)] * 2, rel=1e-6)
    assert row["attn_entropy_uniform"] == pytest.approx(np.log(17))
    assert model.training                      # measured in eval mode, then put back


def test_a_resnet_records_dynamics_without_attention(tmp_path):
    from numpyvit.models.resnet import ResNetConfig
    x, y = synthetic_digits(320, seed=0)
    config = ResNetConfig(widths=(4, 8), blocks_per_stage=(1, 1)).to_dict()
    fit(config, small_train_config(epochs=1), (x[:256], y[:256], x[256:], y[256:]), tmp_path, kind="resnet",
        progress=False, log=lambda s: None)
    (row,) = read_jsonl(tmp_path / "dynamics.jsonl")
    assert row["attn_entropy"] == [] and "layer1.0.conv" in row["grad_norm"]


def test_cli_workers_flag_reaches_the_net_the_trainer_runs(data, tmp_path, monkeypatch, capsys):
    import numpyvit.data.datasets as datasets
    import numpyvit.parallel.data_parallel as dp
    monkeypatch.setattr(datasets, "load_dataset", lambda name, data_dir=None: data)
    made = []

    class Recording(dp.DataParallel):
        def __init__(self, model, workers=None, start_method=None):
            made.append(workers)
            super().__init__(model, workers, start_method)

    monkeypatch.setattr(dp, "DataParallel", Recording)
    args = ["train", "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "64", "--dim", "16",
            "--depth", "1", "--heads", "2", "--mlp-dim", "32", "--no-progress", "--workers", "2"]
    assert main(args) == 0, capsys.readouterr().err
    assert made == [2] and load_checkpoint(tmp_path / "run")["train"]["workers"] == 2
    assert (tmp_path / "run" / "curves.png").exists() and (tmp_path / "run" / "dynamics.png").exists()


def test_train_continues_a_run_in_memory_as_one_longer_call_would(data, tmp_path):
    # an experiment lengthens a run by calling train again with the state it returned; at a
    # constant rate (the data-scale experiment's) the schedule does not depend on the length
    constant = dict(lr=3e-3, min_lr=3e-3)
    whole = build_model("vit", SMALL, seed=0)
    train(whole, small_train_config(epochs=2, **constant), data, tmp_path / "a", progress=False, log=lambda s: None)
    model = build_model("vit", SMALL, seed=0)
    state = train(model, small_train_config(epochs=1, **constant), data, tmp_path / "b", progress=False,
                  log=lambda s: None)
    assert state.epoch == 1
    state = train(model, small_train_config(epochs=2, **constant), data, tmp_path / "b", state=state,
                  progress=False, log=lambda s: None)
    assert [m["epoch"] for m in state.metrics] == [1, 2]
    for name, value in weights(whole).items():
        assert np.array_equal(value, weights(model)[name]), name
    drop = {"dynamics_s"}
    assert read_jsonl(tmp_path / "b" / "dynamics.jsonl", drop=drop) == read_jsonl(tmp_path / "a" / "dynamics.jsonl", drop=drop)
    again = train(model, small_train_config(epochs=2, **constant), data, tmp_path / "b", state=state,
                  progress=False, log=lambda s: None)
    assert again is state and len(state.metrics) == 2          # nothing left to train: returned as it is


# --- CutMix in the trainer ----------------------------------------------------------------------
@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_cutmix_share_outside_0_1_is_a_config_error_naming_cutmix(share):
    from numpyvit.errors import ConfigError
    with pytest.raises(ConfigError, match=rf"cutmix={share} must be a share of the images, in \[0, 1\]"):
        TrainConfig(cutmix=share)


def test_cutmix_training_resumes_mid_epoch_bit_for_bit(data, uninterrupted, tmp_path, monkeypatch):
    # the epoch's CutMix boxes and partners come from its (seed, epoch) generator, so a run
    # stopped mid-epoch must mix the remaining steps' images exactly as the whole run did
    config = small_train_config(cutmix=1.0)
    whole, metrics = fit(SMALL, config, data, tmp_path / "a", progress=False, log=lambda s: None, workers=1)
    assert [m["epoch"] for m in metrics] == [1, 2] and np.isfinite(metrics[-1]["train_loss"])
    plain_weights, _ = uninterrupted()
    assert any(not np.array_equal(v, weights(whole)[k]) for k, v in plain_weights.items())   # CutMix did something
    stop_interrupting = interrupt_at(monkeypatch, 11)     # epoch 2, step 3 of 8
    with pytest.raises(KeyboardInterrupt):
        fit(SMALL, config, data, tmp_path / "b", progress=False, log=lambda s: None, workers=1)
    stop_interrupting()
    ckpt = load_checkpoint(tmp_path / "b")
    assert (ckpt["train"]["epoch"], ckpt["train"]["step_in_epoch"]) == (1, 4)
    resumed, resumed_metrics = fit(SMALL, config, data, tmp_path / "b", resume=ckpt, progress=False,
                                     log=lambda s: None, workers=1)
    for name, value in weights(whole).items():
        assert np.array_equal(value, weights(resumed)[name]), name
    drop = {"epoch_s", "elapsed_s", "img_per_s"}
    assert ([{k: v for k, v in m.items() if k not in drop} for m in resumed_metrics]
            == [{k: v for k, v in m.items() if k not in drop} for m in metrics])


# --- the weight average (TrainConfig.ema) ----------------------------------------------------------
def test_an_ema_run_reports_the_averaged_weights_and_keeps_both(data, tmp_path):
    model = build_model("vit", SMALL, seed=0)
    with DataParallel(model, 2) as net:
        state = train(net, small_train_config(ema=0.9), data, tmp_path, progress=False, log=lambda s: None)
    metrics = state.metrics
    own_weights = {k: v.copy() for k, v in model.state_dict().items()}     # the model keeps its own
    state.average.copy_to()
    last = metrics[-1]
    assert {"unaveraged_test_acc", "unaveraged_test_loss"} <= set(last)
    assert last["test_loss"] != last["unaveraged_test_loss"]           # two different models were scored
    averaged, own = load_model(tmp_path), load_model(tmp_path, averaged=False)
    for name, value in model.state_dict().items():
        assert np.array_equal(value, averaged.state_dict()[name]), name
        assert np.array_equal(own_weights[name], own.state_dict()[name]), name
    assert any(not np.array_equal(v, own.state_dict()[k]) for k, v in averaged.state_dict().items())
    assert int(load_checkpoint(tmp_path)["average"]["updates"]) == 16   # 2 epochs of 8 steps


def test_an_ema_run_resumes_mid_epoch_with_its_average_bit_for_bit(data, tmp_path, monkeypatch):
    # the average is training state like AdamW's moments: a resumed run that restarted it from
    # the current weights would end with a different model
    config = small_train_config(ema=0.9)
    whole, metrics = fit(SMALL, config, data, tmp_path / "a", progress=False, log=lambda s: None, workers=1)
    stop_interrupting = interrupt_at(monkeypatch, 11)     # epoch 2, step 3 of 8
    with pytest.raises(KeyboardInterrupt):
        fit(SMALL, config, data, tmp_path / "b", progress=False, log=lambda s: None, workers=1)
    stop_interrupting()
    ckpt = load_checkpoint(tmp_path / "b")
    assert int(ckpt["average"]["updates"]) == 12         # the interrupted step finishes first
    resumed, resumed_metrics = fit(SMALL, config, data, tmp_path / "b", resume=ckpt, progress=False,
                                     log=lambda s: None, workers=1)
    for name, value in weights(whole).items():
        assert np.array_equal(value, weights(resumed)[name]), name
    assert resumed_metrics[-1]["test_loss"] == metrics[-1]["test_loss"]


@pytest.mark.parametrize("ema", [1.0, -0.1])
def test_an_ema_decay_outside_0_1_is_a_config_error_naming_ema(ema):
    from numpyvit.errors import ConfigError
    with pytest.raises(ConfigError, match=rf"ema={ema} must be a decay in \[0, 1\)"):
        TrainConfig(ema=ema)


def test_the_long_preset_trains_through_a_weight_average_from_the_command_line(data, tmp_path, monkeypatch, capsys):
    # the preset's fields reach the run (flags still override them), and the run it starts
    # logs the averaged and the unaveraged accuracy
    import numpyvit.data.datasets as datasets
    monkeypatch.setattr(datasets, "load_dataset", lambda name, data_dir=None: data)
    args = ["train", "--preset", "long", "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "64",
            "--dim", "16", "--depth", "1", "--heads", "2", "--mlp-dim", "32", "--no-progress", "--workers", "1"]
    assert main(args) == 0, capsys.readouterr().err
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["train_config"]
    assert stored["ema"] == train_mod.PRESETS["long"][1]["ema"] > 0 and stored["epochs"] == 1
    assert "(unaveraged " in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "run")["average"]
