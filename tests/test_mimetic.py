"""Mimetic initialisation: the two weight products it sets, and nothing else it changes."""
import numpy as np
import pytest

from numpyvit.errors import ConfigError
from numpyvit.models.mimetic import VP, mimetic_attention, query_key_product, value_projection_product
from numpyvit.models.vit import ViTConfig, VisionTransformer
from numpyvit.layers.attention import Attention


def test_query_key_product_leans_on_the_identity_and_random_does_not():
    mim = VisionTransformer(ViTConfig(attn_init="mimetic"), seed=0)
    rnd = VisionTransformer(ViTConfig(), seed=0)
    for block_m, block_r in zip(mim.blocks, rnd.blocks):
        for h in range(4):
            qk = query_key_product(block_m.attn, h)
            off = qk[~np.eye(64, dtype=bool)]
            assert qk.diagonal().mean() > 0.25 > 5 * abs(off.mean())         # rank 16 of 64: a quarter-ish of b1
            assert abs(query_key_product(block_r.attn, h).diagonal().mean()) < 0.01


def test_value_projection_product_is_the_full_rank_target():
    a = Attention(64, 4, rng=0, dtype=np.float64)
    rng = np.random.default_rng(3)
    mimetic_attention(a, rng)
    target_rng = np.random.default_rng(3)
    for _ in range(4):                                                     # the query-key draws come first
        target_rng.standard_normal((64, 64))
    target = VP[0] * target_rng.standard_normal((64, 64)) / 8 - VP[1] * np.eye(64)
    np.testing.assert_allclose(value_projection_product(a), target, atol=1e-10)


def test_only_the_attention_weights_change():
    mim = VisionTransformer(ViTConfig(attn_init="mimetic"), seed=0)
    rnd = VisionTransformer(ViTConfig(), seed=0)
    mine, theirs = mim.state_dict(), rnd.state_dict()
    changed = {k for k, v in theirs.items() if not np.array_equal(v, mine[k])}
    assert changed and all(k.endswith(("attn.qkv.weight", "attn.proj.weight")) for k in changed)


def test_a_bad_attn_init_is_refused():
    with pytest.raises(ConfigError, match="attn_init='xavier' must be 'random' or 'mimetic'"):
        ViTConfig(attn_init="xavier")
