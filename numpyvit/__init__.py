"""numpyvit: the Vision Transformer in pure NumPy, every backward pass written by hand.

The package in parts (tests/test_architecture.py keeps their import rules):

    layers/       the building blocks, forward and backward        (numpy)
    models/       the ViT and a ResNet baseline, built from layers; a ViT at a higher resolution
    data/         MNIST's and Fashion-MNIST's files, normalisation, subsets, augmentation
    parallel/     each batch split across the CPU cores (DataParallel)
    training/     optimisers, checkpoints, the training loop
    insight/      what a trained model learned: analysis, plots, the analyze report (+ matplotlib)
    experiments/  runs that test the paper's claims
    app/          the draw-a-digit page and the preprocessing of user images (digits, garments)
    cli.py        `python -m numpyvit ...`: the one place that ties them together
    exercises/    notebook 5's exercises and their checks, and the capstone ViT on a learner's code
    files.py, blas.py, errors.py, gradcheck.py: small helpers below them all

Every name below is importable from `numpyvit` itself. Importing it needs numpy alone:
matplotlib, tqdm, Pillow and threadpoolctl are imported where they are used.
"""
from .app.preprocess import ImageError, preprocess_digit, preprocess_garment, read_image
from .data.augment import augment
from .data.datasets import DATASETS, Dataset, load_dataset
from .data.mnist import DownloadError, load_mnist
from .data.prepare import class_balanced_subset, iterate_batches, normalize
from .data.synthetic import synthetic_digits
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
from .parallel.data_parallel import DataParallel
from .training.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from .training.dynamics import TrainingDynamics, attention_entropy, parameter_group
from .training.optim import SGD, AdamW, WeightAverage, clip_grad_norm, lr_at
from .training.run import RunState
from .training.trainer import FASHION_PRESETS, PRESETS, TrainConfig, TrainingDiverged, evaluate, train

__version__ = "0.1.0"
