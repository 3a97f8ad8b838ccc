"""A trained ViT at a higher resolution: the position embedding interpolated in 2-D."""
import numpy as np
import pytest

from numpyvit import ViTConfig, VisionTransformer
from numpyvit.errors import ConfigError
from numpyvit.models.resize import at_resolution, interpolation_weights, resize_pos_embed


def test_weights_are_rows_of_a_partition_of_unity_and_the_identity_at_the_same_size():
    A = interpolation_weights(4, 8)
    assert A.shape == (8, 4) and np.allclose(A.sum(axis=1), 1) and (A >= 0).all()
    assert np.allclose(interpolation_weights(5, 5), np.eye(5))


def test_a_grid_that_is_linear_in_position_stays_linear_inside_the_old_centres():
    # embedding value = row + 10 * column of the old grid, at old centres (i + 0.5) / g
    g, G = 4, 8
    r, c = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
    pos = np.concatenate([[[7.0]], (r + 10 * c).reshape(-1, 1)])[None]     # (1, 17, 1)
    out = resize_pos_embed(pos, G)
    assert out.shape == (1, 1 + G * G, 1) and out[0, 0, 0] == 7.0            # class row kept
    new = out[0, 1:, 0].reshape(G, G)
    centre = (np.arange(G) + 0.5) * g / G - 0.5                              # in old cells
    inside = (centre >= 0) & (centre <= g - 1)
    expect = centre[:, None] + 10 * centre[None, :]
    assert np.allclose(new[np.ix_(inside, inside)], expect[np.ix_(inside, inside)])
    # rows and columns are not swapped: moving along a new row changes by 10 per old cell
    assert np.isclose(new[3, 4] - new[3, 3], 10 * g / G)


def test_the_resized_model_keeps_every_other_weight_and_reads_the_larger_image():
    model = VisionTransformer(ViTConfig(depth=1, dim=16, heads=2, mlp_dim=32), seed=1)
    big = at_resolution(model, 56)
    assert big.config.image_size == 56 and big.patch_embed.num_patches == 64
    for name, value in model.state_dict().items():
        if name != "pos_embed":
            assert np.array_equal(big.state_dict()[name], value), name
    assert big.forward(np.zeros((2, 1, 56, 56), np.float32)).shape == (2, 10)
    # back to the original size: the same model (interpolating 4 -> 4 is the identity)
    same = at_resolution(model, 28)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    assert np.allclose(same.forward(x), model.forward(x))


def test_bad_sizes_are_refused_with_what_was_expected():
    model = VisionTransformer(ViTConfig(depth=1, dim=16, heads=2, mlp_dim=32))
    with pytest.raises(ConfigError, match="not divisible"):
        at_resolution(model, 30)
    with pytest.raises(ValueError, match="square grid"):
        resize_pos_embed(np.zeros((1, 6, 4)), 3)
