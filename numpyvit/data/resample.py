"""Digits at another size: drawn larger (each pixel repeated) or set on a larger blank canvas.

    x56 = upsample(x28, 2)       # (B, 56, 56): every pixel a 2x2 block, the digit twice as large
    c56 = on_canvas(x28, 56)     # (B, 56, 56): the digit as it was, in the middle of a blank frame

Both work on raw pixels (before normalize()), where 0 is the background.
Shape legend: B batch, C channels, H, W image height and width.
"""
import numpy as np

from ..images import check_images


def upsample(images, factor):
    """Repeat every pixel factor x factor times (nearest-neighbour upsampling):
    out[..., i, j] = images[..., i // factor, j // factor]. images (B, H, W) or (B, C, H, W)
    -> (..., factor H, factor W), the same dtype. Nothing is smoothed: ink stays ink."""
    check_images(images, "upsample: images")
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ValueError(f"upsample: factor={factor!r}, expected a whole number >= 1")
    return images.repeat(factor, axis=-2).repeat(factor, axis=-1)


def on_canvas(images, size):
    """Place each image in the middle of a size x size frame of zeros (the background).
    images (B, H, W) or (B, C, H, W) with H, W <= size -> (..., size, size), the same dtype."""
    check_images(images, "on_canvas: images")
    H, W = images.shape[-2:]
    if size < max(H, W):
        raise ValueError(f"on_canvas: size={size} is smaller than the images ({H}x{W})")
    top, left = (size - H) // 2, (size - W) // 2
    out = np.zeros(images.shape[:-2] + (size, size), dtype=images.dtype)
    out[..., top:top + H, left:left + W] = images
    return out
