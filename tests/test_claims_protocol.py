"""The fair-test protocol of the paper's claims: the data-scale runs stop by a validation rule
(data_scale_validation.py), and the deletion test has controls that are not confounded by
blank patches (analysis.inked_deletion_curve, equal_ink_deletion_curve). Each checker has a case
it must reject."""
import json

import numpy as np
import pytest

from numpyvit.experiments import data_scale_validation as dv
from numpyvit.models.resnet import ResNetConfig
from numpyvit.models.vit import ViTConfig
from numpyvit.data.synthetic import synthetic_digits

TINY = {"vit": ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32).to_dict(),
        "resnet": ResNetConfig(widths=(4, 8), blocks_per_stage=(1, 1)).to_dict()}


# --- the stopping rule on synthetic validation curves ------------------------------------------
def test_the_rule_stops_patience_blocks_after_the_last_improvement():
    curve = [1.0, 0.6, 0.4, 0.41, 0.40, 0.42, 0.3]          # best at block 3, then 3 without improving
    blocks, verdict = dv.stopping_block(curve, patience=3, margin=0.01, max_blocks=40)
    assert blocks == 6 and verdict == {"stop": True, "converged": True, "best": 3, "since": 3}
    # negative: one block fewer of patience has not stopped yet
    assert not dv.early_stop(curve[:5], patience=3, margin=0.01)["stop"]


def test_a_curve_still_improving_at_the_cap_is_not_converged():
    falling = [1.0 * 0.9 ** k for k in range(12)]
    blocks, verdict = dv.stopping_block(falling, patience=3, margin=0.01, max_blocks=8)
    assert blocks == 8 and verdict["stop"] and not verdict["converged"] and verdict["best"] == 8
    # negative: the same curve flattening before the cap converges there
    flat = falling[:4] + [falling[3]] * 8
    blocks, verdict = dv.stopping_block(flat, patience=3, margin=0.01, max_blocks=8)
    assert blocks == 7 and verdict["converged"] and verdict["best"] == 4


def test_an_improvement_smaller_than_the_margin_does_not_reset_patience():
    creeping = [1.0, 0.996, 0.993, 0.991]     # under 1% below the best (1.0) at every block
    verdict = dv.early_stop(creeping, patience=3, margin=0.01)
    assert verdict["converged"] and verdict["best"] == 1
    # negative: with no margin each of them is an improvement and the run goes on
    verdict = dv.early_stop(creeping, patience=3, margin=0.0)
    assert not verdict["stop"] and verdict["best"] == 4
    # patience is respected: a rise then a new best by more than the margin resets the count
    assert not dv.early_stop([1.0, 1.1, 1.2, 0.5], patience=3, margin=0.01)["stop"]
    assert dv.early_stop([1.0, 1.1, 1.2, 1.3], patience=3, margin=0.01)["converged"]


def test_the_rule_refuses_a_curve_it_cannot_judge():
    with pytest.raises(ValueError, match="no validation losses"):
        dv.early_stop([])
    with pytest.raises(ValueError, match=r"\[nan\] are not finite"):
        dv.early_stop([1.0, float("nan")])


# --- the validation split --------------------------------------------------------------------
def test_the_validation_split_is_class_balanced_disjoint_and_inside_the_subset():
    from numpyvit.data.prepare import class_balanced_subset
    labels = np.repeat(np.arange(10), 300)[np.random.default_rng(0).permutation(3000)]
    fit, val = dv.validation_split(labels, 1000, seed=0)
    assert len(val) == 200 and len(fit) == 800                  # n = 1,000: 200 held out
    assert not set(fit) & set(val)
    assert set(fit) | set(val) == set(class_balanced_subset(labels, 1000, 0))   # the first protocol's subset
    assert np.bincount(labels[val], minlength=10).tolist() == [20] * 10
    assert np.bincount(labels[fit], minlength=10).tolist() == [80] * 10
    again_fit, again_val = dv.validation_split(labels, 1000, seed=0)
    assert np.array_equal(again_val, val) and np.array_equal(again_fit, fit)   # seeded
    assert not np.array_equal(dv.validation_split(labels, 1000, seed=1)[1], val)
    assert dv.val_size(60000) == 6000 and dv.val_size(4000) == 400


def test_a_subset_too_small_to_split_is_refused():
    with pytest.raises(ValueError, match="too small to hold out a validation split of 200"):
        dv.val_size(200)


def test_resnet_flops_match_the_documented_11_mflop():
    assert dv.resnet_forward_flops(ResNetConfig()) == pytest.approx(11.08e6, rel=1e-3)
    assert dv.train_flops_per_image("vit", ViTConfig().to_dict()) == pytest.approx(21.69e6, rel=1e-3)


# --- a tiny end-to-end run -------------------------------------------------------------------
def _data(test_seed=1):
    x, y = synthetic_digits(800, seed=0)
    xt, yt = synthetic_digits(100, seed=test_seed)
    return x, y, xt, yt


KW = dict(sizes=(600,), models=("vit", "resnet"), seeds=(0,), batch_size=50, model_configs=TINY,
          progress=False, log=lambda s: None, block_steps=4, patience=2, max_blocks=5)


def test_tiny_validation_run_follows_the_rule_and_records_its_compute(tmp_path):
    rows = dv.data_scale_validation(_data(), tmp_path, **KW)
    assert [r["model"] for r in rows] == ["vit", "resnet"]
    table = dv.read_results(tmp_path / dv.RESULTS)
    assert len(table) == 2 and set(dv.FIELDS) <= set(table[0])
    assert any(r["best_block"] < r["blocks"] for r in rows)     # the best block was restored, not the last
    for r in rows:
        losses = json.loads(r["val_losses"])
        assert len(losses) == r["blocks"] == len(json.loads(r["val_accs"]))
        verdict = dv.early_stop(losses, patience=2, margin=dv.MARGIN, max_blocks=5)
        assert verdict["stop"] and r["converged"] == verdict["converged"] and r["best_block"] == verdict["best"]
        assert not dv.early_stop(losses[:-1], patience=2, margin=dv.MARGIN, max_blocks=5)["stop"]  # the first stop
        assert r["stopped_by"] == ("patience" if r["converged"] else "cap")
        assert (r["fit_size"], r["val_size"]) == (400, 200)      # n = 600: VAL_MIN held out
        assert r["steps"] == (r["best_block"] + 1) * r["block_steps"]          # best block + cool-down
        assert r["steps_spent"] == (r["blocks"] + 1) * r["block_steps"]
        assert r["images_seen"] == r["steps_spent"] * 50
        assert r["train_flops"] == r["images_seen"] * r["train_flops_per_image"]
        run = tmp_path / f"val-{r['model']}-n600-s0"
        metrics = [json.loads(line) for line in
                   (run / f"cooldown-from-block{r['best_block']}" / "metrics.jsonl").read_text().splitlines()]
        assert metrics[-1]["lr"] < 0.5 * metrics[-2]["lr"]                     # it cooled down
        search = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        per_block = len(search) // r["blocks"]
        assert len(metrics) == (r["best_block"] + 1) * per_block               # from the best block on,
        assert metrics[:r["best_block"] * per_block] == search[:r["best_block"] * per_block]   # not the last
        assert abs(metrics[-1]["test_loss"] - r["val_loss"]) < 1e-12          # the trainer scored validation


def test_a_capped_run_is_marked_not_converged(tmp_path):
    rows = dv.data_scale_validation(_data(), tmp_path, **{**KW, "models": ("vit",), "max_blocks": 1})
    assert rows[0]["blocks"] == 1 and not rows[0]["converged"] and rows[0]["stopped_by"] == "cap"
    assert dv.converged_rows(dv.read_results(tmp_path / dv.RESULTS)) == []     # no verdict from it


def test_the_test_set_decides_nothing(tmp_path):
    """Two experiments on different test sets take the same blocks, the same validation curve and
    the same best block; only their test scores differ."""
    kw = {**KW, "models": ("vit",)}
    a = dv.data_scale_validation(_data(test_seed=1), tmp_path / "a", **kw)[0]
    b = dv.data_scale_validation(_data(test_seed=2), tmp_path / "b", **kw)[0]
    same = ("blocks", "best_block", "val_losses", "val_accs", "val_loss", "train_acc", "converged")
    assert {k: a[k] for k in same} == {k: b[k] for k in same}
    assert a["test_loss"] != b["test_loss"]       # negative: the test set was scored, and it differed


@pytest.mark.parametrize("where", ["search", "cool-down"])
def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch, where):
    from numpyvit.training import trainer
    kw = {**KW, "models": ("vit",), "margin": 0.0}        # no margin: the tiny model's small gains count
    whole = dv.data_scale_validation(_data(), tmp_path / "whole", **kw)[0]
    assert whole["best_block"] > 1                         # read back, best.npz is a later block than the first
    # killed mid-block: in the first block, or in the cool-down (every search block done)
    stop_after = 7 if where == "search" else whole["blocks"] * whole["block_steps"] + 3
    calls = {"n": 0}
    real = trainer.train_step

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > stop_after:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(trainer, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dv.data_scale_validation(_data(), tmp_path / "cut", **kw)
    monkeypatch.setattr(trainer, "train_step", real)
    resumed = dv.data_scale_validation(_data(), tmp_path / "cut", **kw)[0]
    for k in ("blocks", "best_block", "val_losses", "test_acc", "test_loss", "steps_spent"):
        assert resumed[k] == whole[k], k
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "cut").rglob("*.npz")}
    again = dv.data_scale_validation(_data(), tmp_path / "cut", **kw)[0]      # done: read back, not retrained
    assert again["test_acc"] == whole["test_acc"]
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cut").rglob("*.npz")} == stamps


def test_the_runs_train_on_the_dataset_named_with_its_recipe(tmp_path):
    from numpyvit.training.trainer import FASHION_PRESETS
    dv.data_scale_validation(_data(), tmp_path, **{**KW, "models": ("vit",)}, dataset="fashion-mnist")
    stored = json.loads((tmp_path / "val-vit-n600-s0" / "config.json").read_text())["train_config"]
    clothes = FASHION_PRESETS["default"][1]
    assert stored["dataset"] == "fashion-mnist" and stored["flip"] == clothes["flip"] == 0.5
    assert json.loads((tmp_path / "val-vit-n600-s0" / "split.json").read_text())["dataset"] == "fashion-mnist"
    # negative: the same folder asked for MNIST is another run, refused
    with pytest.raises(ValueError, match="another split"):
        dv.data_scale_validation(_data(), tmp_path, **{**KW, "models": ("vit",)}, dataset="mnist")


def test_a_folder_on_another_split_is_refused(tmp_path):
    kw = {**KW, "models": ("vit",)}
    dv.data_scale_validation(_data(), tmp_path, **kw)
    split = tmp_path / "val-vit-n600-s0" / "split.json"
    record = json.loads(split.read_text())
    split.write_text(json.dumps({**record, "validation_sha256": "0" * 64}))
    with pytest.raises(ValueError, match="holds a run on another split"):
        dv.data_scale_validation(_data(), tmp_path, **kw)


# --- deletion controls -------------------------------------------------------------------------
from numpyvit.insight import analysis as an


@pytest.fixture(scope="module")
def digits():
    """Synthetic digits (raw, background 0), their ink per patch-7 patch and which patches hold ink."""
    x, y = synthetic_digits(60, seed=3)
    ink = an.ink_per_patch(x, 7)
    return x, y, ink, ink > an.INK_LEVEL


def test_inked_deletion_never_blanks_a_blank_patch(digits):
    x, _, ink, inked = digits
    assert (~inked).any() and inked.any()                   # both kinds of patch are there to choose from
    scores = np.random.default_rng(0).random(ink.shape)     # a map that likes blank patches as much as inked
    for order in ("high", "low", "random"):
        for fraction in (0.25, 0.5, 1.0):
            mask = an.inked_deletion_masks(scores, inked, fraction, order, rng=np.random.default_rng(1))
            assert not (mask & ~inked).any()
            assert mask.sum(axis=1).tolist() == np.rint(fraction * inked.sum(axis=1)).astype(int).tolist()
    # 'low' among inked patches takes the least-inked of them, not the blank ones
    mask = an.inked_deletion_masks(ink, inked, 0.25, "low")
    assert (ink[mask] > an.INK_LEVEL).all()


def test_a_control_that_blanks_blank_patches_is_caught(digits):
    _, _, ink, inked = digits
    ranking = an.deletion_ranking(ink, "low")               # today's ranking over all patches: blank ones first
    k = 4
    planted = np.zeros_like(inked)
    np.put_along_axis(planted, ranking[:, :k], True, axis=1)
    with pytest.raises(ValueError, match="patches without ink .* among those to blank"):
        an.check_only_inked(planted, inked)
    an.check_only_inked(planted & inked, inked)             # the same without its blank patches passes


def _ink_removed(raw, factors, patch_size):
    """Share of each image's ink that dim_patches(factors) removed, measured on the pixels."""
    before = raw.astype(np.float64)[:, None]
    after = an.dim_patches(before, factors, patch_size, 0.0)
    return 1 - after.sum(axis=(1, 2, 3)) / before.sum(axis=(1, 2, 3))


def test_equal_ink_deletion_removes_the_stated_share_of_ink(digits):
    x, _, ink, _ = digits
    rng = np.random.default_rng(0)
    for order, scores in (("high", ink), ("low", ink), ("random", ink), ("high", rng.random(ink.shape))):
        ranking = an.deletion_ranking(scores, order, rng=rng)
        for share in (0.0, 0.1, 0.3, 0.5, 0.75, 1.0):
            factors = an.equal_ink_factors(ink, ranking, share)
            assert ((0 <= factors) & (factors <= 1)).all()
            assert np.abs(_ink_removed(x, factors, 7) - share).max() < 1e-6, (order, share)
    # negative: whole patches only (the partial one rounded up) overshoot the share, and the check sees it
    factors = np.ceil(an.equal_ink_factors(ink, an.deletion_ranking(ink, "high"), 0.3))
    assert np.abs(_ink_removed(x, factors, 7) - 0.3).max() > 0.05


def test_dimming_a_patch_whole_is_todays_blanking(digits):
    x, _, ink, _ = digits
    images = x[:, None].astype(np.float32) / 255 - 0.5
    top = an.deletion_ranking(ink, "high")[:, :3]
    factors = np.zeros(ink.shape)
    np.put_along_axis(factors, top, 1.0, axis=1)
    blanked = images.copy()
    for b, patches in enumerate(top):                        # each listed patch set to the background
        for i in patches:
            r, c = divmod(int(i), 4)
            blanked[b, :, 7 * r:7 * r + 7, 7 * c:7 * c + 7] = -0.5
    assert np.array_equal(an.dim_patches(images, factors, 7, -0.5), blanked)


def test_the_control_curves_on_a_model(digits):
    from numpyvit.models.vit import VisionTransformer
    x, y, ink, inked = digits
    model = VisionTransformer(ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32), seed=0)
    images = x[:, None].astype(np.float32) / 255
    plain = float(np.mean(model.eval().forward(images).argmax(1) == y))
    curves = {}
    for order in ("high", "low", "random"):
        acc, blanked = an.inked_deletion_curve(model, images, y, ink, inked, (0, 0.5, 1), 0.0, order,
                                               rng=np.random.default_rng(0))
        assert acc[0] == plain and blanked[0] == 0 and blanked[-1] == inked.sum(axis=1).mean()
        curves[order] = acc
        acc, touched = an.equal_ink_deletion_curve(model, images, y, ink, ink, (0, 0.5), 0.0, order,
                                                   rng=np.random.default_rng(0))
        assert acc[0] == plain and touched[0] == 0 and touched[1] > 0
    assert len({c[-1] for c in curves.values()}) == 1      # every inked patch blanked: the orders agree


def test_the_controls_figure_refuses_a_result_written_before_the_controls():
    from numpyvit.insight.plots import plot_deletion_controls
    old = {"patch": 7, "grid": 4, "images": 10, "deletion": {}}      # today's rollout.json has no controls yet
    with pytest.raises(ValueError, match=r"lacks keys \['deletion_inked', 'deletion_equal_ink'\]"):
        plot_deletion_controls([old])
