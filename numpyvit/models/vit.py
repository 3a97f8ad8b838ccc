"""The Vision Transformer (Dosovitskiy et al. 2020, "An Image is Worth 16x16 Words").

Shape legend: B batch, C channels, H, W image height/width, p patch size,
N tokens (patches + 1 class token), D embedding width, K classes.
"""
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..layers.activations import ACTIVATIONS
from ..layers.block import Block
from ..layers.linear import Linear
from ..layers.module import Module, trunc_normal
from ..layers.norm import LayerNorm
from ..layers.patch_embed import PatchEmbed, sincos_pos_embed
from .config import Config, check_positive_int
from .inputs import check_images
from .mimetic import mimetic_attention


@dataclass
class ViTConfig(Config):
    image_size: int = 28        # input height = width in pixels (MNIST: 28)
    patch_size: int = 7         # side of a square patch: 28/7 = 4x4 = 16 patches
    in_channels: int = 1        # greyscale
    num_classes: int = 10       # digits 0-9
    dim: int = 64               # token width D
    depth: int = 6              # number of transformer blocks
    heads: int = 4              # attention heads; head width Dh = dim / heads = 16
    mlp_dim: int = 128          # hidden width M of each block's MLP
    pool: str = "cls"           # 'cls': classify the class token; 'mean': the mean patch token
    pos_embed: str = "learned"  # 'learned' parameter, or fixed 2-D 'sincos'
    norm_eps: float = 1e-6      # LayerNorm epsilon (timm's ViT default)
    act: str = "gelu_tanh"      # MLP activation: 'gelu_tanh', the tanh form every stored run used
                                # (a config without the field gets it), or 'gelu', the exact erf
                                # form, timm's default (names as in PyTorch and timm)
    attn_init: str = "random"   # attention weights: 'random' (timm's), or 'mimetic' (models/mimetic.py:
                                # W_q^T W_k near the identity, W_v^T W_p^T near minus it)

    def __post_init__(self):
        for name in ("image_size", "patch_size", "in_channels", "num_classes", "dim", "depth",
                     "heads", "mlp_dim"):
            check_positive_int(name, getattr(self, name))
        if self.image_size % self.patch_size:
            raise ConfigError(f"image_size={self.image_size} is not divisible by "
                             f"patch_size={self.patch_size}")
        if self.dim % self.heads:
            raise ConfigError(f"dim={self.dim} is not divisible by heads={self.heads}")
        if self.pool not in ("cls", "mean"):
            raise ConfigError(f"pool={self.pool!r} must be 'cls' or 'mean'")
        if self.pos_embed not in ("learned", "sincos"):
            raise ConfigError(f"pos_embed={self.pos_embed!r} must be 'learned' or 'sincos'")
        if self.pos_embed == "sincos" and self.dim % 4:
            raise ConfigError(f"dim={self.dim} must be divisible by 4 when pos_embed='sincos'")
        if not self.norm_eps > 0:
            raise ConfigError(f"norm_eps={self.norm_eps!r} must be positive")
        if self.act not in ACTIVATIONS:
            raise ConfigError(f"act={self.act!r} must be one of {', '.join(map(repr, ACTIVATIONS))}")
        if self.attn_init not in ("random", "mimetic"):
            raise ConfigError(f"attn_init={self.attn_init!r} must be 'random' or 'mimetic'")

    @classmethod
    def from_dict(cls, d):
        """As Config.from_dict, and a stored "dropout": 0.0 is accepted and dropped: configs
        saved before the field was removed (checkpoints, committed runs) still load. A
        non-zero one is an error: this model cannot train or reproduce that run."""
        d = dict(d)
        dropout = d.pop("dropout", 0.0)
        if dropout != 0:
            raise ConfigError(f"this config has dropout={dropout!r}; numpyvit's ViT has no "
                              f"dropout any more, so only a stored dropout of 0.0 can be loaded")
        return super().from_dict(d)

    @property
    def num_patches(self):
        return (self.image_size // self.patch_size) ** 2



class VisionTransformer(Module):
    """images (B, C, H, W) -> logits (B, K).

    patch_embed -> prepend cls_token -> + pos_embed -> blocks -> norm -> head, the head
    reading the class token (pool='cls') or the mean of the patch tokens (pool='mean').
    Parameter names and shapes are timm's, so weights move to PyTorch one to one.
    """
    kind = "vit"   # the checkpoint's name for this architecture

    def __init__(self, config=None, seed=0, dtype=np.float32):
        super().__init__(dtype)
        self.config = config = config if config is not None else ViTConfig()
        rng = np.random.default_rng(seed)
        D = config.dim
        self.patch_embed = PatchEmbed(config.image_size, config.patch_size, config.in_channels,
                                      D, rng=rng, dtype=dtype)
        N = self.patch_embed.num_patches + 1
        self.add_param("cls_token", 1e-6 * rng.standard_normal((1, 1, D)))
        if config.pos_embed == "learned":
            self.add_param("pos_embed", trunc_normal(rng, (1, N, D)))
        else:  # fixed: a constant, not a parameter
            self.fixed_pos_embed = sincos_pos_embed(D, self.patch_embed.grid, dtype=self.dtype)
        # one generator for every block in turn (and the head after them): no two start alike
        self.blocks = [Block(D, config.heads, config.mlp_dim, norm_eps=config.norm_eps,
                             act=config.act, rng=rng, dtype=dtype)
                       for _ in range(config.depth)]
        self.norm = LayerNorm(D, eps=config.norm_eps, dtype=dtype)
        self.head = Linear(D, config.num_classes, rng=rng, dtype=dtype)
        if config.attn_init == "mimetic":   # its own generator: the random weights stay as they were
            mimetic_rng = np.random.default_rng([seed, 1])
            for block in self.blocks:
                mimetic_attention(block.attn, mimetic_rng)
        self.image_shape = self.tokens_shape = None

    def check_images(self, images):
        """Validate images (B, C, H, W) and return them in the model's dtype."""
        return check_images(images, self.config.in_channels, self.config.image_size, self.dtype)

    def position_embedding(self):
        """The (1, N, D) position embedding added to the tokens: learned or fixed sin-cos."""
        return self.params["pos_embed"] if "pos_embed" in self.params else self.fixed_pos_embed

    def embed(self, images):
        """The tokens the first block sees: patches embedded, the class token prepended, the
        position embedding added (section 3.1, eq. 1). (B, C, H, W) -> (B, N, D)."""
        images = self.check_images(images)
        self.image_shape = images.shape
        B = images.shape[0]
        x = self.patch_embed.forward(images)                          # (B, N-1, D)
        cls = np.broadcast_to(self.params["cls_token"], (B, 1, x.shape[2]))
        x = np.concatenate([cls, x], axis=1)                          # (B, N, D)
        return x + self.position_embedding()                          # (B, N, D)

    def forward(self, images):
        x = self.embed(images)                                        # (B, N, D)
        for block in self.blocks:
            x = block.forward(x)
        x = self.norm.forward(x)                                      # (B, N, D)
        self.tokens_shape = x.shape
        pooled = x[:, 0] if self.config.pool == "cls" else x[:, 1:].mean(axis=1)  # (B, D)
        return self.head.forward(pooled)                              # (B, K)

    def backward(self, dlogits):
        self.require_forward("image_shape")
        B, N, D = self.tokens_shape
        dpooled = self.head.backward(dlogits)                         # (B, D)
        dx = np.zeros(self.tokens_shape, dtype=self.dtype)            # (B, N, D)
        if self.config.pool == "cls":
            dx[:, 0] = dpooled
        else:  # the mean spreads its gradient evenly over the N-1 patch tokens
            dx[:, 1:] = dpooled[:, None, :] / self.dtype.type(N - 1)
        dx = self.norm.backward(dx)
        for block in reversed(self.blocks):
            dx = block.backward(dx)
        if "pos_embed" in self.params:
            self.grads["pos_embed"] += dx.sum(axis=0, keepdims=True)  # shared by the batch
        self.grads["cls_token"] += dx[:, :1].sum(axis=0, keepdims=True)
        return self.patch_embed.backward(dx[:, 1:])                   # (B, C, H, W)
