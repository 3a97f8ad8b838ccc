"""A trained ViT at a higher resolution (Dosovitskiy et al. 2020, section 3.2).

The patch size stays, so a larger image gives more patches: a 28x28 digit at patch 7 is a
4x4 grid, the same digit drawn at 56x56 an 8x8 grid. Every weight carries over except the
position embedding, which has one row per grid cell: the paper interpolates it in 2-D,
"according to their location in the original image". Here each new cell takes the bilinear
mix of the four old cells nearest its centre, centres measured as fractions of the image
(cell i of n sits at (i + 0.5) / n), so the interpolated grid covers the same image as the
old one. The class token's row has no place on the grid and is kept as it is.

Shape legend: g old grid side, G new grid side, D embedding width.
"""
import numpy as np

from ..errors import ConfigError
from .vit import ViTConfig, VisionTransformer


def interpolation_weights(g, G):
    """The (G, g) matrix A with A[j, i] the weight of old cell i in new cell j, along one
    axis: linear interpolation between the two old centres around each new centre, clamped
    at the edges. Each row sums to 1."""
    centres = (np.arange(G) + 0.5) * g / G - 0.5       # new centres in old cell units
    centres = np.clip(centres, 0, g - 1)
    left = np.floor(centres).astype(int)
    right = np.minimum(left + 1, g - 1)
    frac = centres - left
    A = np.zeros((G, g))
    A[np.arange(G), left] += 1 - frac
    A[np.arange(G), right] += frac
    return A


def resize_pos_embed(pos_embed, new_grid):
    """(1, 1 + g*g, D) -> (1, 1 + G*G, D): the class token's row kept, the g x g grid of patch
    rows interpolated bilinearly to G x G (rows of the image first, as the patches are)."""
    pos_embed = np.asarray(pos_embed)
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1:
        raise ValueError(f"pos_embed must have shape (1, N, D), got {pos_embed.shape}")
    g = int(round(np.sqrt(pos_embed.shape[1] - 1)))
    if g * g != pos_embed.shape[1] - 1:
        raise ValueError(f"pos_embed has {pos_embed.shape[1] - 1} patch rows, not a square grid")
    if not (isinstance(new_grid, (int, np.integer)) and new_grid >= 1):
        raise ValueError(f"new_grid must be a positive integer, got {new_grid!r}")
    D = pos_embed.shape[2]
    grid = pos_embed[0, 1:].reshape(g, g, D)                        # (g, g, D)
    A = interpolation_weights(g, new_grid)                          # (G, g)
    resized = np.einsum("Ji,ijd,Kj->JKd", A, grid, A)   # (G, G, D)
    rows = np.concatenate([pos_embed[0, :1], resized.reshape(new_grid * new_grid, D)])
    return rows[None].astype(pos_embed.dtype)


def at_resolution(model, image_size):
    """A copy of a trained ViT that reads image_size x image_size images: every weight the
    same, the learned position embedding interpolated to the finer (or coarser) grid."""
    config = model.config
    if image_size % config.patch_size:
        raise ConfigError(f"image_size={image_size} is not divisible by the model's "
                          f"patch_size={config.patch_size}")
    new = VisionTransformer(ViTConfig.from_dict({**config.to_dict(), "image_size": image_size}),
                            dtype=model.dtype)
    state = model.state_dict()                                      # copies
    if "pos_embed" in state:   # a fixed sin-cos embedding is rebuilt for the new grid instead
        state["pos_embed"] = resize_pos_embed(state["pos_embed"], image_size // config.patch_size)
    new.load_state_dict(state)
    return new
