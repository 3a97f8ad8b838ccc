"""The one check of a batch of images, for every part that takes one.

    x = check_images(images, "images", channels=1)       # -> (B, C, H, W), a view, or a clear error

Shape legend: B batch, C channels, H, W image height/width.
"""
import numpy as np


def check_images(images, name="images", channels=None, size=None, floats=False, channel_axis="optional"):
    """Return `images` as a (B, C, H, W) view, or raise an error naming `name`, what it got and
    what was expected.

    images:       a NumPy array (B, H, W) or (B, C, H, W) of numbers; (B, H, W) gains C = 1.
    channels:     the number of channels required (None: any).
    size:         the side H = W required (None: any).
    floats:       require a float dtype (a model's input, normalised), not raw pixels.
    channel_axis: "optional" accepts both layouts; "required" only (B, C, H, W) (a model's
                  entry, where a missing axis is more likely a mistake than a greyscale batch).
    """
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(images).__name__}")
    c = "C" if channels is None else channels
    hw = "H, W" if size is None else f"{size}, {size}"
    expected = f"(B, {c}, {hw})" if channel_axis == "required" else f"(B, {hw}) or (B, {c}, {hw})"
    x = images[:, None] if images.ndim == 3 and channel_axis != "required" else images
    if (x.ndim != 4 or (channels is not None and x.shape[1] != channels)
            or (size is not None and x.shape[2:] != (size, size))):
        raise ValueError(f"{name}.shape={images.shape}, expected shape {expected}")
    if floats and not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} have dtype {x.dtype}; the model needs floats: normalise "
                         f"first, e.g. numpyvit.normalize(x)")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"{name}.dtype={x.dtype}, expected an integer or float dtype")
    return x
