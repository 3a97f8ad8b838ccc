"""Notebook 9's pieces: the resampling helpers, the equivariance measure (and that it catches a
map that is not equivariant), and tools/paper_pieces.py in its tiny mode and its committed result."""
import json
from pathlib import Path

import numpy as np
import pytest

from numpyvit import ViTConfig, VisionTransformer, normalize
from numpyvit.data.augment import shift_images
from numpyvit.data.resample import on_canvas, upsample
from numpyvit.insight.equivariance import (cells_over, resnet_feature_maps, room_to_shift, shift_error,
                                           vit_token_maps)
from numpyvit.layers.conv import Conv2d
from numpyvit.models.resize import at_resolution
from numpyvit.models.resnet import ResNet, ResNetConfig
from tools import paper_pieces

RESULT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "paper_pieces.json"


def digits(n=6, seed=0, room=8):
    """Blocky fake digits (28x28 uint8) whose ink stays clear of the last `room` columns and
    of a 4 px frame elsewhere."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.uint8)
    x[:, 4:24, 4:28 - room] = rng.integers(0, 256, (n, 20, 24 - room))
    return x


# --- resampling ----------------------------------------------------------------------------
def test_upsample_repeats_every_pixel_in_a_block():
    x = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    up = upsample(x, 2)
    assert up.shape == (2, 6, 6) and up.dtype == np.uint8
    assert np.array_equal(up[:, ::2, ::2], x) and np.array_equal(up[:, 1::2, 1::2], x)
    assert np.array_equal(up[:, 4, 5], x[:, 2, 2])


def test_upsample_refuses_a_factor_that_is_not_a_whole_number():
    with pytest.raises(ValueError, match="factor=1.5"):
        upsample(np.zeros((1, 4, 4)), 1.5)


def test_on_canvas_puts_the_image_in_the_middle_of_a_blank_frame():
    x = np.full((2, 28, 28), 7, np.uint8)
    c = on_canvas(x, 56)
    assert c.shape == (2, 56, 56) and c.sum() == x.sum()
    assert np.array_equal(c[:, 14:42, 14:42], x) and c[:, :14].max() == 0
    with pytest.raises(ValueError, match="size=20 is smaller"):
        on_canvas(x, 20)


def test_room_to_shift_marks_the_digits_with_blank_columns_on_the_right():
    x = digits(3)
    x[1, 10, 24] = 1                            # one pixel of ink in the last 8 columns, not the last 3
    assert room_to_shift(x, 8).tolist() == [True, False, True]
    assert room_to_shift(x, 3).tolist() == [True, True, True]


def test_cells_over_picks_the_cells_whose_centres_lie_in_the_box():
    assert cells_over(14, 42, 2).tolist() == list(range(7, 21))
    assert cells_over(0, 28, 7, offset=3).tolist() == [0, 1, 2, 3]


# --- the equivariance measure --------------------------------------------------------------
def conv_map(x, conv):
    return conv.forward(normalize(x))                          # (B, F, H, W), stride 1


def test_a_convolution_is_equivariant_away_from_the_border():
    conv = Conv2d(1, 4, 3, stride=1, padding=1, rng=0)
    x = digits()
    aligned, unaligned = shift_error(conv_map(shift_images(x, 0, 5), conv), conv_map(x, conv), 5,
                                     cols=np.arange(1, 22))
    assert aligned < 1e-6 and unaligned > 0.3


def test_the_measure_catches_a_map_with_a_position_term():
    # the planted bug: the convolution's map plus a vector per cell, as a position embedding adds
    conv = Conv2d(1, 4, 3, stride=1, padding=1, rng=0)
    position = np.random.default_rng(1).standard_normal((1, 4, 28, 28)).astype(np.float32)
    x = digits()
    aligned, _ = shift_error(conv_map(shift_images(x, 0, 5), conv) + position, conv_map(x, conv) + position, 5,
                             cols=np.arange(1, 22))
    assert aligned > 0.1


def test_a_map_that_stays_put_scores_zero_unaligned_and_not_aligned():
    still = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    aligned, unaligned = shift_error(still, still, 1)
    assert unaligned == 0 and aligned > 0.5


@pytest.mark.parametrize("kwargs, message", [
    ({"cells": 4}, "cells=4"), ({"cells": 1, "cols": [2, 3]}, "leave the map"),
])
def test_shift_error_names_a_shift_that_leaves_the_map(kwargs, message):
    m = np.ones((1, 1, 4, 4))
    with pytest.raises(ValueError, match=message):
        shift_error(m, m, **kwargs)


def test_the_vit_patch_embedding_shifts_with_the_digit_and_the_position_embedding_does_not():
    vit = VisionTransformer(ViTConfig(depth=1), seed=0)
    x = digits(room=7)
    before, after = vit_token_maps(vit, normalize(x)), vit_token_maps(vit, normalize(shift_images(x, 0, 7)))
    assert shift_error(after["patches"], before["patches"], 1)[0] < 1e-6
    assert shift_error(after["+ position"], before["+ position"], 1)[0] > 0.01
    assert set(before) == {"patches", "+ position", "block 1"} and before["block 1"].shape == (6, 64, 4, 4)


def test_an_untrained_resnet_on_a_canvas_is_equivariant_in_its_first_stages():
    resnet = ResNet(ResNetConfig(image_size=112), seed=0)
    x = on_canvas(digits(3), 112)
    before = resnet_feature_maps(resnet, normalize(x))
    after = resnet_feature_maps(resnet, normalize(shift_images(x, 0, 8)))
    for name, stride in (("stem", 2), ("layer1", 2), ("layer2", 4)):
        cells = cells_over(42, 70, stride)
        assert shift_error(after[name], before[name], 8 // stride, rows=cells, cols=cells)[0] < 1e-5, name


# --- the script ----------------------------------------------------------------------------
def test_the_three_starts_of_the_56x56_model():
    base = VisionTransformer(ViTConfig(dim=8, depth=1, heads=2, mlp_dim=16), seed=0)
    starts = paper_pieces.starts(base)
    old = base.params["pos_embed"][0, 1:].reshape(4, 4, 8)
    grid = {name: m.params["pos_embed"][0, 1:].reshape(8, 8, 8) for name, m in starts.items()}
    assert np.array_equal(grid["interpolated"], at_resolution(base, 56).params["pos_embed"][0, 1:].reshape(8, 8, 8))
    assert np.array_equal(grid["tiled"][5, 6], old[1, 2]) and np.array_equal(grid["tiled"][1, 2], old[1, 2])
    assert not np.allclose(grid["re-initialised"][:4, :4], old)
    for m in starts.values():                                  # every other weight carries over
        assert np.array_equal(m.params["cls_token"], base.params["cls_token"])
        assert np.array_equal(m.params["pos_embed"][0, 0], base.params["pos_embed"][0, 0])
        assert np.array_equal(m.blocks[0].attn.qkv.params["weight"], base.blocks[0].attn.qkv.params["weight"])


def test_the_script_runs_every_piece_in_tiny_mode_and_skips_what_is_done(tmp_path):
    out, lines = tmp_path / "pieces.json", []
    result = paper_pieces.run(out, tiny=True, log=lines.append)
    assert out.exists() and set(result["pieces"]) == set(paper_pieces.PIECES)
    check_result(json.loads(out.read_text()), seeds=2)
    again = []
    paper_pieces.run(out, tiny=True, log=again.append)
    assert again == [f"{p}: done before" for p in paper_pieces.PIECES]
    redo = []
    paper_pieces.run(out, tiny=True, redo=("pooling",), log=redo.append)
    assert any("(done before)" in line for line in redo) and "pooling: done before" not in redo


def check_result(result, seeds):
    """What notebook 9 reads from the result file."""
    assert result["cpu"] and result["training_s"] > 0
    interp = result["pieces"]["interpolation"]
    assert set(interp["starts"]) == {"interpolated", "tiled", "re-initialised"}
    for s in interp["starts"].values():
        assert 0 <= s["before"] <= 1 and 0 <= s["after"] <= 1 and s["train_s"] > 0
    assert interp["grid"] == [4, 8] and "2x2" in interp["upsampling"]
    assert np.shape(interp["pos_embed_base"])[0] == 17 and np.shape(interp["pos_embed_fine_tuned"])[0] == 65
    pool = result["pieces"]["pooling"]["test_acc"]
    assert set(pool) == {"cls", "mean", "mean, lr 0.001", "mean, lr 0.005"} and all(len(v) == seeds for v in pool.values())
    shift = result["pieces"]["shift"]
    models = shift["equivariance"]["models"]
    assert set(models["vit-cls-s0"]["tokens"]) >= {"patches", "+ position", "block 1"}
    assert set(models["resnet-s0"]["canvas"]) >= {"stem", "layer1"}
    assert set(shift["accuracy_under_shift"]["models"]) == set(shift["runs"]) | set(shift["reruns"])
    assert shift["reruns"] == [f"vit-cls-s{s}" for s in range(1, seeds)]
    assert set(models) == set(shift["runs"]) | set(shift["reruns"])
    assert all(len(c) == len(shift["accuracy_under_shift"]["shifts_px"])
               for c in shift["accuracy_under_shift"]["models"].values())
    for name in shift["runs"]:
        assert {"seed", "train_s", "test_acc", "train_config"} <= set(result["runs"][name])


def test_the_script_refuses_to_mix_a_tiny_result_with_a_full_one(tmp_path):
    out = tmp_path / "pieces.json"
    out.write_text(json.dumps({"tiny": False, "pieces": {}}))
    with pytest.raises(SystemExit, match="full result"):
        paper_pieces.run(out, tiny=True, log=lambda s: None)


def test_the_committed_result_has_what_the_notebook_reads():
    result = json.loads(RESULT.read_text())
    assert result["tiny"] is False
    check_result(result, seeds=len(paper_pieces.SEEDS))
    assert result["training_s"] < 40 * 60                     # the budget: about 35 min on one core
