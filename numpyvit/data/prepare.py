"""Digits as the models see them: normalised, in batches, in subsets, or made up.

    xb = normalize(x_uint8[idx])      # float32 (B, 1, H, W), zero mean and unit variance

Shape legend: B batch (number of images), H, W image height and width.
"""
from typing import Iterator

import numpy as np

from ..errors import ConfigError

# Mean and std of the MNIST training pixels scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def normalize(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Scale pixels to zero mean, unit variance and add the channel axis.

        out = (x / 255 - MNIST_MEAN) / MNIST_STD

    images: (B, H, W) or (B, 1, H, W), uint8 or float, on the 0..255 scale
    (augmented float images included). Returns `dtype` (B, 1, H, W).
    """
    if images.ndim == 4 and images.shape[1] == 1:
        x = images
    elif images.ndim == 3:
        x = images[:, None]                          # (B, 1, H, W)
    else:
        raise ValueError(f"normalize: images.shape={images.shape}, expected (B, H, W) or (B, 1, H, W)")
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"normalize: dtype={np.dtype(dtype)}, expected a float dtype")
    out = x.astype(dtype, copy=True)
    # One multiply and one subtract in place: the same formula, no temporaries.
    out *= out.dtype.type(1.0 / (255.0 * MNIST_STD))
    out -= out.dtype.type(MNIST_MEAN / MNIST_STD)
    return out


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches iterate_batches yields: floor(n / bs) if drop_last else ceil(n / bs)."""
    return n // batch_size if drop_last else -(-n // batch_size)


def iterate_batches(n: int, batch_size: int, rng=None, shuffle: bool = True,
                    drop_last: bool = False) -> Iterator[np.ndarray]:
    """Yield int64 index arrays that split range(n) into batches.

    Args:
        n: number of examples.
        batch_size: indices per batch.
        rng: np.random.Generator, an int seed, or None (fresh entropy); used
            only when shuffle=True. The same seed gives the same order.
        shuffle: visit the examples in a random permutation (training) or in
            order 0..n-1 (evaluation).
        drop_last: drop the final batch if it holds fewer than batch_size
            indices. Default False, which suits evaluation: every example is
            scored. Training passes drop_last=True so every step has the same
            batch size (the loss is a mean, and a tiny last batch would be a
            noisy, overweighted step); the dropped examples differ each epoch
            when shuffling.
    """
    if n < 0 or batch_size < 1:
        raise ValueError(f"iterate_batches: n={n}, batch_size={batch_size}; expected n >= 0 and batch_size >= 1")
    order = np.random.default_rng(rng).permutation(n) if shuffle else np.arange(n)

    # An inner generator so that bad arguments raise at the call, not at the first next().
    def batches():
        for start in range(0, num_batches(n, batch_size, drop_last) * batch_size, batch_size):
            yield order[start:start + batch_size]
    return batches()

def class_balanced_subset(labels, size, seed):
    """Indices of `size` examples, the same number from each class (seeded). A size of the
    whole set or more returns every index: MNIST's classes are not exactly balanced."""
    if size >= len(labels):
        return np.arange(len(labels))
    classes = np.unique(labels)
    per_class = size // len(classes)
    if per_class < 1:
        raise ConfigError(f"train_subset={size} is smaller than the number of classes ({len(classes)})")
    rng = np.random.default_rng([seed, 12345])
    picked = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            raise ConfigError(f"train_subset={size} needs {per_class} images of class {c}, only {len(idx)} exist")
        picked.append(rng.choice(idx, per_class, replace=False))
    return np.sort(np.concatenate(picked))


# A learnable fake dataset for fast tests

def synthetic_digits(n: int, seed: int = 0, image_size: int = 28, num_classes: int = 10):
    """Make n fake "digits": class k is a bright Gaussian blob at the k-th of
    num_classes points evenly spaced on a circle around the centre, with
    jittered position and brightness plus pixel noise.

    Easy to learn (the class is where the blob is), harder than a constant,
    and needs no network. Returns images uint8 (n, image_size, image_size)
    with background near 0, and labels uint8 (n,).
    """
    if n < 0 or image_size < 8 or not 2 <= num_classes <= 256:
        raise ValueError(f"synthetic_digits: n={n}, image_size={image_size}, num_classes={num_classes}; "
                         f"expected n >= 0, image_size >= 8, 2 <= num_classes <= 256")
    rng = np.random.default_rng(seed)
    S = image_size
    labels = rng.integers(0, num_classes, size=n).astype(np.uint8)               # (n,)
    theta = 2 * np.pi * labels / num_classes
    radius, sigma = 0.3 * S, S / 10
    cy = (S - 1) / 2 - radius * np.cos(theta) + rng.uniform(-1, 1, size=n)       # (n,)
    cx = (S - 1) / 2 + radius * np.sin(theta) + rng.uniform(-1, 1, size=n)
    g = np.arange(S, dtype=np.float32)
    d2 = (g[None, :, None] - cy[:, None, None]) ** 2 + (g[None, None, :] - cx[:, None, None]) ** 2
    brightness = rng.uniform(180, 255, size=(n, 1, 1))
    images = brightness * np.exp(-d2 / (2 * sigma ** 2))                          # (n, S, S)
    images += rng.normal(0, 12, size=images.shape)
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels
