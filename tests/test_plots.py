"""Every figure draws the data it is given: the arrays its images show, the points and lines
it plots, its titles, labels, legends and colour scales are checked against the input, and it
saves as a PNG. Each checker below has a negative test: a planted bug makes it fail.

The analysis report (write_analysis) is checked against numbers computed here from the model's
own attention and weights with small loops, not with the package's analysis functions."""
import json
import math
import re

import matplotlib

matplotlib.use("Agg")   # headless; plots.py itself needs no backend (no pyplot)

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from numpyvit import VisionTransformer
from numpyvit.gradcheck import random_point
from numpyvit.insight import analysis, plots
from numpyvit.insight.plots import (plot_attention_distance, plot_attention_maps, plot_confusion,
                                    plot_curves, plot_data_scale, plot_deletion_curves, plot_distance_grids,
                                    plot_dynamics, plot_mistakes, plot_patch_components, plot_pos_embed_similarity,
                                    plot_rollout, plot_rollout_controls, plot_sweep, plot_test_error)
from numpyvit.data.prepare import normalize
from numpyvit.insight.report import write_analysis
from conftest import tiny_config


def random_attention(rng, *shape):
    a = rng.random(shape)
    return a / a.sum(axis=-1, keepdims=True)


def upsampled(m, size):
    """Nearest-neighbour upsampling written with repeat (the package uses kron): every cell of a
    (..., g, g) map becomes a (size/g, size/g) block."""
    s = size // m.shape[-1]
    return np.repeat(np.repeat(m, s, axis=-2), s, axis=-1)


# --- checkers: each one has a negative test below -------------------------------------------------

def assert_figure_saves(fig, n_axes, tmp_path, name="fig.png"):
    """A Figure with n_axes axes (colour bars included) that renders to a non-empty PNG."""
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_axes, f"{len(fig.axes)} axes, expected {n_axes}"
    path = tmp_path / name
    fig.savefig(path, dpi=40)
    assert path.is_file() and path.stat().st_size > 0


def assert_image(ax, expected):
    """ax shows exactly one image and its pixels are `expected`."""
    assert len(ax.images) == 1, f"{len(ax.images)} images drawn, expected 1"
    shown = np.asarray(ax.images[0].get_array())
    assert shown.shape == np.shape(expected), f"image of shape {shown.shape}, expected {np.shape(expected)}"
    np.testing.assert_allclose(shown, expected, rtol=1e-6, atol=1e-12)


def assert_clim(ax, lo, hi):
    """ax's image (or mesh) is coloured on the scale lo..hi."""
    mappable = ax.images[0] if ax.images else ax.collections[0]
    assert mappable.get_clim() == pytest.approx((lo, hi)), f"clim {mappable.get_clim()}, expected {(lo, hi)}"


def assert_lines(ax, expected):
    """ax's lines, in drawing order, are `expected`: (label, x, y) each, x or y None to skip
    (an axhline's x is in axes units). NaN must stand where NaN is expected."""
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [e[0] for e in expected]
    for line, (label, x, y) in zip(lines, expected):
        if x is not None:
            np.testing.assert_allclose(np.asarray(line.get_xdata(), float), x, err_msg=f"{label}: x")
        if y is not None:
            np.testing.assert_allclose(np.asarray(line.get_ydata(), float), np.broadcast_to(y, len(line.get_ydata())),
                                       err_msg=f"{label}: y")


def assert_points(collection, x, y):
    """A scatter collection holds the points (x[i], y[i]), in order."""
    offsets = np.asarray(collection.get_offsets())
    assert offsets.shape == (len(y), 2), f"{len(offsets)} points, expected {len(y)}"
    np.testing.assert_allclose(offsets[:, 0], x, err_msg="x")
    np.testing.assert_allclose(offsets[:, 1], y, err_msg="y")


def assert_texts(artist, **expected):
    """artist.get_<name>() == value for every name=value: title, xlabel, ylabel, suptitle, ..."""
    for name, value in expected.items():
        got = getattr(artist, f"get_{name}")()
        assert got == value, f"{name} {got!r}, expected {value!r}"


def assert_legend(legend, names):
    """A legend exists and names exactly these series, in order."""
    assert legend is not None, "no legend"
    assert [t.get_text() for t in legend.get_texts()] == list(names)


def test_assert_figure_saves_fails_on_a_figure_without_its_axes(tmp_path):
    with pytest.raises(AssertionError, match="0 axes, expected 1"):
        assert_figure_saves(Figure(), 1, tmp_path)


def test_assert_image_fails_when_the_heat_map_is_drawn_as_zeros(rng, monkeypatch):
    image, att = rng.random((8, 8)), random_attention(rng, 1, 1, 5, 5)
    expected = upsampled(att[0, 0, 0, 1:].reshape(2, 2), 8)
    assert_image(plot_attention_maps(image, att).axes[0], expected)          # the real function passes
    monkeypatch.setattr(plots, "_upsample", lambda m, size: np.zeros((size, size)))
    with pytest.raises(AssertionError):
        assert_image(plot_attention_maps(image, att).axes[0], expected)


def test_assert_image_fails_when_nothing_is_drawn_or_the_image_is_transposed(rng, monkeypatch):
    images = rng.random((2, 8, 8))
    labels, preds = np.array([0, 1]), np.array([1, 0])
    with pytest.raises(AssertionError, match="image of shape"):
        assert_image(plot_mistakes(images, labels, preds).axes[0], images[0][:, :4])
    monkeypatch.setattr(plots, "_gray_images", lambda x, name: np.asarray(x).transpose(0, 2, 1))
    with pytest.raises(AssertionError):
        assert_image(plot_mistakes(images, labels, preds).axes[0], images[0])
    monkeypatch.setattr(Axes, "imshow", lambda self, *a, **k: None)         # draws nothing
    with pytest.raises(AssertionError, match="0 images drawn"):
        assert_image(plot_mistakes(images, labels, preds).axes[0], images[0])


def test_assert_clim_fails_when_a_signed_map_is_not_on_a_symmetric_scale(rng):
    comps = rng.standard_normal((2, 1, 3, 3))
    ax = plot_patch_components(comps, np.array([0.6, 0.4])).axes[0]
    m = np.abs(comps[0]).max()
    assert_clim(ax, -m, m)
    ax.images[0].set_clim(comps[0].min(), comps[0].max())                   # the planted bug: data range
    with pytest.raises(AssertionError, match="clim"):
        assert_clim(ax, -m, m)


def test_assert_lines_fails_when_two_series_are_swapped_or_one_is_missing():
    metrics = [dict(epoch=e, train_loss=1.0 / e, test_loss=1.2 / e, train_acc=0.9, test_acc=0.8) for e in (1, 2)]
    expected = [("train (augmented, during epoch)", [1, 2], [1.0, 0.5]), ("test", [1, 2], [1.2, 0.6])]
    ax = plot_curves(metrics).axes[0]
    assert_lines(ax, expected)
    train, test = ax.get_lines()
    y = train.get_ydata()
    train.set_ydata(test.get_ydata())                                      # the planted bug: swapped
    test.set_ydata(y)
    with pytest.raises(AssertionError, match="y"):
        assert_lines(ax, expected)
    test.remove()
    with pytest.raises(AssertionError):
        assert_lines(ax, expected)


def test_assert_points_fails_when_heads_are_drawn_in_the_wrong_order(rng):
    d = rng.uniform(2, 14, (3, 2))
    fig = plot_attention_distance(d[:, ::-1])                              # the planted bug: heads reversed
    with pytest.raises(AssertionError, match="y"):
        assert_points(fig.axes[0].collections[0], np.arange(1, 4) - 0.125, d[:, 0])
    with pytest.raises(AssertionError, match="points"):
        assert_points(fig.axes[0].collections[0], [1, 2], d[:2, 0])


def test_assert_texts_and_assert_legend_fail_on_a_wrong_title_or_series_name(rng):
    images = rng.random((2, 8, 8))
    labels, preds = np.array([3, 1]), np.array([5, 1])
    fig = plot_mistakes(images, preds, labels)                              # the planted bug: swapped arguments
    with pytest.raises(AssertionError, match="title"):
        assert_texts(fig.axes[0], title="3 \u2192 5")
    ax = plot_sweep([{"sweep": s, "batch": 8, "tokens": 4, "impl": "numpyvit", "train_img_s": 1.0}
                     for s in ("batch", "patch")]).axes[0]
    assert_legend(ax.get_legend(), ["numpyvit"])
    ax.get_legend().get_texts()[0].set_text("pytorch")
    with pytest.raises(AssertionError):
        assert_legend(ax.get_legend(), ["numpyvit"])
    with pytest.raises(AssertionError, match="no legend"):
        assert_legend(plot_mistakes(images, labels, preds).axes[0].get_legend(), [])


# --- the section 4.5 figures -----------------------------------------------------------------------

def test_plot_attention_maps_shows_the_class_tokens_row_of_every_chosen_head(rng, tmp_path):
    image = rng.random((8, 8))
    att = random_attention(rng, 3, 2, 5, 5)                     # (L, h, N, N), grid 2
    fig = plot_attention_maps(image, att)
    assert_figure_saves(fig, 3 * 2 + 1, tmp_path)               # + colour bar
    vmax = att[:, :, 0, 1:].max()                               # one scale from 0 for every panel
    axes = np.array(fig.axes[:6]).reshape(3, 2)
    for l in range(3):
        for k in range(2):
            ax = axes[l, k]
            assert_image(ax, upsampled(att[l, k, 0, 1:].reshape(2, 2), 8))
            assert_clim(ax, 0, vmax)
            assert_texts(ax, title=f"cls\u2192cls {att[l, k, 0, 0]:.2f}",
                         xlabel=f"head {k + 1}" if l == 2 else "", ylabel=f"layer {l + 1}" if k == 0 else "")
            assert len(ax.collections) == 1                     # the digit's outline
    bar = fig.axes[6]
    assert_texts(bar, ylabel="class-token attention weight")
    assert len(bar.get_lines()) == 1
    np.testing.assert_allclose(bar.get_lines()[0].get_ydata(), 1 / 5)    # uniform attention 1/N marked
    assert fig.get_suptitle().startswith("Attention of the class token to each patch")

    chosen = plot_attention_maps(image, att, layers=[2], heads=[1], title="one head")
    assert_figure_saves(chosen, 2, tmp_path)
    assert_image(chosen.axes[0], upsampled(att[2, 1, 0, 1:].reshape(2, 2), 8))
    assert_clim(chosen.axes[0], 0, att[2, 1, 0, 1:].max())
    assert_texts(chosen.axes[0], xlabel="head 2", ylabel="layer 3")
    assert chosen.get_suptitle().startswith("one head\n")
    with pytest.raises(ValueError, match=r"layers=\[3\]"):
        plot_attention_maps(image, att, layers=[3])


def test_plot_rollout_shows_each_digit_over_its_map_on_a_zero_to_one_scale(rng, tmp_path):
    images = rng.integers(0, 256, (3, 8, 8))
    maps = rng.random((3, 2, 2))
    fig = plot_rollout(images[:, None], maps, labels=[1, 2, 3])          # (B, 1, H, W) is accepted
    assert_figure_saves(fig, 2 * 3 + 1, tmp_path)
    axes = np.array(fig.axes[:6]).reshape(2, 3)
    for b in range(3):
        assert_image(axes[0, b], images[b])
        assert_texts(axes[0, b], title=f"label {b + 1}")
        assert_image(axes[1, b], upsampled(maps[b], 8))
        assert_clim(axes[1, b], 0, 1)
    assert_texts(axes[0, 0], ylabel="input")
    assert_texts(axes[1, 0], ylabel="rollout")
    assert_texts(fig.axes[6], ylabel="rollout\n(max = 1)")
    assert_texts(plot_rollout(images, maps).axes[0], title="")           # no labels, no titles
    with pytest.raises(ValueError, match="not a multiple"):
        plot_rollout(rng.random((3, 9, 9)), maps)


def uniform_distance_px(grid, patch):
    """Mean distance in pixels between the centres of two patches, over all ordered pairs."""
    centres = [((i // grid + 0.5) * patch, (i % grid + 0.5) * patch) for i in range(grid * grid)]
    return float(np.mean([math.dist(a, b) for a in centres for b in centres]))


@pytest.mark.parametrize("patch_size,grid", [(None, None), (7, None), (7, 4)])
def test_plot_attention_distance_draws_a_dot_per_head_at_its_layer(patch_size, grid, rng, tmp_path):
    d = rng.uniform(2, 14, (6, 4))                                       # (L, h)
    fig = plot_attention_distance(d, patch_size=patch_size, grid=grid)
    assert_figure_saves(fig, 1, tmp_path)
    ax = fig.axes[0]
    assert len(ax.collections) == 4
    for k, heads in enumerate(ax.collections):                            # nudged apart by 0.25 / (h - 1)
        assert_points(heads, np.arange(1, 7) + (k - 1.5) * 0.25 / 3, d[:, k])
    assert len({tuple(c.get_facecolor()[0]) for c in ax.collections}) == 4   # a colour per head
    names = [f"head {k}" for k in (1, 2, 3, 4)]
    expected_lines = []
    if patch_size is not None:
        names.append("1 patch (7 px)")
        expected_lines.append(("1 patch (7 px)", None, 7))
        if grid is not None:
            uniform = uniform_distance_px(4, 7)
            names.append(f"uniform attention ({uniform:.1f} px)")
            expected_lines.append((names[-1], None, uniform))
    assert_lines(ax, expected_lines)
    assert_legend(ax.get_legend(), names)
    assert_texts(ax, xlabel="network depth (layer)", ylabel="mean attention distance (pixels)",
                 title="How far each head looks")
    bottom, top = ax.get_ylim()
    assert bottom == 0 and top > max([d.max()] + [y for *_, y in expected_lines])   # every dot and line visible


def test_plot_pos_embed_similarity_tile_i_shows_patch_is_similarities(rng, tmp_path):
    sim = rng.uniform(-0.5, 1, (3, 3, 3, 3))
    fig = plot_pos_embed_similarity(sim, title="fixed")
    assert_figure_saves(fig, 9 + 1, tmp_path)
    # tiles are named like the patches everywhere else: 0 to P-1, row by row
    for i, ax in enumerate(fig.axes[:9]):
        r, c = divmod(i, 3)
        assert_image(ax, sim[r, c])
        assert_clim(ax, sim.min(), 1)                                     # shared, the data's range
        assert_texts(ax, title=f"patch {i}", ylabel=f"row {r}" if c == 0 else "",
                     xlabel=f"column {c}" if r == 2 else "")
    assert_texts(fig.axes[9], ylabel="cosine similarity")
    assert fig.get_suptitle() == "fixed"
    for ax in plot_pos_embed_similarity(sim, vmin=-1).axes[:9]:
        assert_clim(ax, -1, 1)
    with pytest.raises(ValueError, match="vmin=1"):
        plot_pos_embed_similarity(sim, vmin=1)


def test_plot_patch_components_shows_each_component_on_its_own_symmetric_grey_scale(rng, tmp_path):
    comps = rng.standard_normal((10, 1, 2, 2))
    ratios = np.sort(rng.random(10))[::-1]
    fig = plot_patch_components(comps, ratios)
    assert_figure_saves(fig, 10, tmp_path)
    for i, ax in enumerate(fig.axes):
        assert_image(ax, comps[i, 0])
        m = np.abs(comps[i]).max()
        assert_clim(ax, -m, m)                                            # mid-grey = 0
        assert_texts(ax, title=f"PC{i + 1}: {100 * ratios[i]:.1f}%")
    first3 = plot_patch_components(comps, ratios, k=3)
    assert_figure_saves(first3, 3, tmp_path)
    assert [ax.get_title() for ax in first3.axes] == [f"PC{i + 1}: {100 * ratios[i]:.1f}%" for i in range(3)]
    assert "first 3 principal components" in first3.get_suptitle()


def test_plot_patch_components_shows_three_channels_as_colour_rescaled_to_0_1(rng, tmp_path):
    comps = rng.standard_normal((4, 3, 2, 2))
    fig = plot_patch_components(comps, np.full(4, 0.25))
    assert_figure_saves(fig, 4, tmp_path)
    for ax, c in zip(fig.axes, comps):
        assert_image(ax, ((c - c.min()) / (c.max() - c.min())).transpose(1, 2, 0))   # (p, p, 3)


# --- training and evaluation figures -------------------------------------------------------------

def test_plot_curves_draws_loss_and_accuracy_of_train_and_test_as_given(tmp_path):
    metrics = [dict(epoch=e, train_loss=1.0 / e, test_loss=1.2 / e, train_acc=0.9 + 0.01 * e,
                    test_acc=None if e == 1 else 0.88 + 0.01 * e) for e in (1, 2, 3)]
    fig = plot_curves(metrics)
    assert_figure_saves(fig, 2, tmp_path)
    loss, acc = fig.axes
    names = ["train (augmented, during epoch)", "test"]
    assert_lines(loss, [(names[0], [1, 2, 3], [1, 1 / 2, 1 / 3]), (names[1], [1, 2, 3], [1.2, 0.6, 0.4])])
    assert_lines(acc, [(names[0], [1, 2, 3], [0.91, 0.92, 0.93]), (names[1], [1, 2, 3], [np.nan, 0.90, 0.91])])
    for ax in fig.axes:
        assert_legend(ax.get_legend(), names)
    assert_texts(loss, title="Loss", xlabel="epoch", ylabel="cross-entropy loss", yscale="log")
    assert_texts(acc, title="Accuracy", xlabel="epoch", ylabel="accuracy", yscale="linear")
    with pytest.raises(ValueError, match="test_acc"):
        plot_curves([dict(epoch=1, train_loss=1.0, test_loss=1.0, train_acc=0.5)])


def test_plot_curves_draws_the_unaveraged_weights_beside_a_weight_average(tmp_path):
    metrics = [dict(epoch=e, train_loss=1.0 / e, test_loss=1.2 / e, train_acc=0.9, test_acc=0.95,
                    unaveraged_test_loss=1.5 / e, unaveraged_test_acc=0.93) for e in (1, 2, 3)]
    fig = plot_curves(metrics)
    assert_figure_saves(fig, 2, tmp_path)
    names = ["train (augmented, during epoch)", "test, weight average", "test, the optimiser's own weights"]
    e = np.array([1, 2, 3])
    assert_lines(fig.axes[0], [(names[0], e, 1 / e), (names[1], e, 1.2 / e), (names[2], e, 1.5 / e)])
    assert_lines(fig.axes[1], [(names[0], e, 0.9), (names[1], e, 0.95), (names[2], e, 0.93)])
    assert fig.axes[1].get_lines()[2].get_linestyle() == "--"
    for ax in fig.axes:
        assert_legend(ax.get_legend(), names)


def test_plot_confusion_shows_the_counts_and_the_accuracy(tmp_path):
    cm = np.array([[5, 1, 0], [0, 6, 1], [2, 0, 4]])
    fig = plot_confusion(cm, class_names=["a", "b", "c"])
    assert_figure_saves(fig, 2, tmp_path)                        # matrix + colour bar
    ax = fig.axes[0]
    assert_image(ax, cm)
    assert [t.get_text() for t in ax.texts] == [str(v) for v in cm.ravel()]      # row = true, column = predicted
    assert [t.get_position() for t in ax.texts] == [(j, i) for i in range(3) for j in range(3)]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    # 15 of 19 on the diagonal
    assert_texts(ax, title="Confusion matrix: accuracy 78.95% (19 images)", xlabel="predicted", ylabel="true")
    assert_texts(fig.axes[1], ylabel="images")


def test_plot_mistakes_shows_the_mistaken_digits_most_confident_first(rng, tmp_path):
    images = rng.random((6, 8, 8))
    labels = np.array([0, 1, 2, 3, 4, 5])
    preds = np.array([0, 2, 2, 1, 4, 0])                         # mistakes at 1, 3, 5
    probs = np.full((6, 6), 0.1)
    probs[[1, 3, 5], preds[[1, 3, 5]]] = [0.5, 0.9, 0.7]
    fig = plot_mistakes(images, labels, preds, probs)
    assert_figure_saves(fig, 3, tmp_path)
    for ax, i, title in zip(fig.axes, (3, 5, 1), ("3 \u2192 1 (0.90)", "5 \u2192 0 (0.70)", "1 \u2192 2 (0.50)")):
        assert_image(ax, images[i])
        assert_texts(ax, title=title)
    two = plot_mistakes(images, labels, preds, max_images=2)       # no probabilities: in order
    assert [ax.get_title() for ax in two.axes] == ["1 \u2192 2", "3 \u2192 1"]
    assert_image(two.axes[1], images[3])
    none = plot_mistakes(images, labels, labels)
    assert_figure_saves(none, 1, tmp_path)
    assert not none.axes[0].images and [t.get_text() for t in none.axes[0].texts] == ["no mistakes"]


def dynamics_rows(epochs, layers=2, samples=True):
    """Rows whose every number says where it belongs: group i's grad norm 0.1 e (i + 1),
    layer l's entropy 2.5 - 0.1 e - 0.3 l."""
    groups = ["cls/pos", "patch_embed"] + [f"blocks.{i}.{k}" for i in range(layers) for k in ("norm", "attn", "mlp")] + ["head"]
    return [{"epoch": e, "grad_norm": {g: 0.1 * e * (i + 1) for i, g in enumerate(groups)} if samples else None,
             "update_ratio": {g: 1e-3 / e / (i + 1) for i, g in enumerate(groups)} if samples else None,
             "attn_entropy": [2.5 - 0.1 * e - 0.3 * l for l in range(layers)],
             "attn_entropy_uniform": float(np.log(17)) if layers else None,
             "clip_fraction": 1 / (e + 1), "grad_norm_mean": 1.5 / e, "grad_norm_max": 3.0}
            for e in epochs]


def dynamics_panels(fig):
    titles = [ax.get_title() for ax in fig.axes]
    panel = {t: fig.axes[titles.index(t)] for t in (
        "Gradient norm per group (before clipping)", "Update / weight per step, per group",
        "Attention entropy per layer (probe batch, eval mode)", "Gradient clipping")}
    panel["norm axis"] = next(ax for ax in fig.axes if ax.get_ylabel() == "global gradient norm, before clipping")
    return panel


def test_plot_dynamics_maps_each_group_and_draws_entropy_and_clipping_per_epoch(tmp_path):
    rows = dynamics_rows([1, 2, 3])
    fig = plot_dynamics(rows)
    # two maps with a colour bar each, entropy, clipping and its right-hand axis
    assert_figure_saves(fig, 2 + 2 + 2 + 1, tmp_path)
    panel = dynamics_panels(fig)
    groups = list(rows[0]["grad_norm"])
    e = np.array([1, 2, 3])
    for title, key in (("Gradient norm per group (before clipping)", "grad_norm"),
                       ("Update / weight per step, per group", "update_ratio")):
        ax = panel[title]
        expected = np.array([[r[key][g] for r in rows] for g in groups])   # (groups, epochs)
        np.testing.assert_allclose(np.asarray(ax.collections[0].get_array()).reshape(expected.shape), expected)
        assert_clim(ax, expected.min(), expected.max())                   # log scale over the values present
        assert ax.get_ylim() == (len(groups) - 0.5, -0.5)                 # model order, input at the top
    grad_map = panel["Gradient norm per group (before clipping)"]            # the right map shares its rows
    assert [t.get_text() for t in grad_map.get_yticklabels()] == groups
    entropy = panel["Attention entropy per layer (probe batch, eval mode)"]
    assert_lines(entropy, [("layer 1", e, 2.5 - 0.1 * e), ("layer 2", e, 2.2 - 0.1 * e),
                           (f"uniform, ln N = {np.log(17):.2f}", None, np.log(17))])
    assert_legend(entropy.get_legend(), ["layer 1", "layer 2", f"uniform, ln N = {np.log(17):.2f}"])
    clip = panel["Gradient clipping"]
    np.testing.assert_allclose([p.get_height() for p in clip.patches], 1 / (e + 1))
    np.testing.assert_allclose([p.get_x() + p.get_width() / 2 for p in clip.patches], e)
    assert_lines(panel["norm axis"], [("mean |g|", e, 1.5 / e), ("largest |g|", e, 3.0)])
    assert_legend(panel["norm axis"].get_legend(), ["steps clipped", "mean |g|", "largest |g|"])


def test_plot_dynamics_copes_with_one_epoch_no_samples_and_no_attention(tmp_path):
    one = plot_dynamics(dynamics_rows([1]))
    assert_figure_saves(one, 7, tmp_path)
    assert_lines(dynamics_panels(one)["norm axis"], [("mean |g|", [1], 1.5), ("largest |g|", [1], 3.0)])
    gaps = plot_dynamics(dynamics_rows([1, 2], samples=False) + dynamics_rows([3]))
    assert_figure_saves(gaps, 7, tmp_path)
    shown = dynamics_panels(gaps)["Gradient norm per group (before clipping)"].collections[0].get_array()
    assert np.ma.getmaskarray(shown).reshape(-1, 3)[:, :2].all()          # epochs without samples left blank
    np.testing.assert_allclose(shown.reshape(-1, 3)[:, 2], 0.3 * np.arange(1, 10))
    fig = plot_dynamics(dynamics_rows([0.5, 1.0], layers=0))
    assert_figure_saves(fig, 7, tmp_path)
    entropy = dynamics_panels(fig)["Attention entropy per layer (probe batch, eval mode)"]
    assert not entropy.get_lines() and [t.get_text() for t in entropy.texts] == ["no attention layers"]
    with pytest.raises(ValueError, match="lacks keys"):
        plot_dynamics([{"epoch": 1}])


def test_plot_test_error_draws_error_percent_per_run_and_the_target(tmp_path):
    averaged = [dict(epoch=e, test_acc=0.99 + 0.001 * e, unaveraged_test_acc=0.98 + 0.001 * e) for e in (1, 2, 3)]
    plain = [dict(epoch=e, test_acc=None if e == 2 else 0.97) for e in (1, 2, 3)]
    fig = plot_test_error({"a": averaged, "b": plain}, target=0.995)
    assert_figure_saves(fig, 1, tmp_path)
    ax = fig.axes[0]
    names = ["a: weight average", "a: the optimiser's own weights", "b", "99.5% accuracy"]
    assert_lines(ax, [(names[0], [1, 2, 3], [0.9, 0.8, 0.7]),                # error in %
                      (names[1], [1, 2, 3], [1.9, 1.8, 1.7]),
                      (names[2], [1, 3], [3, 3]),                           # an epoch without a test is left out
                      (names[3], None, 0.5)])
    a, own = ax.get_lines()[:2]
    assert own.get_color() == a.get_color() and own.get_linestyle() == "--"
    assert_legend(ax.get_legend(), names)
    assert_texts(ax, xlabel="epoch", ylabel="test error (%), log scale", yscale="log")


# --- experiment figures ----------------------------------------------------------------------------

def test_plot_data_scale_draws_a_line_per_model_and_shades_seed_ranges(tmp_path):
    one_seed = {"vit": {100: (0.2, 0.2, 0.2, 1), 300: (0.1, 0.1, 0.1, 1)},
                "resnet": {100: (0.1, 0.1, 0.1, 1), 300: (0.05, 0.05, 0.05, 1)}}
    fig = plot_data_scale(one_seed)
    assert_figure_saves(fig, 1, tmp_path)
    ax = fig.axes[0]
    assert_lines(ax, [("vit: test", [100, 300], [20, 10]), ("resnet: test", [100, 300], [10, 5])])   # percent
    assert_legend(ax.get_legend(), ["vit: test", "resnet: test"])
    assert_texts(ax, ylabel="test error (%)", xscale="log", yscale="log",
                 title="error against training-set size (1 seed)")
    assert not ax.collections                                              # nothing to shade
    two_seeds = {m: {n: (e, e * 0.9, e * 1.1, 2) for n, (e, *_) in d.items()} for m, d in one_seed.items()}
    shaded = plot_data_scale(two_seeds).axes[0]
    assert shaded.get_title() == "error against training-set size (2 seeds, range shaded)"
    assert len(shaded.collections) == 2
    for band, errors in zip(shaded.collections, ([20, 10], [10, 5])):     # from min to max error, in %
        xy = band.get_paths()[0].vertices
        for x, e in zip((100, 300), errors):
            np.testing.assert_allclose([xy[xy[:, 0] == x, 1].min(), xy[xy[:, 0] == x, 1].max()], [0.9 * e, 1.1 * e])
    train = {"vit": {100: (0.05, 0.05, 0.05, 1), 300: (0.0, 0.0, 0.0, 1)}}   # a perfect fit: drawn at 0.01%
    ax = plot_data_scale(one_seed, train).axes[0]
    assert_lines(ax, [("vit: test", [100, 300], [20, 10]), ("vit: train (own subset)", [100, 300], [5, 0.01]),
                      ("resnet: test", [100, 300], [10, 5])])
    assert ax.get_lines()[1].get_color() == ax.get_lines()[0].get_color()
    assert ax.get_ylabel() == "error (%)"
    assert "subset of MNIST" in ax.get_xlabel()
    assert "subset of Fashion-MNIST" in plot_data_scale(one_seed, dataset="Fashion-MNIST").axes[0].get_xlabel()


def test_plot_data_scale_train_lines_are_dashed_and_only_for_plotted_models(tmp_path):
    test = {"vit": {100: (0.3, 0.3, 0.3, 1), 1000: (0.1, 0.1, 0.1, 1)}}
    train = {"vit": {100: (0.02, 0.02, 0.02, 1), 1000: (0.01, 0.01, 0.01, 1)},
             "resnet": {100: (0.0, 0.0, 0.0, 1)}}                 # no test line for it: not drawn
    fig = plot_data_scale(test, train)
    assert_figure_saves(fig, 1, tmp_path)
    assert_lines(fig.axes[0], [("vit: test", [100, 1000], [30, 10]), ("vit: train (own subset)", [100, 1000], [2, 1])])
    train_line = fig.axes[0].get_lines()[1]
    assert train_line.get_linestyle() == "--" and train_line.get_marker() == "x"
    assert_legend(fig.axes[0].get_legend(), ["vit: test", "vit: train (own subset)"])


def test_plot_sweep_draws_images_per_second_per_implementation_in_each_sweep(tmp_path):
    table = [{"sweep": "batch", "batch": b, "tokens": 16, "impl": impl, "train_img_s": (100.0 if impl == "numpyvit" else 300.0) * b}
             for b in (32, 64) for impl in ("pytorch", "numpyvit")]
    table += [{"sweep": "patch", "batch": 128, "tokens": t, "impl": "numpyvit", "train_img_s": 1000.0 / t}
              for t in (4, 16, 49)]
    fig = plot_sweep(table)
    assert_figure_saves(fig, 2, tmp_path)
    batch, patch = fig.axes
    assert_lines(batch, [("numpyvit", [32, 64], [3200, 6400]), ("pytorch", [32, 64], [9600, 19200])])
    assert_lines(patch, [("numpyvit", [4, 16, 49], [250, 62.5, 1000 / 49])])  # pytorch not timed here
    assert_legend(batch.get_legend(), ["numpyvit", "pytorch"])
    assert_texts(batch, xlabel="batch size", ylabel="training images/s", xscale="log",
                 title="cost per image against batch size")
    assert_texts(patch, xlabel="tokens (patches) per image: patch 14, 7, 4", ylabel="training images/s",
                 title="more tokens: attention grows as N^2")


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
            (heads,) = ax.collections                            # a dot per head
            x, y = heads.get_offsets().T
            np.testing.assert_allclose(sorted(y), sorted(10 * p + l + k / 10 for l in (1, 2, 3) for k in (1, 2)))
            np.testing.assert_allclose(np.round(x), [1, 1, 2, 2, 3, 3])   # layers, heads jittered apart
            assert len(set(x)) == 6
            # a mark per ResNet stage, right of the last layer: a stage is not a layer
            stages = [line for line in ax.get_lines() if min(line.get_xdata()) > 3]
            np.testing.assert_allclose([line.get_ydata()[0] for line in stages], [7.3, 10.7, 10.7])
            assert [t.get_text() for t in ax.texts] == ["S1", "S2", "S3"]
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
    assert_image(axes[1, 0], upsampled(template / template.max(), 8))
    assert_clim(axes[1, 0], 0, 1)                                   # the template scaled to max 1
    assert not axes[0, 0].axison and not axes[2, 0].axison
    lim = np.abs(maps - template).max()
    for b in range(3):
        assert_image(axes[0, b + 1], images[b])
        assert_texts(axes[0, b + 1], title=f"label {[4, 1, 7][b]}")
        assert_image(axes[1, b + 1], upsampled(maps[b], 8))
        assert_clim(axes[1, b + 1], 0, 1)
        assert_image(axes[2, b + 1], upsampled(maps[b] - template, 8))
        assert_clim(axes[2, b + 1], -lim, lim)                   # deviations on one symmetric scale


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
        assert ax.get_title() == f"patch {m['patch']} ({m['grid']}x{m['grid']} grid), 100 test images"
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


# --- the analysis report, against numbers computed here --------------------------------------------
# A tiny ViT on 12x12 images, patch 4: a 3x3 grid, so that there are neighbouring and distant
# positions; its weights moved off initialisation so that it differs from the untrained model.

REPORT_SHOW = 3


def report_model(pos_embed):
    return random_point(VisionTransformer(tiny_config(image_size=12, pos_embed=pos_embed), seed=0), seed=1, scale=0.5)


def sparse_digits(rng, n=5, grid=3, patch=4):
    """uint8 (n, 12, 12): black, with bright pixels in 2 to 5 of the 9 patches of each image,
    so that some patches hold no ink at all."""
    x = np.zeros((n, grid * patch, grid * patch), np.uint8)
    for b in range(n):
        for cell in rng.choice(grid * grid, size=rng.integers(2, 6), replace=False):
            r, c = divmod(int(cell), grid)
            x[b, r * patch:(r + 1) * patch, c * patch:(c + 1) * patch] = rng.integers(100, 256, (patch, patch))
    return x


def centre_distances(grid, patch):
    """(P, P) pixels between patch centres; patch i sits at grid row i // g, column i % g."""
    centres = [((i // grid + 0.5) * patch, (i % grid + 0.5) * patch) for i in range(grid * grid)]
    return np.array([[math.dist(a, b) for b in centres] for a in centres])


def expected_report(model, raw):
    """What write_analysis should write, computed with loops from the model's attention weights
    (read off its blocks after one forward pass) and its parameters."""
    cfg = model.config
    g, p, L, h = cfg.image_size // cfg.patch_size, cfg.patch_size, cfg.depth, cfg.heads
    P, B = g * g, len(raw)
    model.eval()
    model.forward(normalize(raw))
    att = np.stack([block.attn.att for block in model.blocks]).astype(np.float64)   # (L, B, h, N, N)
    d = centre_distances(g, p)

    # attention distance: patch queries over patch keys, each row renormalised; mean over images and queries
    dist = np.zeros((L, h))
    for l in range(L):
        for k in range(h):
            dist[l, k] = np.mean([att[l, b, k, 1 + i, 1:] @ d[i] / att[l, b, k, 1 + i, 1:].sum()
                                  for b in range(B) for i in range(P)])

    # rollout of the first images: heads averaged, residual mixed in, rows renormalised, last layer left
    maps = np.zeros((REPORT_SHOW, g, g))
    for b in range(REPORT_SHOW):
        R = np.eye(P + 1)
        for l in range(L):
            A = 0.5 * att[l, b].mean(axis=0) + 0.5 * np.eye(P + 1)
            R = (A / A.sum(axis=1, keepdims=True)) @ R
        maps[b] = R[0, 1:].reshape(g, g) / R[0, 1:].max()

    def cosine(embedding):
        E = np.asarray(embedding, np.float64)[0, 1:]                             # (P, D) without the class token
        return np.array([[E[i] @ E[j] / np.linalg.norm(E[i]) / np.linalg.norm(E[j]) for j in range(P)]
                         for i in range(P)])                                      # (P, P)

    def position_numbers(s):
        pairs = [(i, j) for i in range(P) for j in range(P)]
        grid_d2 = {(i, j): (i // g - j // g) ** 2 + (i % g - j % g) ** 2 for i, j in pairs}
        mean = lambda keep: float(np.mean([s[i, j] for i, j in pairs if keep(i, j)]))
        neighbour, distant = mean(lambda i, j: grid_d2[i, j] == 1), mean(lambda i, j: grid_d2[i, j] >= 4)
        return {"neighbour": neighbour, "distant": distant, "gap": neighbour - distant,
                "same_row": mean(lambda i, j: i // g == j // g and i != j),
                "same_column": mean(lambda i, j: i % g == j % g and i != j),
                "neither": mean(lambda i, j: i // g != j // g and i % g != j % g)}

    def pca(weight):
        X = np.asarray(weight, np.float64).reshape(len(weight), -1)
        X = X - X.mean(axis=0)
        _, S, Vt = np.linalg.svd(X, full_matrices=False)
        return S ** 2 / (S ** 2).sum(), Vt

    def for_90(r):
        return next(n for n in range(1, len(r) + 1) if r[:n].sum() >= 0.9 - 1e-12)

    untrained = VisionTransformer(cfg, seed=0)
    ratios, Vt = pca(model.patch_embed.proj.params["weight"])
    u_ratios, _ = pca(untrained.patch_embed.proj.params["weight"])
    sim = cosine(model.position_embedding())

    ink = raw.reshape(B, g, p, g, p).mean(axis=(2, 4)).reshape(B, P) > 0.1 * 255   # (B, P)
    to_ink = [d[i, ink[b]].mean() for b in range(B) if ink[b].any() for i in range(P)]
    baselines = {"self": 0.0, "uniform": float(d.mean()), "ink": float(np.mean(to_ink))}
    numbers = {
        "images": B, "patch": p, "grid": g,
        "distance_px": {"layer_min": dist.min(axis=1).tolist(), "layer_mean": dist.mean(axis=1).tolist(),
                        "layer_max": dist.max(axis=1).tolist(), "min": dist.min(), "max": dist.max()},
        "distance_baselines_px": baselines, "heads": L * h,
        "heads_below_ink": int((dist < baselines["ink"]).sum()),
        "heads_local": int((dist < 0.5 * baselines["uniform"]).sum()),
        "pos_embed": {"trained": position_numbers(sim), "untrained": position_numbers(cosine(untrained.position_embedding()))},
        "components": {"filters": cfg.dim, "count": len(ratios), "top3": ratios[:3].tolist(),
                       "for_90_percent": for_90(ratios), "for_90_percent_untrained": for_90(u_ratios)},
    }
    return {"distances": dist, "similarity": sim.reshape(g, g, g, g), "ratios": ratios, "directions": Vt,
            "rollout_maps": maps, "first_cls_map": att[0, 0, 0, 0, 1:].reshape(g, g), "numbers": numbers}


def flat(tree, path=""):
    """{'a': {'b': [1, 2]}} -> {'a.b.0': 1, 'a.b.1': 2}: nested JSON as one level for pytest.approx."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in flat(sub, f"{path}{key}.").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in flat(sub, f"{path}{i}.").items()}
    return {path[:-1]: float(tree)}


def assert_report_matches(out, figures, expected, raw, labels, pos_embed):
    """analysis.npz, analysis.json, summary.txt and the figures hold the expected numbers."""
    e, numbers = expected, expected["numbers"]
    for name in ("attention_maps.png", "attention_rollout.png", "attention_distance.png",
                 "pos_embed_similarity.png", "patch_embed_components.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name

    with np.load(out / "analysis.npz", allow_pickle=False) as arrays:
        a = dict(arrays)
    np.testing.assert_allclose(a["distances"], e["distances"], rtol=1e-5, err_msg="npz distances")
    np.testing.assert_allclose(a["similarity"], e["similarity"], rtol=1e-5, atol=1e-6, err_msg="npz similarity")
    np.testing.assert_allclose(a["ratios"], e["ratios"], rtol=1e-4, atol=1e-7, err_msg="npz ratios")
    np.testing.assert_allclose(a["rollout_maps"], e["rollout_maps"], rtol=1e-5, err_msg="npz rollout_maps")
    np.testing.assert_array_equal(a["shown_images"], raw[:REPORT_SHOW])
    np.testing.assert_array_equal(a["shown_labels"], labels[:REPORT_SHOW])
    # each component is a principal direction (up to the sign the package fixes: largest pixel positive);
    # only those that explain variance have a defined direction (8 centred filters span 7 dimensions)
    assert a["components"].shape == (len(e["ratios"]), 1, 4, 4)
    for comp, direction, ratio in zip(a["components"].reshape(len(e["ratios"]), -1), e["directions"], e["ratios"]):
        if ratio > 1e-6:
            assert abs(comp @ direction) == pytest.approx(1, abs=1e-4), "npz component is not a principal direction"
            assert comp[np.argmax(np.abs(comp))] > 0

    written = json.loads((out / "analysis.json").read_text())
    assert written.pop("dataset") == "mnist", "analysis.json: the dataset the model was trained on"
    assert written.pop("about") == "test"
    assert flat(written) == pytest.approx(flat(numbers), rel=1e-4, abs=1e-6), "analysis.json"

    summary = (out / "summary.txt").read_text()
    assert summary.startswith(f"numpyvit analysis on {len(raw)} images: depth 2, heads 2, patch 4 px "
                              f"(3x3 grid), pos_embed '{pos_embed}'\n")
    layers = [tuple(map(float, m)) for m in re.findall(r"layer \d+:\s+([\d.]+) /\s+([\d.]+) /\s+([\d.]+)", summary)]
    d = e["distances"]
    np.testing.assert_allclose(layers, np.stack([d.min(1), d.mean(1), d.max(1)], axis=1), atol=0.051,
                               err_msg="summary.txt distances")
    pos = numbers["pos_embed"]["trained"]
    cos = re.search(r"similarity ([-\d.]+) for 4-neighbours vs ([-\d.]+) at grid distance", summary)
    np.testing.assert_allclose([float(cos[1]), float(cos[2])], [pos["neighbour"], pos["distant"]], atol=5.1e-4,
                               err_msg="summary.txt similarity")
    more = "" if pos["gap"] > 0 else "NOT "
    assert f"neighbouring positions are {more}more similar than distant ones" in summary
    pcs = re.search(r"first 3 principal components explain ([\d.]+)% of their variance \(([\d.]+)%, ([\d.]+)%, ([\d.]+)%\)",
                    summary)
    r = 100 * e["ratios"]
    np.testing.assert_allclose([float(v) for v in pcs.groups()], [r[:3].sum(), *r[:3]], atol=0.051,
                               err_msg="summary.txt components")

    # the figures draw the same numbers
    for k, heads in enumerate(figures["plot_attention_distance"].axes[0].collections):
        np.testing.assert_allclose(np.asarray(heads.get_offsets())[:, 1], d[:, k], rtol=1e-5, err_msg="distance figure")
    for b in range(REPORT_SHOW):
        np.testing.assert_allclose(figures["plot_rollout"].axes[REPORT_SHOW + b].images[0].get_array(),
                                   upsampled(e["rollout_maps"][b], 12), rtol=1e-5, err_msg="rollout figure")
    for i, ax in enumerate(figures["plot_pos_embed_similarity"].axes[:9]):
        np.testing.assert_allclose(ax.images[0].get_array(), e["similarity"][i // 3, i % 3], rtol=1e-5, atol=1e-6,
                                   err_msg="similarity figure")
    np.testing.assert_allclose(figures["plot_attention_maps"].axes[0].images[0].get_array(),
                               upsampled(e["first_cls_map"], 12), rtol=1e-5, err_msg="attention map figure")


def run_report(pos_embed, tmp_path, monkeypatch):
    """write_analysis on a tiny model, recording the figures it makes; returns what the checker needs."""
    rng = np.random.default_rng(7)
    raw, labels = sparse_digits(rng), np.array([0, 1, 2, 0, 1])
    model = report_model(pos_embed)
    expected = expected_report(model, raw)
    figures = {}
    for name in ("plot_attention_maps", "plot_rollout", "plot_attention_distance", "plot_pos_embed_similarity"):
        def spy(*args, _plot=getattr(plots, name), _name=name, **kwargs):
            figures[_name] = _plot(*args, **kwargs)
            return figures[_name]
        monkeypatch.setattr(plots, name, spy)
    write_analysis(model, raw, labels, tmp_path / "out", n_show=REPORT_SHOW, dpi=40, about={"about": "test"})
    return tmp_path / "out", figures, expected, raw, labels


@pytest.mark.parametrize("pos_embed", ["learned", "sincos"])
def test_write_analysis_writes_the_numbers_computed_independently(pos_embed, tmp_path, monkeypatch):
    out, figures, expected, raw, labels = run_report(pos_embed, tmp_path, monkeypatch)
    numbers = expected["numbers"]
    # the example is not degenerate: the ink baseline is its own number and the untrained model differs
    assert numbers["distance_baselines_px"]["ink"] != pytest.approx(numbers["distance_baselines_px"]["uniform"])
    if pos_embed == "learned":
        assert numbers["pos_embed"]["trained"] != pytest.approx(numbers["pos_embed"]["untrained"])
    assert_report_matches(out, figures, expected, raw, labels, pos_embed)


def planted(module, name, change):
    """A planted bug: module.<name> returns change(what it returned)."""
    original = getattr(module, name)
    return module, name, lambda *args, **kwargs: change(original(*args, **kwargs))


def planted_input(module, name, change):
    """A planted bug: module.<name> is called with change(*its arguments)."""
    original = getattr(module, name)
    return module, name, lambda *args: original(*change(*args))


@pytest.mark.parametrize("module, name, bug, fails", [
    planted(analysis, "mean_attention_distance", lambda d: d + 1) + ("npz distances",),      # one pixel too far
    planted(analysis, "pos_embed_similarity", lambda s: 0.9 * s) + ("npz similarity",),      # not quite the cosine
    planted(analysis, "patch_embed_components",                                              # S, not S^2
            lambda cr: (cr[0], np.sqrt(cr[1]) / np.sqrt(cr[1]).sum())) + ("npz ratios",),
    planted(analysis, "attention_rollout", lambda R: np.swapaxes(R, -1, -2)) + ("npz rollout_maps",),  # column 0
    planted(analysis, "distance_baselines", lambda b: {**b, "ink": b["ink"] + 1}) + ("analysis.json",),
    planted_input(analysis, "summarize", lambda d, sim: (d + 1, sim)) + ("summary.txt distances",),
    planted(plots, "_upsample", lambda m: m[..., ::-1, :]) + ("rollout figure",),             # drawn upside down
], ids=["distance+1", "similarity*0.9", "ratios_of_S", "rollout_column", "ink_baseline+1", "summary_text",
        "figure_flipped"])
def test_the_report_check_fails_when_write_analysis_writes_a_wrong_number(module, name, bug, fails, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(module, name, bug)
    run = run_report("learned", tmp_path, monkeypatch)      # the expected numbers never call analysis.* or plots.*
    with pytest.raises(AssertionError, match=fails):
        assert_report_matches(*run, "learned")


def test_plot_distance_grids_puts_one_grid_s_runs_in_one_row():
    result, rows = distance_result(patches=(4,), augs=("none", "cutmix", "converged"))
    fig = plot_distance_grids(result, rows)
    axes = fig.axes[:3]
    assert [ax.get_title().split(", ")[1].split(":")[0] for ax in axes] == ["none", "cutmix", "converged"]
    positions = [ax.get_position().bounds for ax in axes]
    assert len({round(y, 3) for _, y, _, _ in positions}) == 1               # one row
    assert [ax.get_ylabel() for ax in axes] == ["mean attention distance (px)", "", ""]
    assert all(ax.get_xlabel() == "layer (block)" for ax in axes)
