"""The model kinds numpyvit knows, in one place: building a model from a kind and a config,
and naming a model's kind for its checkpoint.

A checkpoint stores a model as its kind ('vit', 'resnet') and its config as a plain dict;
`build_model` turns the two back into a fresh model of that architecture.
"""
import numpy as np

from ..errors import ConfigError
from .resnet import ResNet, ResNetConfig
from .vit import ViTConfig, VisionTransformer

# kind -> (model class, config class): the one list of architectures
MODELS = {
    "vit": (VisionTransformer, ViTConfig),
    "resnet": (ResNet, ResNetConfig),
}
MODEL_KINDS = tuple(MODELS)


def check_kind(kind):
    """Raise ConfigError naming the known kinds unless `kind` is one of them."""
    if kind not in MODELS:
        raise ConfigError(f"unknown model kind {kind!r}: expected one of {', '.join(MODEL_KINDS)}")
    return kind


def config_class(kind):
    """The config dataclass of a kind (ViTConfig for 'vit')."""
    return MODELS[check_kind(kind)][1]


def build_model(kind, config, seed=0, dtype=np.float32):
    """A fresh model of the given kind from a config dict (as stored in checkpoints)."""
    model_cls, config_cls = MODELS[check_kind(kind)]
    return model_cls(config_cls.from_dict(config), seed=seed, dtype=dtype)


def model_kind(model):
    """The kind a model is stored under: the `kind` attribute of its class."""
    kind = getattr(model, "kind", None)
    if kind not in MODELS:
        raise ValueError(f"{type(model).__name__} is not one of numpyvit's models "
                         f"({', '.join(MODEL_KINDS)}): it has no known `kind` attribute")
    return kind
