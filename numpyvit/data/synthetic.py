"""A learnable fake dataset for fast tests: blobs on a circle, one position per class."""
import numpy as np


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
