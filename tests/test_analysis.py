"""The section 4.5 analyses, each against an input whose answer is known by hand."""
from types import SimpleNamespace

import numpy as np
import pytest

from numpyvit import VisionTransformer
from numpyvit.insight.analysis import (attention_distance_for_model, attention_maps, attention_rollout,
                               deletion_curve, dim_patches, distance_baselines, ink_per_patch,
                               mean_attention_distance, neighbour_similarity_summary,
                               patch_embed_components, pos_embed_similarity, rollout_controls, rollout_map,
                               rollout_maps_for_model, summarize, components_for_share, row_column_similarity)
from numpyvit.layers.module import Module
from conftest import tiny_config


def row_normalise(a):
    return a / a.sum(axis=-1, keepdims=True)


def rollout_step(W):
    """0.5 W + 0.5 I with rows renormalised, written out plainly."""
    A = 0.5 * W + 0.5 * np.eye(len(W))
    return A / A.sum(axis=1, keepdims=True)


# --- attention distance and rollout on identity / uniform attention ------------------------------

def test_identity_attention_gives_zero_distance_and_identity_rollout():
    L, B, h, grid = 3, 2, 4, 3
    N = grid * grid + 1
    att = np.broadcast_to(np.eye(N), (L, B, h, N, N))
    np.testing.assert_array_equal(mean_attention_distance(att, 7, grid), np.zeros((L, h)))
    np.testing.assert_allclose(attention_rollout(att), np.broadcast_to(np.eye(N), (B, N, N)))


def mean_pairwise_patch_distance(grid, patch_size):
    """Mean distance between patch centres over all (query, key) pairs, self pairs included."""
    centres = [((r + 0.5) * patch_size, (c + 0.5) * patch_size) for r in range(grid) for c in range(grid)]
    total = 0.0
    for yi, xi in centres:
        for yj, xj in centres:
            total += ((yi - yj) ** 2 + (xi - xj) ** 2) ** 0.5
    return total / len(centres) ** 2


@pytest.mark.parametrize("include_class_token", [False, True])
def test_uniform_attention_gives_mean_pairwise_patch_distance(include_class_token):
    grid, p, L, B, h = 3, 7, 2, 3, 2
    N = grid * grid + 1
    att = np.ones((L, B, h, N, N))
    if not include_class_token:
        att[..., 0] = 0.0      # no weight on the class token: uniform over the patches
    att = row_normalise(att)   # with weight on the class token, dropping it must renormalise
    expected = mean_pairwise_patch_distance(grid, p)
    np.testing.assert_allclose(mean_attention_distance(att, p, grid), np.full((L, h), expected))
    # and for one image's (L, h, N, N)
    np.testing.assert_allclose(mean_attention_distance(att[:, 0], p, grid), np.full((L, h), expected))


def test_attention_distance_scales_with_patch_size_and_skips_rows_without_patch_weight():
    grid = 2
    N = 5
    att = row_normalise(np.ones((1, 1, 1, N, N)))
    d7 = mean_attention_distance(att, 7, grid)
    np.testing.assert_allclose(mean_attention_distance(att, 14, grid), 2 * d7)
    # a query row that looks only at the class token has no distance: leaving it out of the
    # average keeps the answer of the remaining rows (instead of NaN or a pull towards 0)
    att2 = att.copy()
    att2[..., 1, :] = 0.0
    att2[..., 1, 0] = 1.0
    np.testing.assert_allclose(mean_attention_distance(att2, 7, grid), d7)


# --- rollout ------------------------------------------------------------------------------------

def test_rollout_of_one_layer_is_half_attention_plus_identity_row_normalised(rng):
    N = 5
    W = row_normalise(rng.random((N, N)))
    R = attention_rollout(W[None, None, None])                  # (L=1, B=1, h=1, N, N)
    np.testing.assert_allclose(R[0], rollout_step(W))


def test_rollout_multiplies_layers_last_on_the_left(rng):
    N = 4
    W1, W2 = row_normalise(rng.random((N, N)) ** 4), row_normalise(rng.random((N, N)) ** 4)
    A1, A2 = rollout_step(W1), rollout_step(W2)
    assert not np.allclose(A2 @ A1, A1 @ A2)                    # order matters for these
    R = attention_rollout(np.stack([W1, W2])[:, None])          # (L=2, h=1, N, N): one image
    assert R.shape == (N, N)
    np.testing.assert_allclose(R, A2 @ A1)
    assert not np.allclose(R, A1 @ A2)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_head_fusion(fusion, rng):
    N = 4
    heads = row_normalise(rng.random((3, N, N)))                # (h, N, N)
    fused = {"mean": heads.mean(0), "max": heads.max(0), "min": heads.min(0)}[fusion]
    R = attention_rollout(heads[None], head_fusion=fusion)      # (L=1, h, N, N)
    np.testing.assert_allclose(R, rollout_step(fused))


def test_discard_ratio_zeroes_the_lowest_weights_but_never_the_class_token_own():
    N = 3
    # distinct weights; W[0, 0] is the smallest of all, so it would be discarded first
    W = np.array([[0.01, 0.60, 0.39],
                  [0.20, 0.50, 0.30],
                  [0.05, 0.25, 0.70]])
    # discard_ratio 0.34 of 9 weights -> the 3 lowest apart from W[0, 0]: 0.05, 0.20, 0.25
    kept = W.copy()
    kept[2, 0] = kept[1, 0] = kept[2, 1] = 0.0
    R = attention_rollout(W[None, None], discard_ratio=0.34)
    np.testing.assert_allclose(R, rollout_step(kept))
    # ratio 0 discards nothing
    np.testing.assert_allclose(attention_rollout(W[None, None], discard_ratio=0.0), rollout_step(W))


def test_rollout_keeps_float32():
    att = row_normalise(np.ones((2, 1, 2, 5, 5), dtype=np.float32))
    assert attention_rollout(att, discard_ratio=0.5).dtype == np.float32


def test_rollout_map_is_the_class_token_row_over_patches_scaled_to_max_one():
    grid = 2
    R = np.zeros((2, 5, 5))
    R[0, 0] = [0.5, 0.1, 0.2, 0.05, 0.15]
    R[1, 0] = [1.0, 0.0, 0.0, 0.0, 0.0]                         # all on itself: stays 0, not NaN
    m = rollout_map(R, grid)
    assert m.shape == (2, grid, grid)
    np.testing.assert_allclose(m[0], np.array([[0.1, 0.2], [0.05, 0.15]]) / 0.2)
    np.testing.assert_array_equal(m[1], np.zeros((grid, grid)))
    np.testing.assert_allclose(rollout_map(R[0], grid), m[0])


# --- position embeddings --------------------------------------------------------------------------

def test_one_hot_position_embeddings_are_similar_only_to_themselves():
    grid = 3
    P = grid * grid
    pos = np.concatenate([np.full((1, P), 0.3), np.eye(P)])[None]   # (1, N, D): class token row first
    sim = pos_embed_similarity(pos, grid)
    assert sim.shape == (grid,) * 4
    np.testing.assert_allclose(sim.reshape(P, P), np.eye(P), atol=1e-12)
    np.testing.assert_allclose(pos_embed_similarity(pos[0], grid), sim)   # (N, D) too
    s = neighbour_similarity_summary(sim)
    assert s["neighbour"] == pytest.approx(0.0) and s["gap"] == pytest.approx(0.0)  # no positive gap


def smooth_position_embedding(grid):
    """Each position embedded as a Gaussian bump centred on it: neighbours overlap more."""
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    d2 = (rows[:, None] - rows[None]) ** 2 + (cols[:, None] - cols[None]) ** 2
    return np.concatenate([np.zeros((1, grid * grid)), np.exp(-d2 / 2.0)])   # (N, D=P)


def test_smooth_position_embeddings_make_neighbours_more_similar():
    grid = 4
    sim = pos_embed_similarity(smooth_position_embedding(grid), grid)
    s = neighbour_similarity_summary(sim)
    assert s["gap"] > 0.1
    assert s["gap"] == pytest.approx(s["neighbour"] - s["distant"])
    # 4-neighbours of (0, 0) are (0, 1) and (1, 0); (1, 1) is diagonal, in neither group
    assert sim[0, 0, 0, 1] == pytest.approx(sim[0, 0, 1, 0])
    assert sim[0, 0, 0, 1] > sim[0, 0, 1, 1] > sim[0, 0, 2, 2]


def test_neighbour_summary_on_a_grid_too_small_for_distant_pairs():
    s = neighbour_similarity_summary(np.ones((2, 2, 2, 2)))
    assert s["neighbour"] == 1.0 and np.isnan(s["distant"]) and np.isnan(s["gap"])


def test_summarize_reports_each_layer_and_the_verdict():
    distances = np.array([[3.0, 7.0, 11.0], [10.0, 12.0, 14.0]])
    sim = pos_embed_similarity(smooth_position_embedding(4), 4)
    text = summarize(distances, sim)
    assert "layer 1:   3.0 /   7.0 /  11.0" in text
    assert "layer 2:  10.0 /  12.0 /  14.0" in text
    assert "neighbouring positions are more similar than distant ones" in text
    flat = pos_embed_similarity(np.concatenate([np.zeros((1, 16)), np.eye(16)]), 4)
    assert "NOT more similar" in summarize(distances, flat)


# --- patch embedding filters ------------------------------------------------------------------

def test_patch_components_recover_two_known_orthogonal_directions(rng):
    D, C, p = 300, 1, 4
    Q, _ = np.linalg.qr(rng.standard_normal((C * p * p, 2)))
    u, v = Q[:, 0], Q[:, 1]                                     # orthonormal directions
    a = rng.standard_normal(D)
    a = 3.0 * (a - a.mean()) / a.std()                          # variance 9 along u
    b = rng.standard_normal(D)
    b = b - b.mean() - (b - b.mean()) @ a / (a @ a) * a         # uncorrelated with a
    b = b / b.std()                                             # variance 1 along v
    filters = np.outer(a, u) + np.outer(b, v) + 5.0            # + a shared offset, removed by centring
    filters += 1e-6 * rng.standard_normal(filters.shape)        # tiny noise
    comps, ratios = patch_embed_components(filters.reshape(D, C, p, p), k=2)
    assert comps.shape == (2, C, p, p) and ratios.shape == (2,)
    assert abs(comps[0].ravel() @ u) == pytest.approx(1.0, abs=1e-6)   # up to sign
    assert abs(comps[1].ravel() @ v) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(ratios, [0.9, 0.1], atol=1e-6)
    _, all_ratios = patch_embed_components(filters.reshape(D, C, p, p))
    assert len(all_ratios) == C * p * p and all_ratios.sum() == pytest.approx(1.0)
    assert np.all(np.diff(all_ratios) <= 0)


# --- on a real (tiny) model ---------------------------------------------------------------------

def test_attention_maps_on_a_tiny_model(rng):
    model = VisionTransformer(tiny_config(), seed=0)
    images = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
    att = attention_maps(model, images, batch_size=2)            # 3 chunks: 2 + 2 + 1
    assert att.shape == (2, 5, 2, 5, 5)                          # (L, B, h, N, N), N = 2*2 + 1
    assert att.dtype == np.float32
    np.testing.assert_allclose(att.sum(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(att, attention_maps(model, images, batch_size=256), rtol=1e-5)
    assert model.training                                        # the training flag is restored
    d = attention_distance_for_model(model, images)
    assert d.shape == (2, 2) and np.all((d > 0) & (d < 4 * np.sqrt(2)))


# --- bad inputs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("call,value", [
    (lambda: attention_rollout(np.ones((2, 5, 5))), "(2, 5, 5)"),
    (lambda: attention_rollout(np.ones((1, 1, 2, 5, 5)), head_fusion="median"), "median"),
    (lambda: attention_rollout(np.ones((1, 1, 2, 5, 5)), discard_ratio=1.0), "1.0"),
    (lambda: attention_rollout(np.ones((1, 1, 2, 5, 5)), discard_ratio=-0.1), "-0.1"),
    (lambda: mean_attention_distance(np.ones((1, 2, 5, 4)), 7, 2), "(1, 2, 5, 4)"),
    (lambda: mean_attention_distance(np.ones((1, 2, 5, 5)), 7, 3), "N=5"),
    (lambda: rollout_map(np.ones((2, 5, 5)), 3), "N=5"),
    (lambda: pos_embed_similarity(np.ones((2, 5, 4)), 2), "(2, 5, 4)"),
    (lambda: pos_embed_similarity(np.ones((4, 4)), 2), "4 embeddings"),
    (lambda: patch_embed_components(np.ones((4, 16))), "(4, 16)"),
    (lambda: patch_embed_components(np.ones((4, 1, 2, 2)), k=5), "k=5"),
    (lambda: neighbour_similarity_summary(np.ones((3, 3))), "(3, 3)"),
    (lambda: summarize(np.ones(3), np.ones((2, 2, 2, 2))), "(3,)"),
])
def test_bad_inputs_raise_value_error_naming_the_value(call, value):
    with pytest.raises(ValueError) as info:
        call()
    assert value in str(info.value)


def test_row_column_similarity_separates_rows_from_columns():
    g = 3
    rows, cols = np.divmod(np.arange(g * g), g)
    # embeddings that code the row only: same row -> identical (1), other rows -> orthogonal (0)
    E = np.zeros((g * g + 1, g))
    E[1 + np.arange(g * g), rows] = 1.0
    s = row_column_similarity(pos_embed_similarity(E, g))
    assert s == {"same_row": 1.0, "same_column": 0.0, "neither": 0.0}
    E2 = np.zeros((g * g + 1, g))
    E2[1 + np.arange(g * g), cols] = 1.0                       # the transpose: columns alike
    s2 = row_column_similarity(pos_embed_similarity(E2, g))
    assert s2 == {"same_row": 0.0, "same_column": 1.0, "neither": 0.0}
    with pytest.raises(ValueError, match=r"\(g, g, g, g\)"):
        row_column_similarity(np.ones((1, 1, 1, 1)))


def test_components_for_share_counts_to_the_share():
    ratios = np.array([0.5, 0.3, 0.15, 0.05])
    assert components_for_share(ratios, 0.5) == 1
    assert components_for_share(ratios, 0.8) == 2
    assert components_for_share(ratios, 0.9) == 3
    assert components_for_share(ratios, 1.0) == 4


# --- ink and the distance baselines ---------------------------------------------------------------

def ink_by_loop(images, p):
    """Mean of every patch (row-major), over its pixels and channels, one patch at a time."""
    x = np.asarray(images, dtype=np.float64)
    x = x[:, None] if x.ndim == 3 else x
    g = x.shape[-1] // p
    return np.array([[x[b, :, r * p:(r + 1) * p, c * p:(c + 1) * p].mean() for r in range(g) for c in range(g)]
                     for b in range(len(x))])


@pytest.mark.parametrize("shape", [(3, 12, 12), (3, 2, 12, 12)])
def test_ink_per_patch_is_the_mean_of_each_patch_in_row_major_order(shape, rng):
    images = rng.integers(0, 256, shape).astype(np.uint8)
    ink = ink_per_patch(images, 4)
    assert ink.shape == (3, 9)
    np.testing.assert_allclose(ink, ink_by_loop(images, 4), rtol=1e-12)
    one = np.zeros((1, 12, 12))
    one[0, 4:8, 8:12] = 255                                     # grid row 1, column 2: patch 5
    np.testing.assert_array_equal(ink_per_patch(one, 4), [[0, 0, 0, 0, 0, 255, 0, 0, 0]])


@pytest.mark.parametrize("shape", [(2, 12, 10), (2, 12, 12), (12, 12), (1, 1, 1, 12, 12)])
def test_ink_per_patch_rejects_non_square_or_indivisible_images(shape):
    with pytest.raises(ValueError, match=r"images.shape=.*patch_size=5"):
        ink_per_patch(np.zeros(shape), 5)


def ink_baseline_by_loop(mask, grid, p):
    """Mean over images with ink and every query patch of the mean distance to the ink patches."""
    centres = [((r + 0.5) * p, (c + 0.5) * p) for r in range(grid) for c in range(grid)]
    per_query = []
    for row in mask:
        inked = [centres[j] for j in np.flatnonzero(row)]
        if not inked:
            continue
        for yi, xi in centres:
            per_query.append(np.mean([np.hypot(yi - yj, xi - xj) for yj, xj in inked]))
    return float(np.mean(per_query))


def test_distance_baselines_match_brute_force_loops(rng):
    grid, p = 4, 7
    mask = rng.random((5, 16)) < 0.3
    mask[2] = False                                              # an image without ink: left out
    base = distance_baselines(mask, p, grid)
    assert base["self"] == 0.0
    assert base["uniform"] == pytest.approx(mean_pairwise_patch_distance(grid, p), rel=1e-12)
    assert base["ink"] == pytest.approx(ink_baseline_by_loop(mask, grid, p), rel=1e-12)
    # the test would catch an inkless image counted as distance 0 rather than left out
    assert base["ink"] != pytest.approx(base["ink"] * 4 / 5)
    assert np.isnan(distance_baselines(np.zeros((2, 16), bool), p, grid)["ink"])
    with pytest.raises(ValueError, match=r"ink_mask.shape=\(5, 9\), expected \(B, 16\)"):
        distance_baselines(mask[:, :9], p, grid)


def attention_over(weights):
    """Hand-made attention (L=1, B, h=1, N, N) whose patch query i spreads over the keys as
    weights[b, i] (B, P, P) says; the class token's row and column stay 0."""
    B, P, _ = weights.shape
    att = np.zeros((1, B, 1, P + 1, P + 1))
    att[0, :, 0, 1:, 1:] = weights
    att[0, :, 0, 0, 0] = 1.0                                     # the class token's row: itself
    return att


def test_hand_made_attentions_score_exactly_their_baselines(rng):
    grid, p = 4, 7
    P = grid * grid
    mask = rng.random((6, P)) < 0.3
    mask[1] = False                                              # no ink: its rows hold no weight
    mask[3, 5] = True
    base = distance_baselines(mask, p, grid)
    uniform = attention_over(np.full((6, P, P), 1.0 / P))
    itself = attention_over(np.broadcast_to(np.eye(P), (6, P, P)).copy())
    over_ink = attention_over(np.broadcast_to(mask[:, None, :] / np.maximum(mask.sum(1), 1)[:, None, None],
                                              (6, P, P)).copy())
    assert mean_attention_distance(uniform, p, grid)[0, 0] == pytest.approx(base["uniform"], rel=1e-12)
    assert mean_attention_distance(itself, p, grid)[0, 0] == base["self"] == 0.0
    assert mean_attention_distance(over_ink, p, grid)[0, 0] == pytest.approx(base["ink"], rel=1e-12)
    # and the three are told apart: a digit off the centre is not the uniform baseline
    assert base["ink"] != pytest.approx(base["uniform"], rel=1e-3)


# --- rollout against its controls -----------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [3, 4, 100])
def test_rollout_maps_for_model_in_chunks_equal_one_rollout_of_all_images(batch_size, rng):
    model = VisionTransformer(tiny_config(), seed=0, dtype=np.float64)
    images = rng.standard_normal((7, 1, 8, 8))                  # 7 = 3+3+1 = 4+3: chunks that do not divide B
    in_one_go = rollout_map(attention_rollout(attention_maps(model, images)), model.patch_embed.grid)
    maps = rollout_maps_for_model(model, images, batch_size=batch_size)
    assert maps.shape == (7, 2, 2)
    np.testing.assert_allclose(maps, in_one_go, rtol=1e-12)
    # the comparison tells fusions apart: max over heads is another map
    assert not np.allclose(rollout_maps_for_model(model, images, batch_size, head_fusion="max"), in_one_go)


def test_identical_maps_are_their_own_template_with_no_deviation(rng):
    one = np.arange(9).reshape(3, 3) / 8                         # multiples of 1/8: the mean of copies is exact
    maps = np.broadcast_to(one, (5, 3, 3))
    ink = rng.random((5, 9))
    c = rollout_controls(maps, ink)
    np.testing.assert_array_equal(c["template"], one)
    np.testing.assert_array_equal(c["deviation"], 0.0)
    np.testing.assert_array_equal(c["corr_rollout"], c["corr_template"])
    assert c["corr_rollout"].shape == (5,) and np.all(np.abs(c["corr_rollout"]) <= 1)
    assert np.all(np.isnan(c["corr_deviation"]))                # a zero deviation has no correlation


def test_maps_equal_to_the_ink_correlate_perfectly_and_the_template_does_not(rng):
    ink = rng.random((6, 9)) * 255
    maps = ink.reshape(6, 3, 3) / ink.max(axis=1)[:, None, None]   # any positive scale: correlation 1
    c = rollout_controls(maps, ink)
    np.testing.assert_allclose(c["corr_rollout"], 1.0, rtol=1e-12)
    assert np.all(c["corr_template"] < 0.99)                    # one map for all digits cannot follow each
    np.testing.assert_allclose(c["template"], maps.mean(axis=0))
    np.testing.assert_allclose(c["deviation"], maps - maps.mean(axis=0))
    with pytest.raises(ValueError, match=r"maps.shape=\(6, 3, 3\) and ink.shape=\(6, 4\)"):
        rollout_controls(maps, ink[:, :4])


# --- blanking patches and deletion curves ---------------------------------------------------------

def blank_by_loop(images, patches, p, value):
    x = np.array(images, copy=True)
    g = x.shape[-1] // p
    for b, row in enumerate(patches):
        for i in row:
            r, c = divmod(int(i), g)
            x[b, :, r * p:(r + 1) * p, c * p:(c + 1) * p] = value
    return x


def blank_patches(images, patches, patch_size, value):
    """Blanking the listed patches (B, k) the way deletion_curve does: dim_patches by 1."""
    factors = np.zeros((len(images), (images.shape[-1] // patch_size) ** 2))
    np.put_along_axis(factors, np.asarray(patches, dtype=np.int64), 1.0, axis=1)
    return dim_patches(images, factors, patch_size, value)


def test_blank_patches_sets_exactly_the_listed_patches_and_leaves_the_input_alone(rng):
    images = rng.standard_normal((3, 2, 9, 9))                  # grid 3, patch 3, two channels
    before = images.copy()
    patches = np.array([[0, 4], [8, 8], [5, 1]])                # a repeat is harmless
    out = blank_patches(images, patches, 3, -0.5)
    np.testing.assert_array_equal(out, blank_by_loop(images, patches, 3, -0.5))
    np.testing.assert_array_equal(images, before)               # a copy: the input is untouched
    changed = out != images
    assert changed.sum() == (2 + 1 + 2) * 2 * 9                 # patches x channels x 3*3 pixels
    assert changed[1, :, 6:, 6:].all() and not changed[1, :, :6].any()
    np.testing.assert_array_equal(blank_patches(images, np.zeros((3, 0), int), 3, -0.5), images)   # k = 0


class OnePatchModel(Module):
    """A stand-in classifier that looks at one patch only: class 1 when the mean of patch
    `watched` (patch size 2, 4x4 images: a 2x2 grid) is above 0.5, else class 0."""

    def __init__(self, watched):
        super().__init__(np.float64)
        self.config = SimpleNamespace(patch_size=2)
        self.watched = watched

    def forward(self, x):
        r, c = divmod(self.watched, 2)
        on = x[:, :, 2 * r:2 * r + 2, 2 * c:2 * c + 2].mean(axis=(1, 2, 3)) > 0.5
        return np.stack([~on, on], axis=1).astype(np.float64)   # (B, 2) logits


def one_patch_task(rng, B=10, watched=3):
    """Images whose label is whether patch `watched` is lit; every other patch random noise."""
    labels = np.arange(B) % 2
    x = rng.random((B, 1, 4, 4)) * 0.4
    r, c = divmod(watched, 2)
    x[labels == 1, :, 2 * r:2 * r + 2, 2 * c:2 * c + 2] = 1.0
    return x, labels


def test_deletion_of_the_one_patch_the_model_uses_drops_accuracy_at_k1(rng):
    model = OnePatchModel(watched=3)
    x, y = one_patch_task(rng)
    faithful = np.tile([0.1, 0.2, 0.3, 0.9], (10, 1))           # patch 3 ranked highest
    high = deletion_curve(model, x, y, faithful, [0, 1, 4], background=0.0, order="high", batch_size=3)
    low = deletion_curve(model, x, y, faithful, [0, 1, 3], background=0.0, order="low", batch_size=3)
    np.testing.assert_array_equal(high, [1.0, 0.5, 0.5])        # the lit half now reads as 0
    np.testing.assert_array_equal(low, [1.0, 1.0, 1.0])         # the used patch is blanked last
    assert model.training                                       # the training flag is restored


def test_deletion_curve_shows_no_drop_for_an_unfaithful_score_map(rng):
    model = OnePatchModel(watched=3)
    x, y = one_patch_task(rng)
    unfaithful = np.tile([0.9, 0.2, 0.3, 0.1], (10, 1))         # highest on patch 0, which the model ignores
    high = deletion_curve(model, x, y, unfaithful, [0, 1, 3, 4], background=0.0, order="high")
    np.testing.assert_array_equal(high, [1.0, 1.0, 1.0, 0.5])   # only once patch 3 goes too


def test_random_deletion_is_seeded_and_needs_a_generator(rng):
    model = OnePatchModel(watched=3)
    x, y = one_patch_task(rng, B=40)
    scores = rng.random((40, 4))
    a = deletion_curve(model, x, y, scores, [0, 1, 2, 4], 0.0, order="random", rng=np.random.default_rng(1))
    b = deletion_curve(model, x, y, scores, [0, 1, 2, 4], 0.0, order="random", rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a[0] == 1.0 and 0.5 < a[1] < 1.0 and a[-1] == 0.5    # k=1 hits patch 3 in about a quarter of images
    with pytest.raises(ValueError, match="order='random' needs rng"):
        deletion_curve(model, x, y, scores, [1], 0.0, order="random")


@pytest.mark.parametrize("kwargs, message", [
    (dict(order="middle"), "order='middle', expected 'high', 'low' or 'random'"),
    (dict(ks=[1, 5]), r"k=5 must lie in \[0, 4\]"),
    (dict(ks=[-1]), r"k=-1 must lie in \[0, 4\]"),
])
def test_deletion_curve_rejects_a_bad_order_or_k(kwargs, message, rng):
    model = OnePatchModel(watched=3)
    x, y = one_patch_task(rng)
    call = {"ks": [0, 1], "order": "high", **kwargs}
    with pytest.raises(ValueError, match=message):
        deletion_curve(model, x, y, rng.random((10, 4)), background=0.0, **call)
    assert model.training                                       # restored even after the error
