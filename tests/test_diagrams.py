"""The diagrams show the shapes of the model they are drawn for, and one arrow per key."""
import matplotlib

matplotlib.use("Agg")   # headless; diagrams.py itself needs no backend (no pyplot)

from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.figure import Figure

from numpyvit import ViTConfig, VisionTransformer
from numpyvit.insight.diagrams import (KEY_ARROW_GID, draw_attention, draw_block, draw_data_flow,
                                       shape_texts, vit_shapes)

# not the default model: every size differs from ViTConfig()'s, so a label typed in rather
# than computed from the config cannot pass. 28/4 = 7 patches a side: N = 49 + 1 = 50 tokens.
OTHER = ViTConfig(patch_size=4, dim=96, depth=3, heads=3, mlp_dim=160, num_classes=7)


def key_arrows(fig):
    return [p for ax in fig.axes for p in ax.patches if p.get_gid() == KEY_ARROW_GID]


def test_data_flow_shapes_are_the_configs_read_back_from_the_figure(tmp_path):
    fig = draw_data_flow(OTHER)
    assert isinstance(fig, Figure)
    # written out by hand from the config: image, patches (N-1, C p^2), patch tokens, + class
    # token, + positions, blocks, norm, pooled class token, logits
    assert shape_texts(fig) == ["(B, 1, 28, 28)", "(B, 49, 16)", "(B, 49, 96)", "(B, 50, 96)",
                                "(B, 50, 96)", "(B, 50, 96)", "(B, 50, 96)", "(B, 96)", "(B, 7)"]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "3 \u00d7 Block" in texts
    # the course's notation: P patches, N = P + 1 tokens, in the symbols and the legend
    assert "(B, P, C\u00b7p\u00b2)" in texts and "(B, P, D)" in texts
    assert any("P = (H/p)\u00b2 = (28/4)\u00b2 = 49 patches,   N = P + 1 = 50 tokens" in t for t in texts)
    assert not any("N\u22121" in t or "N - 1" in t for t in texts)
    fig.savefig(tmp_path / "flow.png")


def test_data_flow_with_a_batch_size_prints_numbers_only():
    assert shape_texts(draw_data_flow(OTHER, batch=8))[-1] == "(8, 7)"


def test_block_shapes_are_the_configs_read_back_from_the_figure(tmp_path):
    fig = draw_block(OTHER)
    # input; norm1, qkv, heads (B, h, N, Dh), att (B, h, N, N), attention out; norm2, fc1
    # (B, N, M), fc2; output. Dh = 96 / 3 = 32.
    assert shape_texts(fig) == ["(B, 50, 96)", "(B, 50, 96)", "(B, 50, 96)", "(B, 50, 288)",
                                "(B, 3, 50, 32)", "(B, 3, 50, 50)", "(B, 50, 96)", "(B, 50, 96)",
                                "(B, 50, 160)", "(B, 50, 96)"]
    fig.savefig(tmp_path / "block.png")


def test_the_default_figures_do_not_show_another_configs_shapes():
    # the check above can fail: the default model's diagrams carry none of OTHER's token counts
    for draw in (draw_data_flow, draw_block):
        labels = " ".join(shape_texts(draw(ViTConfig())))
        assert "50" not in labels and "96" not in labels
        assert "(B, 17, 64)" in labels


def test_vit_shapes_match_the_model_itself():
    model = VisionTransformer(OTHER, seed=0)
    x = np.zeros((2, 1, 28, 28), dtype=np.float32)
    s = vit_shapes(OTHER, batch=2)
    assert model.forward(x).shape == s["logits"]
    assert model.tokens_shape == s["tokens"]
    assert model.blocks[0].attn.att.shape == s["att"]
    assert model.blocks[0].attn.q.shape == s["heads"]


def test_a_config_like_object_works_and_a_bad_one_is_refused_by_name():
    like = SimpleNamespace(image_size=32, patch_size=8, in_channels=3, dim=48, depth=2, heads=4,
                           mlp_dim=96, num_classes=10)
    assert vit_shapes(like)["P"] == 16 and vit_shapes(like)["N"] == 17
    assert vit_shapes(like)["patches"] == ("B", 16, 192)
    with pytest.raises(ValueError, match=r"lacks \['mlp_dim'\]"):
        vit_shapes(SimpleNamespace(**{k: v for k, v in vars(like).items() if k != "mlp_dim"}))
    with pytest.raises(ValueError, match="image_size=32 is not divisible by patch_size=5"):
        draw_data_flow(SimpleNamespace(**{**vars(like), "patch_size": 5}))


def test_attention_draws_one_arrow_per_key_and_the_widest_to_the_largest_weight(rng, tmp_path):
    a = rng.random(17)
    a /= a.sum()
    fig = draw_attention(a, grid=4, query=3, image=rng.random((28, 28)))
    arrows = key_arrows(fig)
    assert len(arrows) == 17
    widths = [p.get_linewidth() for p in arrows]
    assert int(np.argmax(widths)) == int(np.argmax(a))
    fig.savefig(tmp_path / "attention.png")
    assert len(key_arrows(draw_attention(np.full(50, 1 / 50), grid=7))) == 50


def key_labels(fig):
    return [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("k, v of ")]


def test_attention_numbers_the_patches_from_0_after_the_class_token(rng):
    a = rng.random(17)
    labels = key_labels(draw_attention(a / a.sum(), grid=4))
    assert labels == ["k, v of cls"] + [f"k, v of patch {j}" for j in range(16)]
    # numbered from 1, the labels would end at patch 16: this check sees it
    assert "k, v of patch 16" not in labels


def test_attention_refuses_a_row_that_is_not_a_softmax_row():
    with pytest.raises(ValueError, match=r"att_row.shape=\(16,\), expected \(17,\)"):
        draw_attention(np.full(16, 1 / 16), grid=4)
    with pytest.raises(ValueError, match="sums to 2"):
        draw_attention(np.full(17, 2 / 17), grid=4)
    with pytest.raises(ValueError, match="query=17"):
        draw_attention(np.full(17, 1 / 17), grid=4, query=17)
