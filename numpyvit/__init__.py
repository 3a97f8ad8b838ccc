"""numpyvit: the Vision Transformer in pure NumPy, every backward pass written by hand."""
from .activations import GELU, Dropout
from .attention import Attention
from .block import Block
from .data import augment, iterate_batches, load_mnist, normalize, synthetic_digits
from .gradcheck import format_table, gradcheck, max_rel_error
from .linear import Linear
from .loss import SoftmaxCrossEntropy
from .mlp import Mlp
from .module import Module
from .norm import LayerNorm
from .patch_embed import PatchEmbed, Patchify, sincos_pos_embed
from .vit import ViTConfig, VisionTransformer

__version__ = "0.1.0"
