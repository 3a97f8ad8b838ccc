"""The section 4.5 analyses, each against an input whose answer is known by hand."""
import numpy as np
import pytest

from numpyvit import VisionTransformer
from numpyvit.insight.analysis import (attention_distance_for_model, attention_maps, attention_rollout,
                               mean_attention_distance, neighbour_similarity_summary,
                               patch_embed_components, pos_embed_similarity, rollout_map, summarize,
                               components_for_share, row_column_similarity)
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
