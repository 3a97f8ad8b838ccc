"""Digits as the models see them: normalised, in batches, in subsets, or made up.

    xb = normalize(x_uint8[idx])                     # float32 (B, 1, H, W), zero mean and unit variance
    xb = normalize(x_uint8[idx], "fashion-mnist")    # by Fashion-MNIST's own statistics

Shape legend: B batch (number of images), H, W image height and width.
"""
from typing import Iterator

import numpy as np

from ..errors import ConfigError
from ..images import check_images
from .datasets import get_dataset


def normalize(images: np.ndarray, dataset="mnist", dtype=np.float32) -> np.ndarray:
    """Scale pixels to zero mean, unit variance by the training set's statistics, and add
    the channel axis:

        out = (x / 255 - mean) / std        # MNIST: mean 0.1307, std 0.3081

    images: (B, H, W) or (B, 1, H, W), uint8 or float, on the 0..255 scale
    (augmented float images included). dataset: the one the model is trained on (its
    name or Dataset), whose mean and std are used. Returns `dtype` (B, 1, H, W).
    """
    x = check_images(images, "normalize: images", channels=1)      # (B, 1, H, W)
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"normalize: dtype={np.dtype(dtype)}, expected a float dtype")
    stats = get_dataset(dataset)
    out = x.astype(dtype, copy=True)
    # One multiply and one subtract in place: the same formula, no temporaries.
    out *= out.dtype.type(1.0 / (255.0 * stats.std))
    out -= out.dtype.type(stats.mean / stats.std)
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
