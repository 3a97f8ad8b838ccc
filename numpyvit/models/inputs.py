"""The input check every image model runs at its entry (ViT and ResNet alike).

Shape legend: B batch, C channels, H, W image height/width.
"""
from ..images import check_images as _check


def check_images(images, in_channels, image_size, dtype):
    """Raise a clear error unless images is a float array of shape (B, C, H, W) as the model
    expects; return them cast to the model's dtype (once, at the entry, so a float32 model
    stays float32). Shared by every image model."""
    x = _check(images, "images", channels=in_channels, size=image_size, floats=True, channel_axis="required")
    return x.astype(dtype, copy=False)
