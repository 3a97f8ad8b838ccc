"""Cutting an image into patches and embedding each one (ViT paper, section 3.1).

Shape legend: B batch, C channels, H, W image height/width, p patch size,
N number of patches (H/p)*(W/p), D embedding width.
"""
import numpy as np

from .linear import Linear
from .module import Module, as_generator


class Patchify(Module):
    """(B, C, H, W) -> (B, N, C*p*p): non-overlapping p x p patches in row-major grid
    order, each flattened in (C, p, p) order. No parameters; backward folds the patches
    back into an image (the exact inverse, since the patches do not overlap).
    """

    def __init__(self, patch_size, dtype=np.float32):
        super().__init__(dtype)
        self.p = patch_size
        self.image_shape = None

    def forward(self, x):
        B, C, H, W = x.shape
        p = self.p
        if H % p or W % p:
            raise ValueError(f"image size {H}x{W} is not divisible by patch_size={p}")
        self.image_shape = x.shape
        x = x.reshape(B, C, H // p, p, W // p, p)      # (B, C, H/p, p, W/p, p)
        x = x.transpose(0, 2, 4, 1, 3, 5)              # (B, H/p, W/p, C, p, p)
        return x.reshape(B, (H // p) * (W // p), C * p * p)  # (B, N, C*p*p)

    def backward(self, dout):
        self.require_forward("image_shape")
        B, C, H, W = self.image_shape
        p = self.p
        d = dout.reshape(B, H // p, W // p, C, p, p)   # (B, H/p, W/p, C, p, p)
        d = d.transpose(0, 3, 1, 4, 2, 5)              # (B, C, H/p, p, W/p, p)
        return d.reshape(B, C, H, W)


class PatchEmbed(Module):
    """x -> patchify(x) W^T + b: the ViT's linear patch embedding.

    (B, C, H, W) -> (B, N, D). `proj.weight` is held as (D, C, p, p), exactly the weight of
    a stride-p, kernel-p convolution (timm's `patch_embed.proj`), and reshaped to (D, C*p*p)
    for one matmul: a convolution whose windows do not overlap *is* a matmul on patches.
    `rng` (required): an int seed or the Generator `proj` draws its weight from.
    """

    def __init__(self, image_size, patch_size, in_channels, dim, *, rng=None, dtype=np.float32):
        super().__init__(dtype)
        rng = as_generator(rng, "PatchEmbed")
        self.grid = image_size // patch_size
        self.num_patches = self.grid * self.grid
        self.patchify = Patchify(patch_size, dtype=dtype)
        # the kernel kept in convolution layout (D, C, p, p); Linear uses it flattened
        self.proj = Linear(in_channels * patch_size * patch_size, dim, rng=rng, dtype=dtype,
                           weight_shape=(dim, in_channels, patch_size, patch_size))

    def forward(self, x):
        return self.proj.forward(self.patchify.forward(x))    # (B, N, D)

    def backward(self, dout):
        return self.patchify.backward(self.proj.backward(dout))  # (B, C, H, W)


def sincos_pos_embed(dim, grid_size, dtype=np.float32):
    """Fixed 2-D sine-cosine position embedding, (1 + grid_size**2, dim), class token row 0.

    Half of the channels encode the row, half the column; each half is
    [sin(pos * w_k), cos(pos * w_k)] with frequencies w_k = 10000^(-k / (dim/4)),
    as in the 1-D transformer embedding (Vaswani et al. 2017) applied per axis.
    The class token has no position: its row is zero. dim must be divisible by 4.
    """
    if dim % 4:
        raise ValueError(f"dim={dim} must be divisible by 4 for the 2-D sin-cos position embedding")
    omega = 1.0 / 10000 ** (np.arange(dim // 4) / (dim / 4))         # (dim/4,)
    rows, cols = np.meshgrid(np.arange(grid_size), np.arange(grid_size), indexing="ij")

    def encode(pos):                                                  # (N,) -> (N, dim/2)
        angles = np.outer(pos, omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    emb = np.concatenate([encode(rows.ravel()), encode(cols.ravel())], axis=1)  # (N, dim)
    emb = np.concatenate([np.zeros((1, dim)), emb], axis=0)           # (N+1, dim)
    return emb[None].astype(dtype)                                    # (1, N+1, dim)
