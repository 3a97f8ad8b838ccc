"""Initial weights: every layer draws from the generator it is given, sub-layers from one shared
generator in turn, so no two weight matrices start alike; the models' seeds keep their weights."""
import hashlib
from itertools import combinations

import numpy as np
import pytest

from numpyvit import (Attention, Block, Conv2d, Linear, Mlp, Module, PatchEmbed, ResNet, ResNetConfig,
                      ViTConfig, VisionTransformer)
from numpyvit.models.resnet import BasicBlock

# sha256 over (name, bytes) of every parameter, taken from the code before layers required an
# explicit rng (commit 418a504): `VisionTransformer(config, seed=s)` and `ResNet(config, seed=s)`
# must keep giving these exact weights, so trained runs and their seeds stay reproducible.
PINNED = [  # (kind, config fields, seed, dtype, digest)
    ("vit", {}, 0, np.float32, "871cc58435c2914196f72d200f8049e8570d7a0c27e0bc7eb0656342e3451779"),
    ("vit", {}, 0, np.float64, "8b29af9747084d604fa9b0a1c4325e418ae036b2fc5bc92c75d4cc0c6a4a0f94"),
    ("vit", {"pos_embed": "sincos", "pool": "mean"}, 3, np.float32,
     "2e89b915f4201e6a70b367417db6276c9c86c0debbfed76e092e4c8b2c596379"),
    ("resnet", {}, 0, np.float32, "f6a45b46a2963a384d27d39c2ac1848278068f6dcb2f727f1efa05dc19acfdff"),
    ("resnet", {}, 1, np.float64, "7a4ed8fa6680d46ce95cc00c46efde3f3f3a4beb95faef044508cb0db3d14472"),
]

# the largest share of one weight matrix's values that may also occur in another: independent
# float64 draws essentially never coincide, a restarted generator repeats nearly all of them
MAX_SHARED = 0.01


def parameter_digest(model):
    h = hashlib.sha256()
    for name, value, _ in model.named_parameters():
        h.update(name.encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("kind,fields,seed,dtype,digest", PINNED,
                         ids=[f"{k}-{'-'.join(f.values()) or 'default'}-seed{s}-{np.dtype(d).name}"
                              for k, f, s, d, _ in PINNED])
def test_model_seeds_give_the_same_weights_as_before_rng_was_required(kind, fields, seed, dtype, digest):
    model_cls, config_cls = (VisionTransformer, ViTConfig) if kind == "vit" else (ResNet, ResNetConfig)
    assert parameter_digest(model_cls(config_cls(**fields), seed=seed, dtype=dtype)) == digest


def test_parameter_digest_sees_a_one_ulp_change():
    model = VisionTransformer(ViTConfig(), seed=0)
    w = model.blocks[5].mlp.fc2.params["weight"]
    w[3, 7] = np.nextafter(w[3, 7], np.float32(1))
    assert parameter_digest(model) != PINNED[0][4]


def shared_fraction(a, b):
    """The fraction of the smaller array's values that also occur in the other (exactly)."""
    small, large = (a, b) if a.size <= b.size else (b, a)
    return np.isin(small.ravel(), large.ravel()).mean()


def correlated_weights(layer):
    """[(name_a, name_b, shared fraction)] for every pair of the layer's randomly initialised
    arrays (weights, cls_token, pos_embed: the ones with 2 or more axes) sharing more than
    MAX_SHARED of their values."""
    drawn = [(name, value) for name, value, _ in layer.named_parameters() if value.ndim >= 2]
    pairs = [(na, nb, shared_fraction(a, b)) for (na, a), (nb, b) in combinations(drawn, 2)]
    return [p for p in pairs if p[2] > MAX_SHARED]


F64 = np.float64
STANDALONE = {
    "Attention": lambda: Attention(64, 4, rng=0, dtype=F64),
    "Mlp": lambda: Mlp(64, 128, rng=0, dtype=F64),
    "Block": lambda: Block(64, 4, 128, rng=0, dtype=F64),
    "BasicBlock": lambda: BasicBlock(8, 16, stride=2, rng=0, dtype=F64),
    "ViT": lambda: VisionTransformer(ViTConfig(), seed=0, dtype=F64),
    "ResNet": lambda: ResNet(ResNetConfig(), seed=0, dtype=F64),
}


@pytest.mark.parametrize("name", list(STANDALONE))
def test_no_two_weight_matrices_start_alike(name):
    assert correlated_weights(STANDALONE[name]()) == []


def test_the_correlation_check_flags_sub_layers_built_from_same_seed_generators():
    # the old fallback, planted: each Linear gets a fresh generator with the same seed
    class TwoLinears(Module):
        def __init__(self):
            super().__init__(F64)
            self.fc1 = Linear(64, 128, rng=np.random.default_rng(0), dtype=F64)
            self.fc2 = Linear(128, 64, rng=np.random.default_rng(0), dtype=F64)

    found = correlated_weights(TwoLinears())
    assert [(a, b) for a, b, _ in found] == [("fc1.weight", "fc2.weight")]
    assert found[0][2] > 0.9


def test_a_seed_and_a_generator_with_that_seed_give_the_same_layer():
    a = Block(16, 2, 32, rng=5, dtype=F64)
    b = Block(16, 2, 32, rng=np.random.default_rng(5), dtype=F64)
    for (name, va, _), (_, vb, _) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(va, vb), name


def test_a_composite_layer_draws_its_sub_layers_in_order_from_one_generator():
    rng = np.random.default_rng(7)
    mlp = Mlp(8, 16, rng=rng, dtype=F64)
    again = np.random.default_rng(7)
    fc1, fc2 = Linear(8, 16, rng=again, dtype=F64), Linear(16, 8, rng=again, dtype=F64)
    assert np.array_equal(mlp.fc1.params["weight"], fc1.params["weight"])
    assert np.array_equal(mlp.fc2.params["weight"], fc2.params["weight"])


@pytest.mark.parametrize("name,make", [
    ("Linear", lambda **kw: Linear(4, 3, **kw)),
    ("Conv2d", lambda **kw: Conv2d(2, 3, 3, **kw)),
    ("PatchEmbed", lambda **kw: PatchEmbed(8, 4, 1, 8, **kw)),
    ("Attention", lambda **kw: Attention(8, 2, **kw)),
    ("Mlp", lambda **kw: Mlp(8, 16, **kw)),
    ("Block", lambda **kw: Block(8, 2, 16, **kw)),
    ("BasicBlock", lambda **kw: BasicBlock(4, 4, **kw)),
])
@pytest.mark.parametrize("kwargs", [{}, {"rng": None}, {"rng": 1.5}, {"rng": True}],
                         ids=["missing", "None", "float", "bool"])
def test_a_layer_without_a_generator_names_itself_and_asks_for_rng(name, make, kwargs):
    with pytest.raises(TypeError, match=rf"^{name} got rng=.*: pass rng=<int seed or np.random.Generator>"):
        make(**kwargs)
