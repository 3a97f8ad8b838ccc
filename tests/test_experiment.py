"""The experiments that test the paper's claims, in tiny versions: they run, write their result
files, resume, and their rules (plateau, depth trend, the ResNet's receptive field) are right."""
import csv
import json
import os

import numpy as np
import pytest

from numpyvit.experiments import data_scale as ds
from numpyvit.experiments.attention_distance import depth_trend, uniform_square_distance
from numpyvit.models.resnet import ResNet, ResNetConfig, receptive_fields
from numpyvit.models.vit import ViTConfig
from numpyvit.data.synthetic import synthetic_digits

TINY = {"vit": ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32).to_dict(),
        "vit-p4": ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32, patch_size=4).to_dict(),
        "resnet": ResNetConfig(widths=(4, 8), blocks_per_stage=(1, 1)).to_dict()}


def test_plateau_rule_stops_after_a_block_that_improves_less_than_ten_percent():
    assert not ds.plateaued([2.0])                          # one block: nothing to compare
    assert not ds.plateaued([2.0, 1.0])                     # halved: keep going
    assert ds.plateaued([1.0, 0.95])                        # 5% lower: plateau
    assert not ds.plateaued([1.0, 0.89])                    # 11% lower: keep going
    assert ds.plateaued([0.05, 0.035])                      # 30% lower, but by only 0.015: plateau
    assert not ds.plateaued([0.12, 0.09])                   # 25% and 0.03 lower: keep going
    assert ds.block_losses([{"train_loss": v} for v in (4, 2, 1, 1, 9)], 2) == [3.0, 1.0]


def test_a_block_is_the_fewest_whole_epochs_holding_the_block_steps():
    assert ds.block_epochs(1000, 128, 300) == (43, 7)       # 7 steps an epoch: 43 epochs, 301 steps
    assert ds.block_epochs(60000, 128, 300) == (1, 468)
    cfg = ds.run_config(60000, 3, 128, 0, {}, 300)
    assert cfg.epochs == 3 and cfg.min_lr == cfg.lr        # a constant rate after the warm-up
    assert round(cfg.warmup_epochs * 468) == ds.WARMUP_STEPS


def _data():
    x, y = synthetic_digits(700, seed=0)
    return x[:600], y[:600], x[600:], y[600:]


def test_tiny_data_scale_experiment_writes_results_and_resumes(tmp_path):
    kwargs = dict(sizes=(100, 300), models=("vit", "resnet"), seeds=(0,), batch_size=50, model_configs=TINY,
                  progress=False, log=lambda s: None, block_steps=4)
    rows = ds.data_scale(_data(), tmp_path, **kwargs)
    assert [(r["model"], r["train_size"]) for r in rows] == [("vit", 100), ("resnet", 100), ("vit", 300), ("resnet", 300)]
    with open(tmp_path / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4 and set(ds.FIELDS) <= set(table[0])
    for r in rows:                                         # the rule was followed: a plateau or the cap
        losses = json.loads(r["block_losses"])
        assert len(losses) == r["blocks"] and (ds.plateaued(losses) or r["blocks"] == ds.MAX_BLOCKS)
        assert r["plateaued"] == ds.plateaued(losses)
        assert 0 <= r["train_acc"] <= 1 and r["train_loss"] > 0
        assert r["cooldown_steps"] == r["steps"] // (r["blocks"] + 1)   # one more block, cooling down
        metrics = [json.loads(line) for line in (tmp_path / f"{r['model']}-n{r['train_size']}-s0" / "metrics.jsonl")
                   .read_text().splitlines()]
        assert metrics[-1]["lr"] < 0.5 * metrics[-1 - len(metrics) // (r["blocks"] + 1)]["lr"]   # it did cool down
    assert not (tmp_path / "data_scale.png").exists()      # experiments draw nothing; the CLI does
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/last.npz")}
    again = ds.data_scale(_data(), tmp_path, **kwargs)     # every run finished: nothing is trained again
    assert [r["test_acc"] for r in again] == [r["test_acc"] for r in rows]
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/last.npz")} == stamps


def test_a_folder_holding_another_run_is_refused_not_overwritten(tmp_path):
    kwargs = dict(sizes=(100,), models=("vit",), seeds=(0,), batch_size=50, model_configs=TINY,
                  progress=False, log=lambda s: None, block_steps=4)
    ds.data_scale(_data(), tmp_path, **kwargs)
    with pytest.raises(ValueError, match="another config"):
        ds.data_scale(_data(), tmp_path, **kwargs, train_overrides={"lr": 1e-3})


def test_sizes_and_models_are_checked(tmp_path):
    x, y = synthetic_digits(200, seed=0)
    data = x[:150], y[:150], x[150:], y[150:]
    with pytest.raises(ValueError, match="between 10 and the 150 training images"):
        ds.data_scale(data, tmp_path, sizes=(1000,), progress=False)
    with pytest.raises(ValueError, match="expected some of vit, vit-p4, resnet"):
        ds.data_scale(data, tmp_path, sizes=(100,), models=("vit-p3",), progress=False)


def test_error_ratios_divide_the_seed_means():
    rows = [{"model": m, "train_size": n, "test_error": e, "seed": s}
            for m, n, e, s in [("vit", 10, 0.2, 0), ("vit", 10, 0.4, 1), ("resnet", 10, 0.1, 0), ("resnet", 10, 0.1, 1)]]
    assert ds.error_ratios(rows) == {"vit": {10: pytest.approx(3.0)}}


def test_depth_trend_needs_both_rank_order_and_size():
    assert depth_trend([1, 2, 3, 4, 5, 9], 1.4)[0] == "grows"
    assert depth_trend([9, 5, 4, 3, 2, 1], 1.4)[0] == "falls"
    assert depth_trend([1, 1.2, 1.3, 1.4, 1.5, 1.6], 1.4)[0] == "flat"     # ordered, but 0.6 px in all
    assert depth_trend([1, 9, 1, 9, 1, 9], 1.4)[0] == "flat"               # a big change, no order


def test_uniform_square_distance_matches_sampling():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.5, 0.5, size=(400_000, 2)) * 10
    assert uniform_square_distance(10) == pytest.approx(np.hypot(*pts.T).mean(), rel=2e-3)


@pytest.mark.parametrize("stem_stride", [1, 2])
def test_receptive_fields_match_the_input_gradient_of_one_unit(stem_stride):
    """The field is where the input gradient of one central output unit is non-zero: measured
    by the ResNet's own backward pass on a 96 px image (large enough for no clipping)."""
    config = ResNetConfig(image_size=96, stem_stride=stem_stride)
    model = ResNet(config, seed=0, dtype=np.float64).eval()
    x = np.random.default_rng(0).standard_normal((1, 1, 96, 96))
    fields = receptive_fields(config)
    for stage, expected in enumerate(fields[:2]):
        out = model.relu.forward(model.bn1.forward(model.conv1.forward(x)))
        blocks = [b for name in model.stage_names[:stage + 1] for b in getattr(model, name)]
        for b in blocks:
            out = b.forward(out)
        dout = np.zeros_like(out)
        dout[0, :, out.shape[2] // 2, out.shape[3] // 2] = 1.0   # every channel of the centre unit
        dx = dout
        for b in reversed(blocks):
            dx = b.backward(dx)
        dx = model.conv1.backward(model.bn1.backward(model.relu.backward(dx)))
        rows, cols = np.nonzero(np.abs(dx[0, 0]) > 0)
        assert rows.max() - rows.min() + 1 == expected and cols.max() - cols.min() + 1 == expected
    assert receptive_fields(ResNetConfig()) == [19, 47, 103]


# --- the command line: `python -m numpyvit experiment <name> --quick` -------------------------------
# --quick keeps the experiments' default models, which on this 2-core machine take minutes
# (the patch-2 ViT alone about a minute per run); these tests swap in tiny models through the
# experiments' own model tables and keep everything else: MNIST read from IDX files in a
# --data-dir, every run trained, analysed and drawn by numpyvit.cli.main.

TINY_VIT = {"dim": 16, "depth": 2, "heads": 2, "mlp_dim": 32}


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """Synthetic digits written as the four MNIST IDX files, and their hashes in place of the
    real ones (load_mnist checks every file): the CLI reads them without the network."""
    import hashlib
    from numpyvit.data import mnist
    from test_data import idx_bytes
    x, y = synthetic_digits(800, seed=0)
    arrays = {"train-images-idx3-ubyte": x[:600], "train-labels-idx1-ubyte": y[:600],
              "t10k-images-idx3-ubyte": x[600:], "t10k-labels-idx1-ubyte": y[600:]}
    folder = tmp_path_factory.mktemp("mnist")
    hashes = {}
    for name, a in arrays.items():
        raw = idx_bytes(a)
        (folder / name).write_bytes(raw)
        hashes[name] = hashlib.sha256(raw).hexdigest()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mnist, "MNIST_FILES", hashes)
        yield folder


def experiment(name, out, data_dir, *flags):
    from numpyvit.cli import main
    return main(["experiment", name, "--quick", "--no-progress", "--workers", "1", "--out", str(out),
                 "--data-dir", str(data_dir), *flags])


@pytest.fixture(scope="module")
def attention_distance_run(mnist_dir, tmp_path_factory):
    """One quick attention-distance experiment of tiny ViTs: (exit code, its folder)."""
    from numpyvit.experiments import attention_distance as ad
    out = tmp_path_factory.mktemp("attention-distance")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ad, "ViTConfig", lambda patch_size: ViTConfig(patch_size=patch_size, **TINY_VIT))
        code = experiment("attention-distance", out, mnist_dir)
    return code, out


def test_cli_attention_distance_quick_writes_its_table_summary_and_figure(attention_distance_run):
    code, out = attention_distance_run
    assert code == 0
    for name in ("attention_distance.csv", "attention_distance.json", "attention_distance.png"):
        assert (out / name).stat().st_size > 0, name
    result = json.loads((out / "attention_distance.json").read_text())
    assert [(r["patch"], r["augmentation"]) for r in result["runs"]] == [
        (p, a) for p in (7, 4, 2) for a in ("none", "cutmix")]
    with open(out / "attention_distance.csv") as f:
        assert len(list(csv.DictReader(f))) == 6 * TINY_VIT["depth"] * TINY_VIT["heads"]   # a row per head
    assert all((out / f"p{p}-{a}" / "last.npz").exists() for p in (7, 4, 2) for a in ("none", "cutmix"))
    assert result["longer_runs"] == []


def test_cli_attention_distance_measures_longer_runs_the_same_way(attention_distance_run, mnist_dir):
    code, out = attention_distance_run
    assert code == 0
    from numpyvit.experiments import attention_distance as ad
    # a second call trains nothing (every run is done) and measures an extra run beside them
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ad, "ViTConfig", lambda patch_size: ViTConfig(patch_size=patch_size, **TINY_VIT))
        assert experiment("attention-distance", out, mnist_dir, "--longer", str(out / "p4-none")) == 0
    result = json.loads((out / "attention_distance.json").read_text())
    (extra,) = result["longer_runs"]
    same = next(r for r in result["runs"] if (r["patch"], r["augmentation"]) == (4, "none"))
    assert extra["checkpoint"] == str(out / "p4-none")
    assert extra["layer_mean_px"] == same["layer_mean_px"] and extra["epochs"] == same["epochs"]


def test_cli_rollout_quick_on_the_attention_distance_checkpoints(attention_distance_run, mnist_dir, tmp_path):
    code, runs = attention_distance_run
    assert code == 0
    out = tmp_path / "rollout"
    checkpoints = f"{runs / 'p7-none'},{runs / 'p4-cutmix' / 'last.npz'}"    # a run folder and a file
    assert experiment("rollout", out, mnist_dir, "--checkpoints", checkpoints) == 0
    result = json.loads((out / "rollout.json").read_text())
    assert [m["patch"] for m in result["models"]] == [7, 4] and result["images"] == 100
    for name in ("rollout.json", "deletion_curves.png", "deletion_controls.png", "rollout_controls_p7.png",
                 "rollout_controls_p4.png"):
        assert (out / name).stat().st_size > 0, name
    for m in result["models"]:        # the controls beside today's curves, one point per share, every order
        inked, equal = m["deletion_inked"], m["deletion_equal_ink"]
        for order in ("high", "random", "low", "ink"):
            assert len(inked[order]) == len(inked["fraction_of_inked"]) and inked[order][0] == m["accuracy"]
            assert len(equal[order]) == len(equal["ink_share"]) and equal[order][0] == m["accuracy"]
        assert len({inked[o][-1] for o in ("high", "random", "low", "ink")}) == 1   # all inked patches gone


def test_cli_data_scale_quick_writes_results_and_figure(mnist_dir, tmp_path, monkeypatch):
    tiny = {"vit": ("vit", TINY_VIT), "vit-p4": ("vit", {**TINY_VIT, "patch_size": 4}),
            "resnet": ("resnet", {"widths": [4, 8], "blocks_per_stage": [1, 1]})}
    monkeypatch.setattr(ds, "MODELS", tiny)
    assert experiment("data-scale", tmp_path, mnist_dir) == 0
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["train_size"]) for r in rows] == [("vit", "256"), ("vit-p4", "256"), ("resnet", "256")]
    assert (tmp_path / "data_scale.png").stat().st_size > 0


def test_cli_data_scale_validation_protocol_writes_its_own_table(mnist_dir, tmp_path, monkeypatch, capsys):
    from numpyvit.experiments import data_scale_validation as dv
    tiny = {"vit": ("vit", TINY_VIT), "resnet": ("resnet", {"widths": [4, 8], "blocks_per_stage": [1, 1]})}
    monkeypatch.setattr(dv, "MODELS", tiny)
    assert experiment("data-scale", tmp_path, mnist_dir, "--protocol", "validation", "--models", "vit,resnet") == 0
    rows = dv.read_results(tmp_path / dv.RESULTS)
    assert [(r["model"], r["train_size"], r["val_size"]) for r in rows] == [("vit", "600", "200"),
                                                                            ("resnet", "600", "200")]
    assert all(int(r["blocks"]) <= 5 for r in rows)           # --quick caps at 5 blocks
    assert not (tmp_path / "results.csv").exists()            # the plateau protocol's table is not touched
    out = capsys.readouterr().out
    assert "converged by the validation rule" in out
    for r in rows:
        assert (r["converged"] == "True") == ("not converged: " + r["model"] not in out)


@pytest.mark.parametrize("flags, message", [
    (("rollout", "--protocol", "validation"), "--protocol and --max-blocks are data-scale's flags, not rollout's"),
    (("data-scale", "--max-blocks", "9"), "--max-blocks is the validation protocol's cap: it needs --protocol validation"),
])
def test_cli_validation_flags_out_of_place_are_one_line_and_exit_2(mnist_dir, tmp_path, capsys, flags, message):
    assert experiment(flags[0], tmp_path, mnist_dir, *flags[1:]) == 2
    assert capsys.readouterr().err.strip() == f"numpyvit experiment: error: {message}"


def test_cli_unknown_model_name_is_one_line_and_exit_2(mnist_dir, tmp_path, capsys):
    assert experiment("data-scale", tmp_path, mnist_dir, "--models", "vit,vit-p3") == 2
    err = capsys.readouterr().err
    assert err.strip() == ("numpyvit experiment: error: --models='vit,vit-p3': expected a comma-separated "
                           "list of vit, vit-p4, resnet")
    assert not (tmp_path / "results.csv").exists()


def test_cli_rollout_of_a_resnet_checkpoint_is_exit_2(mnist_dir, tmp_path, capsys):
    from numpyvit.training.checkpoint import save_checkpoint
    path = save_checkpoint(tmp_path / "resnet.npz", ResNet(ResNetConfig(widths=(4, 8), blocks_per_stage=(1, 1))))
    assert experiment("rollout", tmp_path / "out", mnist_dir, "--checkpoints", str(path)) == 2
    err = capsys.readouterr().err
    assert "holds a resnet: rollout needs a ViT checkpoint" in err and len(err.strip().splitlines()) == 1


def test_results_of_separate_calls_add_up_to_one_table(tmp_path):
    kwargs = dict(models=("vit",), batch_size=50, model_configs=TINY, progress=False, log=lambda s: None,
                  block_steps=4)
    ds.data_scale(_data(), tmp_path, sizes=(100,), seeds=(0,), **kwargs)
    ds.data_scale(_data(), tmp_path, sizes=(100, 200), seeds=(1,), **kwargs)
    ds.data_scale(_data(), tmp_path, sizes=(100,), seeds=(0,), **kwargs)      # redone: replaced, not doubled
    with open(tmp_path / "results.csv") as f:
        table = [(r["seed"], r["train_size"]) for r in csv.DictReader(f)]
    assert table == [("0", "100"), ("1", "100"), ("1", "200")]
