"""The attention-distance references and per-head measures: every reference on the
heads' grid and queries, the self share, the offset pattern, and the growth rule's ceiling."""
import numpy as np
import pytest

from numpyvit.experiments.attention_distance import growth_verdict, resnet_reference
from numpyvit.insight.analysis import (distance_baselines, field_distance, mean_attention_distance,
                                       offset_attention, patch_distances, self_share, strongest_offset)


def hand_made(rows_per_head, grid):
    """(1, 1, h, P+1, P+1) attentions from hand-made patch rows, the class token on itself."""
    P = grid * grid
    att = np.zeros((1, 1, len(rows_per_head), P + 1, P + 1))
    att[..., 0, 0] = 1.0
    for k, rows in enumerate(rows_per_head):
        att[0, 0, k, 1:, 1:] = rows
    return att


def right_neighbour(grid):
    """Every patch attends to the patch on its right (the last column to itself)."""
    P = grid * grid
    rows = np.zeros((P, P))
    for i in range(P):
        rows[i, i + 1 if i % grid < grid - 1 else i] = 1.0
    return rows


@pytest.mark.parametrize("grid,patch", [(4, 7), (7, 4)])
def test_a_whole_image_field_is_uniform_attention_and_a_tiny_one_is_self(grid, patch):
    uniform = distance_baselines(np.ones((1, grid * grid), bool), patch, grid)["uniform"]
    assert field_distance(grid, patch, 10 * 28) == pytest.approx(uniform, rel=1e-12)
    assert field_distance(grid, patch, patch - 1) == 0.0


def test_field_distance_is_averaged_over_every_query_not_the_centre():
    # a 3 x 3 field on the 4 x 4 grid of 7 px patches: by hand, per query the mean distance to
    # the patches of its clipped 3 x 3 neighbourhood
    g, p = 4, 7
    d = patch_distances(g, p)
    rows, cols = np.divmod(np.arange(16), 4)
    by_hand = np.mean([np.mean([d[i, j] for j in range(16) if abs(rows[i] - rows[j]) <= 1 and abs(cols[i] - cols[j]) <= 1])
                       for i in range(16)])
    assert field_distance(g, p, 19) == pytest.approx(by_hand, rel=1e-12)
    inner = np.mean([d[5, j] for j in range(16) if abs(rows[5] - rows[j]) <= 1 and abs(cols[5] - cols[j]) <= 1])
    assert abs(field_distance(g, p, 19) - inner) > 0.1          # a corner query's field is clipped: not the centre's


def test_resnet_reference_is_on_the_heads_grid_and_a_share_of_its_uniform():
    for g, p in ((4, 7), (7, 4)):
        ref = resnet_reference(g, p)
        uniform = distance_baselines(np.ones((1, g * g), bool), p, g)["uniform"]
        assert [s["receptive_field_px"] for s in ref] == [19, 47, 103]
        assert ref[-1]["uniform_over_field_px"] == pytest.approx(uniform)      # 103 px covers the image
        assert ref[-1]["share_of_uniform"] == pytest.approx(1.0)
        assert ref[0]["share_of_uniform"] < 0.6


def test_self_share_tells_self_from_uniform_from_neighbour():
    g, P = 4, 16
    att = hand_made([np.eye(P), np.full((P, P), 1 / P), right_neighbour(g)], g)
    share = self_share(att)[0]
    np.testing.assert_allclose(share, [1.0, 1 / P, 4 / P])      # the last column's 4 patches stay on themselves
    np.testing.assert_allclose(offset_attention(att, g)[0, :, 3, 3], share)   # offset (0, 0) is the self share


def test_offset_attention_finds_the_fixed_neighbour():
    g, P = 4, 16
    att = hand_made([np.full((P, P), 1 / P), right_neighbour(g), np.eye(P)], g)
    off = offset_attention(att, g)                               # (1, 3, 7, 7)
    assert off.shape == (1, 3, 7, 7)
    np.testing.assert_allclose(off[0, 0][off[0, 0] > 0], 1 / P)  # uniform: 1/P at every offset
    assert off[0, 1, 3, 4] == pytest.approx(1.0)                 # one column right, from every query that has one
    where, share = strongest_offset(off)
    assert where[0, 1].tolist() == [0, 1] and share[0, 1] == pytest.approx(1.0)
    assert share[0, 2] == 0.0                                    # a self-only head has no strongest other offset
    assert share[0, 0] == pytest.approx(1 / P)


def test_offset_attention_renormalises_over_patches_like_the_distance():
    g, P = 4, 16
    rows = right_neighbour(g) * 0.5                             # half of each row on the class token
    att = hand_made([rows], g)
    att[0, 0, 0, 1:, 0] = 0.5
    assert offset_attention(att, g)[0, 0, 3, 4] == pytest.approx(1.0)
    assert self_share(att)[0, 0] == pytest.approx(4 / P)
    assert mean_attention_distance(att, 7, g)[0, 0] == pytest.approx(7 * 12 / 16)


def test_growth_with_no_room_below_uniform_is_a_ceiling_not_flat():
    assert growth_verdict([13.0, 13.2, 13.4, 13.5, 13.6, 13.8], 14.1, 1.4)[0] == "no room"
    assert growth_verdict([9.0, 9.2, 9.1, 9.3, 9.0, 9.2], 14.1, 1.4)[0] == "flat"     # 5 px of room, no growth
    assert growth_verdict([9.0, 10, 11, 12, 13, 14], 14.1, 1.4)[0] == "grows"
    assert growth_verdict([13.0, 13.2, 13.4, 13.5, 13.6, 13.8], 14.1, 1.4)[2] == pytest.approx(1.1)
