"""What the config dataclasses (ViTConfig, ResNetConfig, TrainConfig) share: conversion to and
from the plain dicts stored as JSON in checkpoints, and the project's one positive-integer check."""
from dataclasses import asdict, fields

import numpy as np

from ..errors import ConfigError


class Config:
    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        """Build from a dict (e.g. a checkpoint's JSON); unknown keys are an error, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} fields {unknown}; known: {sorted(known)}")
        return cls(**d)


def check_positive_int(name, value):
    """Raise ConfigError naming `name` unless value is an int (not a bool) greater than 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{name}={value!r} must be a positive integer")
