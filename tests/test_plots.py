"""Every figure builds from a small input, has the axes it should, and saves as a PNG."""
import json
import matplotlib

matplotlib.use("Agg")   # headless; plots.py itself needs no backend (no pyplot)

import numpy as np
import pytest
from matplotlib.figure import Figure

from numpyvit import VisionTransformer
from numpyvit.insight.analysis import patch_embed_components
from numpyvit.insight.report import write_analysis
from numpyvit.insight.plots import (_upsample, plot_attention_distance, plot_attention_maps, plot_confusion,
                                    plot_curves, plot_data_scale, plot_deletion_curves, plot_distance_grids,
                                    plot_dynamics, plot_mistakes, plot_patch_components, plot_pos_embed_similarity,
                                    plot_rollout, plot_rollout_controls, plot_sweep, plot_test_error)
from conftest import tiny_config


def random_attention(rng, *shape):
    a = rng.random(shape)
    return a / a.sum(axis=-1, keepdims=True)


def assert_figure_saves(fig, n_axes, tmp_path, name="fig.png"):
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_axes
    path = tmp_path / name
    fig.savefig(path)
    assert path.is_file() and path.stat().st_size > 0


def test_plot_attention_maps_all_and_chosen_panels(rng, tmp_path):
    image = rng.random((8, 8))
    att = random_attention(rng, 3, 2, 5, 5)                     # (L, h, N, N), grid 2
    assert_figure_saves(plot_attention_maps(image, att), 3 * 2 + 1, tmp_path)   # + colour bar
    assert_figure_saves(plot_attention_maps(image, att, layers=[2], heads=[1]), 2, tmp_path)
    with pytest.raises(ValueError, match=r"layers=\[3\]"):
        plot_attention_maps(image, att, layers=[3])


def test_plot_rollout(rng, tmp_path):
    images = rng.integers(0, 256, (3, 8, 8))
    maps = rng.random((3, 2, 2))
    assert_figure_saves(plot_rollout(images, maps, labels=[1, 2, 3]), 2 * 3 + 1, tmp_path)
    with pytest.raises(ValueError, match="not a multiple"):
        plot_rollout(rng.random((3, 9, 9)), maps)


@pytest.mark.parametrize("patch_size,grid", [(None, None), (7, None), (7, 4)])
def test_plot_attention_distance(patch_size, grid, rng, tmp_path):
    fig = plot_attention_distance(rng.uniform(2, 14, (6, 4)), patch_size=patch_size, grid=grid)
    assert_figure_saves(fig, 1, tmp_path)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(legend) == 4 + (patch_size is not None) + (grid is not None and patch_size is not None)


def test_plot_pos_embed_similarity(rng, tmp_path):
    sim = rng.uniform(-0.5, 1, (3, 3, 3, 3))
    fig = plot_pos_embed_similarity(sim, title="fixed")
    assert_figure_saves(fig, 9 + 1, tmp_path)
    assert fig.axes[0].images[0].get_clim() == (pytest.approx(sim.min()), 1)   # shared, data range
    assert plot_pos_embed_similarity(sim, vmin=-1).axes[4].images[0].get_clim() == (-1, 1)
    # tiles are named like the patches everywhere else: 0 to P-1, row by row
    assert [ax.get_title() for ax in fig.axes[:9]] == [f"patch {i}" for i in range(9)]
    np.testing.assert_array_equal(fig.axes[5].images[0].get_array(), sim[1, 2])   # patch 5 = row 1, column 2
    with pytest.raises(ValueError, match="vmin=1"):
        plot_pos_embed_similarity(sim, vmin=1)


@pytest.mark.parametrize("channels", [1, 3])
def test_plot_patch_components_caps_at_k(channels, rng, tmp_path):
    comps, ratios = patch_embed_components(rng.standard_normal((10, channels, 2, 2)))
    n = len(ratios)                                              # min(10, C*2*2)
    assert_figure_saves(plot_patch_components(comps, ratios), n, tmp_path)
    assert_figure_saves(plot_patch_components(comps, ratios, k=3), 3, tmp_path)


def test_plot_curves(tmp_path):
    metrics = [dict(epoch=e, train_loss=1.0 / e, test_loss=1.2 / e, train_acc=0.9 + 0.01 * e,
                    test_acc=None if e == 1 else 0.88 + 0.01 * e) for e in (1, 2, 3)]
    assert_figure_saves(plot_curves(metrics), 2, tmp_path)
    with pytest.raises(ValueError, match="test_acc"):
        plot_curves([dict(epoch=1, train_loss=1.0, test_loss=1.0, train_acc=0.5)])


def test_plot_curves_draws_the_unaveraged_weights_beside_a_weight_average(tmp_path):
    metrics = [dict(epoch=e, train_loss=1.0 / e, test_loss=1.2 / e, train_acc=0.9, test_acc=0.95,
                    unaveraged_test_loss=1.5 / e, unaveraged_test_acc=0.93) for e in (1, 2, 3)]
    fig = plot_curves(metrics)
    assert_figure_saves(fig, 2, tmp_path)
    for ax in fig.axes:
        assert [line.get_label() for line in ax.get_lines()] == [
            "train (augmented, during epoch)", "test, weight average", "test, the optimiser's own weights"]
    np.testing.assert_allclose(fig.axes[1].get_lines()[2].get_ydata(), 0.93)


def test_plot_confusion(tmp_path):
    cm = np.array([[5, 1, 0], [0, 6, 1], [2, 0, 4]])
    fig = plot_confusion(cm, class_names=["a", "b", "c"])
    assert_figure_saves(fig, 2, tmp_path)                        # matrix + colour bar
    assert "78.95%" in fig.axes[0].get_title()                   # 15 of 19 on the diagonal


def test_plot_mistakes_most_confident_first(rng, tmp_path):
    images = rng.random((6, 8, 8))
    labels = np.array([0, 1, 2, 3, 4, 5])
    preds = np.array([0, 2, 2, 1, 4, 0])                         # mistakes at 1, 3, 5
    probs = np.full((6, 6), 0.1)
    probs[[1, 3, 5], preds[[1, 3, 5]]] = [0.5, 0.9, 0.7]
    fig = plot_mistakes(images, labels, preds, probs)
    assert_figure_saves(fig, 3, tmp_path)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["3 \u2192 1 (0.90)", "5 \u2192 0 (0.70)", "1 \u2192 2 (0.50)"]
    assert len(plot_mistakes(images, labels, preds, max_images=2).axes) == 2
    assert_figure_saves(plot_mistakes(images, labels, labels), 1, tmp_path)   # no mistakes


@pytest.mark.parametrize("pos_embed", ["learned", "sincos"])
def test_write_analysis_writes_every_file(pos_embed, rng, tmp_path):
    model = VisionTransformer(tiny_config(pos_embed=pos_embed), seed=0)
    images = rng.integers(0, 256, (5, 8, 8), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1])
    summary = write_analysis(model, images, labels, tmp_path / "out", n_show=3)
    out = tmp_path / "out"
    for name in ("attention_maps.png", "attention_rollout.png", "attention_distance.png",
                 "pos_embed_similarity.png", "patch_embed_components.png", "analysis.npz",
                 "summary.txt"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "summary.txt").read_text() == summary
    assert "layer 2:" in summary and pos_embed in summary
    with np.load(out / "analysis.npz", allow_pickle=False) as arrays:
        assert arrays["distances"].shape == (2, 2)               # (L, h)
        assert arrays["similarity"].shape == (2, 2, 2, 2)        # (g, g, g, g)
        assert arrays["components"].shape == (8, 1, 4, 4)        # min(D=8, C*p*p=16) components
        assert arrays["ratios"].shape == (8,)
        assert arrays["rollout_maps"].shape == (3, 2, 2)         # n_show images
        np.testing.assert_array_equal(arrays["shown_labels"], labels[:3])
        distances, ratios = arrays["distances"], arrays["ratios"]
    numbers = json.loads((out / "analysis.json").read_text())   # the same numbers, and their references
    assert numbers["distance_px"]["layer_mean"] == pytest.approx(distances.mean(axis=1).tolist())
    assert numbers["components"]["top3"] == pytest.approx(ratios[:3].tolist())
    assert numbers["distance_baselines_px"]["self"] == 0 and numbers["distance_baselines_px"]["uniform"] > 0
    assert set(numbers["pos_embed"]["untrained"]) == set(numbers["pos_embed"]["trained"])


def test_plot_data_scale_draws_a_line_per_model_and_shades_seed_ranges(tmp_path):
    one_seed = {"vit": {100: (0.2, 0.2, 0.2, 1), 300: (0.1, 0.1, 0.1, 1)},
                "resnet": {100: (0.1, 0.1, 0.1, 1), 300: (0.05, 0.05, 0.05, 1)}}
    fig = plot_data_scale(one_seed)
    assert_figure_saves(fig, 1, tmp_path)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["vit: test", "resnet: test"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [20, 10])     # percent
    assert not ax.collections                                              # nothing to shade
    two_seeds = {m: {n: (e, e * 0.9, e * 1.1, 2) for n, (e, *_) in d.items()} for m, d in one_seed.items()}
    assert len(plot_data_scale(two_seeds).axes[0].collections) == 2
    train = {"vit": {100: (0.05, 0.05, 0.05, 1), 300: (0.0, 0.0, 0.0, 1)}}   # a perfect fit: drawn at 0.01%
    lines = plot_data_scale(one_seed, train).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["vit: test", "vit: train (own subset)", "resnet: test"]
    np.testing.assert_allclose(lines[1].get_ydata(), [5, 0.01])
    assert lines[1].get_color() == lines[0].get_color()


def test_plot_sweep_has_both_panels_and_every_implementation(tmp_path):
    table = [{"sweep": "batch", "batch": b, "tokens": 16, "impl": impl, "train_img_s": 100.0 * b}
             for b in (32, 64) for impl in ("numpyvit", "pytorch")]
    table += [{"sweep": "patch", "batch": 128, "tokens": t, "impl": "numpyvit", "train_img_s": 1000.0 / t}
              for t in (4, 16, 49)]
    fig = plot_sweep(table)
    assert_figure_saves(fig, 2, tmp_path)
    assert len(fig.axes[0].get_lines()) == 2 and len(fig.axes[1].get_lines()) == 1
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_xdata(), [4, 16, 49])


def dynamics_rows(epochs, layers=2, samples=True):
    groups = ["cls/pos", "patch_embed"] + [f"blocks.{i}.{k}" for i in range(layers) for k in ("norm", "attn", "mlp")] + ["head"]
    return [{"epoch": e, "grad_norm": {g: 0.1 * e for g in groups} if samples else None,
             "update_ratio": {g: 1e-3 / e for g in groups} if samples else None,
             "attn_entropy": [2.5 - 0.1 * e] * layers, "attn_entropy_uniform": float(np.log(17)) if layers else None,
             "clip_fraction": 1 / e, "grad_norm_mean": 1.5 / e, "grad_norm_max": 3.0}
            for e in epochs]


def test_plot_dynamics_has_the_four_panels_and_a_row_per_group(tmp_path):
    fig = plot_dynamics(dynamics_rows([1, 2, 3]))
    # two maps with a colour bar each, entropy, clipping and its right-hand axis
    assert_figure_saves(fig, 2 + 2 + 2 + 1, tmp_path)
    titles = [ax.get_title() for ax in fig.axes]
    for title in ("Gradient norm per group (before clipping)", "Update / weight per step, per group",
                  "Attention entropy per layer (probe batch, eval mode)", "Gradient clipping"):
        assert title in titles
    grad_map = fig.axes[titles.index("Gradient norm per group (before clipping)")]
    assert [t.get_text() for t in grad_map.get_yticklabels()][:3] == ["cls/pos", "patch_embed", "blocks.0.norm"]
    entropy = fig.axes[titles.index("Attention entropy per layer (probe batch, eval mode)")]
    assert len(entropy.get_lines()) == 2 + 1                      # a line per layer and ln N


def test_plot_dynamics_copes_with_one_epoch_no_samples_and_no_attention(tmp_path):
    assert_figure_saves(plot_dynamics(dynamics_rows([1])), 7, tmp_path)
    assert_figure_saves(plot_dynamics(dynamics_rows([1, 2], samples=False) + dynamics_rows([3])), 7, tmp_path)
    fig = plot_dynamics(dynamics_rows([0.5, 1.0], layers=0))
    assert_figure_saves(fig, 7, tmp_path)
    with pytest.raises(ValueError, match="lacks keys"):
        plot_dynamics([{"epoch": 1}])


def test_plot_data_scale_train_lines_are_dashed_and_only_for_plotted_models(tmp_path):
    test = {"vit": {100: (0.3, 0.3, 0.3, 1), 1000: (0.1, 0.1, 0.1, 1)}}
    train = {"vit": {100: (0.02, 0.02, 0.02, 1), 1000: (0.01, 0.01, 0.01, 1)},
             "resnet": {100: (0.0, 0.0, 0.0, 1)}}                 # no test line for it: not drawn
    fig = plot_data_scale(test, train)
    assert_figure_saves(fig, 1, tmp_path)
    test_line, train_line = fig.axes[0].get_lines()
    assert train_line.get_label() == "vit: train (own subset)"
    assert train_line.get_linestyle() == "--" and train_line.get_marker() == "x"
    np.testing.assert_array_equal(train_line.get_xdata(), [100, 1000])
    np.testing.assert_allclose(train_line.get_ydata(), [2, 1])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["vit: test", "vit: train (own subset)"]


# --- the experiments' figures ---------------------------------------------------------------------

def distance_result(patches=(7, 4), augs=("none", "cutmix"), layers=3, heads=2, skip=()):
    """attention_distance.json's dict and CSV rows (strings, as csv.DictReader gives them) for
    runs with known numbers: head k of layer l at 10 p + l + k / 10 px."""
    runs, rows = [], []
    for p in patches:
        for aug in augs:
            if (p, aug) in skip:
                continue
            runs.append({"patch": p, "grid": 28 // p, "augmentation": aug, "test_acc": 0.5 + p / 100,
                         "layer_mean_px": [10 * p + l + 0.15 for l in range(1, layers + 1)],
                         "baselines_px": {"self": 0.0, "uniform": 9.0 + p, "ink": 6.0 + p}})
            rows += [{"patch": str(p), "augmentation": aug, "layer": str(l), "head": str(k),
                      "distance_px": str(10 * p + l + k / 10)} for l in range(1, layers + 1) for k in range(1, heads + 1)]
    resnet = [{"stage": i + 1, "uniform_over_field_px": v} for i, v in enumerate([7.3, 10.7, 10.7])]
    return {"runs": runs, "resnet": resnet}, rows


def test_plot_distance_grids_draws_each_run_in_its_panel(tmp_path):
    result, rows = distance_result()
    fig = plot_distance_grids(result, rows)
    assert_figure_saves(fig, 4, tmp_path)
    axes = np.array(fig.axes).reshape(2, 2)                      # rows: augmentation, columns: patch 7, 4
    for i, aug in enumerate(("none", "cutmix")):
        for j, p in enumerate((7, 4)):
            ax = axes[i, j]
            assert ax.get_title() == f"patch {p} ({28 // p}x{28 // p}), {aug}: {50 + p:.1f}%"
            heads, stages = ax.collections                       # a dot per head; a square per ResNet stage
            x, y = heads.get_offsets().T
            np.testing.assert_allclose(sorted(y), sorted(10 * p + l + k / 10 for l in (1, 2, 3) for k in (1, 2)))
            np.testing.assert_allclose(np.round(x), [1, 1, 2, 2, 3, 3])   # layers, heads jittered apart
            assert len(set(x)) == 6
            np.testing.assert_allclose(stages.get_offsets()[:, 1], [7.3, 10.7, 10.7])
            lines = {line.get_label(): line for line in ax.get_lines()}
            np.testing.assert_allclose(lines["mean over heads"].get_ydata(), [10 * p + l + 0.15 for l in (1, 2, 3)])
            assert lines["uniform over all patches"].get_ydata()[0] == 9.0 + p
            assert lines["uniform over the ink"].get_ydata()[0] == 6.0 + p
            assert lines["itself only (0)"].get_ydata()[0] == 0
    assert [a.get_xlabel() for a in axes.ravel()] == ["", "", "layer (block)", "layer (block)"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "mean over heads", "uniform over all patches", "uniform over the ink", "itself only (0)",
        "ResNet stage: uniform over its field"]


def test_plot_distance_grids_leaves_a_missing_run_blank():
    result, rows = distance_result(skip=[(4, "cutmix")])
    axes = np.array(plot_distance_grids(result, rows).axes).reshape(2, 2)
    assert not axes[1, 1].axison and axes[1, 1].get_title() == ""
    assert all(ax.axison for ax in (axes[0, 0], axes[0, 1], axes[1, 0]))


def test_plot_distance_grids_rejects_rows_without_the_csv_columns():
    result, rows = distance_result()
    with pytest.raises(ValueError, match=r"plot_distance_grids\[0\] lacks keys \['distance_px'\]"):
        plot_distance_grids(result, [{k: v for k, v in r.items() if k != "distance_px"} for r in rows])
    with pytest.raises(ValueError, match="plot_distance_grids is empty, expected a list of attention_distance.csv rows"):
        plot_distance_grids(result, [])


def test_plot_rollout_controls_shows_template_maps_and_deviations(rng, tmp_path):
    images = rng.integers(0, 256, (3, 8, 8))
    maps = rng.random((3, 2, 2))
    template = maps.mean(axis=0) + 0.1
    fig = plot_rollout_controls(images, maps, template, labels=[4, 1, 7])
    assert_figure_saves(fig, 3 * 4 + 2, tmp_path)              # 3 rows of (template + 3 digits), 2 colour bars
    axes = np.array(fig.axes[:12]).reshape(3, 4)
    np.testing.assert_allclose(axes[1, 0].images[0].get_array(), _upsample(template / template.max(), 8))
    assert not axes[0, 0].axison and not axes[2, 0].axison
    for b in range(3):
        np.testing.assert_array_equal(axes[0, b + 1].images[0].get_array(), images[b])
        assert axes[0, b + 1].get_title() == f"label {[4, 1, 7][b]}"
        np.testing.assert_allclose(axes[1, b + 1].images[0].get_array(), _upsample(maps[b], 8))
        np.testing.assert_allclose(axes[2, b + 1].images[0].get_array(), _upsample(maps[b] - template, 8))
    lim = np.abs(maps - template).max()
    assert axes[2, 1].images[0].get_clim() == pytest.approx((-lim, lim))   # deviations on one symmetric scale


@pytest.mark.parametrize("maps_shape, template_shape", [((2, 2, 2), (2, 2)), ((3, 2, 2), (3, 3)), ((3, 4), (2, 2))])
def test_plot_rollout_controls_rejects_maps_that_do_not_fit(maps_shape, template_shape, rng):
    with pytest.raises(ValueError, match=r"maps.shape=.*template.shape=.*expected \(B, g, g\) with B=3"):
        plot_rollout_controls(rng.random((3, 8, 8)), rng.random(maps_shape), rng.random(template_shape))


def test_plot_deletion_curves_draws_every_order_per_model(tmp_path):
    fraction = [0, 0.25, 0.5]
    models = [{"patch": p, "grid": 28 // p, "images": 100,
               "deletion": {"fraction": fraction, "high": [0.9, 0.5, 0.2], "random": [0.9, 0.7, 0.5],
                            "low": [0.9, 0.85, 0.8], "ink": [0.9, 0.4, 0.1]}} for p in (7, 4)]
    fig = plot_deletion_curves(models)
    assert_figure_saves(fig, 2, tmp_path)
    for ax, m in zip(fig.axes, models):
        assert ax.get_title() == f"patch {m['patch']} ({m['grid']}x{m['grid']} grid), 100 test digits"
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"highest rollout first", "random patches", "lowest rollout first",
                              "most ink first (no model)"}
        for label, order in [("highest rollout first", "high"), ("random patches", "random"),
                             ("lowest rollout first", "low"), ("most ink first (no model)", "ink")]:
            np.testing.assert_allclose(lines[label].get_xdata(), [0, 25, 50])
            np.testing.assert_allclose(lines[label].get_ydata(), 100 * np.array(m["deletion"][order]))
    assert fig.axes[0].get_legend() is not None and fig.axes[1].get_legend() is None


def test_the_experiment_figures_name_what_their_input_lacks():
    with pytest.raises(ValueError, match="lacks keys \\['deletion'\\]"):
        plot_deletion_curves([{"patch": 7, "grid": 4, "images": 10}])
    row = {"patch": 7, "augmentation": "none", "layer": 1, "head": 1, "distance_px": 3.0}
    with pytest.raises(ValueError, match="is empty"):
        plot_distance_grids({"runs": []}, [row])
    with pytest.raises(ValueError, match="lacks keys"):
        plot_distance_grids({"runs": [{"patch": 7}]}, [row])


def test_plot_test_error_draws_error_percent_per_run_and_the_target(tmp_path):
    averaged = [dict(epoch=e, test_acc=0.99 + 0.001 * e, unaveraged_test_acc=0.98 + 0.001 * e) for e in (1, 2, 3)]
    plain = [dict(epoch=e, test_acc=None if e == 2 else 0.97) for e in (1, 2, 3)]
    fig = plot_test_error({"a": averaged, "b": plain}, target=0.995)
    assert_figure_saves(fig, 1, tmp_path)
    lines = fig.axes[0].get_lines()
    assert [l.get_label() for l in lines] == ["a: weight average", "a: the optimiser's own weights", "b",
                                              "99.5% accuracy"]
    np.testing.assert_allclose(lines[0].get_ydata(), [0.9, 0.8, 0.7])        # error in %
    np.testing.assert_allclose(lines[2].get_xdata(), [1, 3])                 # an epoch without a test is left out
    np.testing.assert_allclose(lines[3].get_ydata(), 0.5)
