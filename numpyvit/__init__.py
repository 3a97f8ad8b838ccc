"""numpyvit: the Vision Transformer in pure NumPy, every backward pass written by hand.

The package in layers, each importing only the ones above it:

    layers/       the building blocks, forward and backward        (numpy)
    models/       the ViT and a ResNet baseline, built from layers
    training/     data, optimisers, checkpoints, the training loop
    insight/      what a trained model learned: analysis and plots  (+ matplotlib)
    experiments/  runs that compare models
    app/          the draw-a-digit page and the preprocessing of user images
    cli.py        `python -m numpyvit ...`: the one place that ties them together

Every name below is importable from `numpyvit` itself. Importing it needs numpy alone:
matplotlib, tqdm, Pillow and threadpoolctl are imported where they are used.
"""
from .app.preprocess import ImageError, preprocess_digit, read_image
from .errors import ConfigError, UsageError
from .gradcheck import format_table, gradcheck, max_rel_error, random_point
from .insight.analysis import (attention_maps, attention_rollout, confusion_matrix, mean_attention_distance,
                               patch_embed_components, pos_embed_similarity, rollout_map)
from .layers.activations import GELU, Dropout, GELUErf, ReLU, erf
from .layers.attention import Attention, softmax, softmax_backward
from .layers.block import Block
from .layers.conv import BatchNorm2d, Conv2d, GlobalAvgPool2d
from .layers.linear import Linear
from .layers.loss import SoftmaxCrossEntropy
from .layers.mlp import Mlp
from .layers.module import Module
from .layers.norm import LayerNorm
from .layers.patch_embed import PatchEmbed, Patchify, sincos_pos_embed
from .models.registry import MODEL_KINDS, build_model
from .models.resnet import ResNet, ResNetConfig
from .models.vit import ViTConfig, VisionTransformer
from .training.augment import augment
from .training.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from .training.data import class_balanced_subset, iterate_batches, normalize, synthetic_digits
from .training.dynamics import TrainingDynamics, attention_entropy, parameter_group
from .training.mnist import DownloadError, load_mnist
from .training.optim import SGD, AdamW, WeightAverage, clip_grad_norm, lr_at
from .training.parallel import DataParallel
from .training.trainer import PRESETS, TrainConfig, TrainingDiverged, evaluate, train

__version__ = "0.1.0"
