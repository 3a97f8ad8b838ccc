"""numpyvit: the Vision Transformer in pure NumPy, every backward pass written by hand."""
from .activations import GELU, Dropout
from .analysis import (attention_maps, attention_rollout, mean_attention_distance, patch_embed_components,
                       pos_embed_similarity, rollout_map)
from .attention import Attention
from .block import Block
from .checkpoint import load_checkpoint, load_model, save_checkpoint
from .data import augment, iterate_batches, load_mnist, normalize, synthetic_digits
from .gradcheck import format_table, gradcheck, max_rel_error
from .linear import Linear
from .loss import SoftmaxCrossEntropy
from .mlp import Mlp
from .module import Module
from .norm import LayerNorm
from .optim import SGD, AdamW, clip_grad_norm, lr_at
from .parallel import DataParallel
from .patch_embed import PatchEmbed, Patchify, sincos_pos_embed
from .resnet import ResNet, ResNetConfig
from .train import TrainConfig, evaluate  # the function train() stays numpyvit.train.train: the name is the module's
from .vit import ViTConfig, VisionTransformer

__version__ = "0.1.0"
