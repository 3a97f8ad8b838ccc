"""The input check every image model runs at its entry (ViT and ResNet alike).

Shape legend: B batch, C channels, H, W image height/width.
"""
import numpy as np


def check_images(images, in_channels, image_size, dtype):
    """Raise a clear error unless images is a float array of shape (B, C, H, W) as the model
    expects; return them cast to the model's dtype (once, at the entry, so a float32 model
    stays float32). Shared by every image model."""
    expected = (in_channels, image_size, image_size)
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a NumPy array, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(f"images must have shape (B, {expected[0]}, {expected[1]}, {expected[2]}), "
                         f"got {images.shape}")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images have dtype {images.dtype}; the model needs floats: normalise "
                         f"first, e.g. numpyvit.normalize(x) for MNIST")
    return images.astype(dtype, copy=False)
