"""Augmentation: random shifts, rotations, zooms and mirror images of whole batches.

Everything is vectorised over the batch, and the background (0) fills whatever moves in,
so apply it to raw pixels, before normalize(). The trainer augments a whole epoch's
shuffled images at once (one call, one generator seeded by (seed, epoch)), which is what
makes an epoch replayable bit for bit on resume.

Shape legend: B batch, C channels, H, W image height and width.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..images import check_images


def _check_images(images: np.ndarray, fn: str) -> None:
    check_images(images, f"{fn}: images")


def shift_images(images: np.ndarray, dy, dx) -> np.ndarray:
    """Translate each image by a whole number of pixels, filling with zeros.

        out[b, ..., i, j] = images[b, ..., i - dy[b], j - dx[b]]   (0 outside)

    images: (B, H, W) or (B, C, H, W), any dtype. dy, dx: ints or (B,) int
    arrays; positive dy moves content down, positive dx moves it right.
    Returns the same shape and dtype.
    """
    _check_images(images, "shift_images")
    B, H, W = images.shape[0], images.shape[-2], images.shape[-1]
    dy = np.broadcast_to(np.asarray(dy, dtype=np.int64), (B,))
    dx = np.broadcast_to(np.asarray(dx, dtype=np.int64), (B,))
    s = int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    pad = [(0, 0)] * (images.ndim - 2) + [(s, s), (s, s)]
    padded = np.pad(images, pad)                               # (B, [C,] H+2s, W+2s)
    # Every HxW crop of the padded image, as a view: (B, [C,] 2s+1, 2s+1, H, W).
    windows = sliding_window_view(padded, (H, W), axis=(-2, -1))
    # The crop starting at (s - dy, s - dx) is the image moved by (dy, dx).
    b = np.arange(B)
    if images.ndim == 3:
        return windows[b, s - dy, s - dx]                      # (B, H, W)
    return windows[b, :, s - dy, s - dx]                       # (B, C, H, W)


def random_shift(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each image by its own random whole-pixel offset, zeros filling in.

    The offsets (dy, dx) are drawn uniformly from {-max_shift, ..., max_shift}
    as rng.integers(-max_shift, max_shift + 1, size=(B, 2)).
    images: (B, H, W) or (B, C, H, W), any dtype; returns the same shape and dtype.
    max_shift=0 returns an unchanged copy.
    """
    if int(max_shift) != max_shift or max_shift < 0:
        raise ValueError(f"random_shift: max_shift={max_shift}, expected a whole number >= 0")
    max_shift = int(max_shift)
    offsets = rng.integers(-max_shift, max_shift + 1, size=(images.shape[0], 2))   # (B, 2)
    return shift_images(images, offsets[:, 0], offsets[:, 1])


# Images resampled per chunk: intermediates of ~2M pixels stay in cache and
# keep memory flat; chunks are a few thousand images, never single images.
_AFFINE_CHUNK_PIXELS = 1 << 21


def affine_transform(images: np.ndarray, angle_deg=0.0, scale=1.0, shift_yx=0.0) -> np.ndarray:
    """Rotate, scale and translate each image about its centre, bilinear, zero fill.

    Forward map of a pixel position p = (y, x), with c = ((H-1)/2, (W-1)/2):

        p_out = scale * R(angle) (p_in - c) + c + shift_yx
        R(a) = [[cos a, -sin a],
                [sin a,  cos a]]     (on (y, x) with y down: positive = counter-clockwise
                                      on screen, so angle 90 matches np.rot90)

    It is applied by inverse mapping: every output pixel looks up
    p_in = R(-angle) (p_out - c - shift_yx) / scale + c and interpolates the four
    neighbouring input pixels bilinearly; positions outside the image read 0.

    images: (B, H, W) or (B, C, H, W); float dtypes are kept (float32 stays
    float32), integer dtypes are computed in float32, rounded and clipped back.
    angle_deg, scale: scalars or (B,). shift_yx: scalar, (2,) or (B, 2) pixels.
    Returns the same shape and dtype.
    """
    _check_images(images, "affine_transform")
    B = images.shape[0]
    angle = np.deg2rad(np.broadcast_to(np.asarray(angle_deg, dtype=np.float64), (B,)))
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (B,))
    shift = np.broadcast_to(np.asarray(shift_yx, dtype=np.float64), (B, 2))
    if np.any(scale <= 0):
        raise ValueError(f"affine_transform: scale={scale.min()}, expected > 0")

    # Inverse map as one 2x3 matrix per image: p_in = A[:, :2] p_out + A[:, 2].
    H, W = images.shape[-2:]
    centre = np.array([(H - 1) / 2, (W - 1) / 2])
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    A = np.empty((B, 2, 3))
    A[:, 0, 0], A[:, 0, 1] = cos, sin              # R(-angle) / scale
    A[:, 1, 0], A[:, 1, 1] = -sin, cos
    A[:, :, 2] = centre - np.einsum("bij,bj->bi", A[:, :, :2], centre + shift)

    x = images if images.ndim == 4 else images[:, None]       # (B, C, H, W)
    work = images.dtype if np.issubdtype(images.dtype, np.floating) else np.dtype(np.float32)
    chunk = max(1, _AFFINE_CHUNK_PIXELS // (x.shape[1] * H * W))
    # the output keeps the input's dtype and each chunk is rounded into it as it is made:
    # a float32 copy of all 60,000 digits (and its rounded and clipped copies) would cost
    # ~0.5 GB at the trainer's peak
    out = np.empty(x.shape, dtype=images.dtype)
    for start in range(0, B, chunk):
        res = _bilinear_resample(x[start:start + chunk].astype(work, copy=False),
                                 A[start:start + chunk].astype(np.float32))
        if work != images.dtype:
            info = np.iinfo(images.dtype)
            res = np.clip(np.rint(res, out=res), info.min, info.max, out=res)
        out[start:start + chunk] = res
    return out if images.ndim == 4 else out[:, 0]


def _bilinear_resample(x: np.ndarray, A: np.ndarray) -> np.ndarray:
    """out[b, c, i, j] = bilinear sample of x[b, c] at A[b] @ (i, j, 1); 0 outside.

    x: (B, C, H, W) float; A: (B, 2, 3) float32. Returns x's dtype (B, C, H, W).
    """
    B, C, H, W = x.shape
    # A zero border of 2 pixels. Source positions are clipped to [-2, H] (and
    # [-2, W]), so the four neighbours of any position outside the image land
    # in the border and read 0: this replaces a validity mask and its 4 multiplies.
    P = 2
    Hp, Wp = H + 2 * P, W + 2 * P
    padded = np.zeros((B, C, Hp, Wp), dtype=x.dtype)
    padded[:, :, P:P + H, P:P + W] = x

    gy, gx = np.meshgrid(np.arange(H, dtype=np.float32), np.arange(W, dtype=np.float32),
                         indexing="ij")
    gy, gx = gy.ravel(), gx.ravel()                                  # (H*W,) output positions
    sy = A[:, 0, 0, None] * gy + A[:, 0, 1, None] * gx + A[:, 0, 2, None]   # (B, H*W)
    sx = A[:, 1, 0, None] * gy + A[:, 1, 1, None] * gx + A[:, 1, 2, None]   # (B, H*W)
    y0, x0 = np.floor(sy), np.floor(sx)
    wy, wx = (sy - y0).astype(x.dtype), (sx - x0).astype(x.dtype)   # weights of the +1 neighbours
    y0 = np.clip(y0, -P, H).astype(np.intp) + P
    x0 = np.clip(x0, -P, W).astype(np.intp) + P
    # Flat index of the top-left neighbour in padded.ravel(), for every image and channel.
    plane = (np.arange(B * C, dtype=np.intp) * (Hp * Wp)).reshape(B, C, 1)
    idx = (y0 * Wp + x0)[:, None, :] + plane                          # (B, C, H*W)
    flat = padded.ravel()
    top_left, top_right = flat[idx], flat[idx + 1]
    bottom_left, bottom_right = flat[idx + Wp], flat[idx + Wp + 1]
    wx, wy = wx[:, None, :], wy[:, None, :]                           # (B, 1, H*W)
    top = top_left + wx * (top_right - top_left)                      # interpolate along x ...
    bottom = bottom_left + wx * (bottom_right - bottom_left)
    return (top + wy * (bottom - top)).reshape(B, C, H, W)            # ... then along y


def random_affine(images: np.ndarray, rng: np.random.Generator, max_rotation_deg: float = 10.0,
                  max_scale: float = 0.1, max_shift: float = 0.0) -> np.ndarray:
    """Random rotation, scale and translation per image (see affine_transform).

    Per image, uniformly: angle in [-max_rotation_deg, max_rotation_deg] degrees,
    scale in [1 - max_scale, 1 + max_scale], shift (dy, dx) in
    [-max_shift, max_shift] pixels (continuous, not whole pixels).
    images: (B, H, W) or (B, C, H, W); returns the same shape and dtype.
    """
    if max_rotation_deg < 0 or not 0 <= max_scale < 1 or max_shift < 0:
        raise ValueError(f"random_affine: max_rotation_deg={max_rotation_deg}, max_scale={max_scale}, "
                         f"max_shift={max_shift}; expected >= 0, in [0, 1) and >= 0")
    B = images.shape[0]
    angle = rng.uniform(-max_rotation_deg, max_rotation_deg, size=B)
    scale = rng.uniform(1 - max_scale, 1 + max_scale, size=B)
    shift = rng.uniform(-max_shift, max_shift, size=(B, 2))
    return affine_transform(images, angle, scale, shift)


def random_flip(images: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Mirror each image left to right with probability `prob` (a garment's mirror image is
    the same garment; a digit's is not). Draws rng.random(B) once.
    images: (B, H, W) or (B, C, H, W); returns a new array of the same shape and dtype."""
    return _flip_in_place(images.copy(), prob, rng)


def _flip_in_place(images, prob, rng):
    """random_flip on `images` itself (an array the caller owns); returns it."""
    if not 0 <= prob <= 1:
        raise ValueError(f"random_flip: prob={prob}, expected a probability in [0, 1]")
    flip = rng.random(images.shape[0]) < prob                           # (B,)
    images[flip] = images[flip][..., ::-1]
    return images


def augment(images: np.ndarray, rng: np.random.Generator, shift: int = 2,
            rotate: float = 0.0, scale: float = 0.0, flip: float = 0.0) -> np.ndarray:
    """The trainer's augmentation: a random shift, plus rotation/scale and mirroring if asked.

    With rotate == scale == 0 this is random_shift(images, shift, rng): whole-pixel
    shifts, an exact copy of pixels, cheap. Otherwise the shift is folded into
    random_affine (continuous, up to `shift` pixels) so the image is resampled
    once, not blurred twice. Apply it before normalize(), while the background is 0.
    flip > 0 then mirrors that share of the images (drawn last, so that without it the
    generator's stream, and every run, is what it was before flips existed).
    images: (B, H, W) or (B, C, H, W); returns the same shape and dtype.
    """
    if rotate > 0 or scale > 0:
        out = random_affine(images, rng, max_rotation_deg=rotate, max_scale=scale, max_shift=shift)
    elif shift > 0:
        out = random_shift(images, shift, rng)
    else:
        out = images.copy()
    return _flip_in_place(out, flip, rng) if flip > 0 else out      # out is already a new array


def cutmix(images: np.ndarray, labels: np.ndarray, num_classes: int, rng: np.random.Generator,
           prob: float = 1.0):
    """CutMix (Yun et al. 2019): paste a random box of another image into each image and mix
    the labels in proportion to the pixels each image keeps.

    Per image b, with probability `prob`: a partner image (a random permutation of the batch),
    a box of area fraction 1 - lam with lam ~ Uniform(0, 1) (Beta(1, 1), as in the paper),
    its centre uniform in the image and clipped at the borders. Then

        out[b] = image[b] outside the box, image[partner[b]] inside it
        target[b] = lam_b onehot(y[b]) + (1 - lam_b) onehot(y[partner[b]])

    with lam_b recomputed from the clipped box, so the label matches the pixels exactly.
    images: (B, H, W) or (B, C, H, W); labels: (B,) ints. Returns (images, targets (B, K)
    float32 rows summing to 1), for SoftmaxCrossEntropy's target distributions.
    """
    _check_images(images, "cutmix")
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"cutmix: prob={prob!r}, expected a probability in [0, 1]")
    labels = np.asarray(labels)
    B, H, W = images.shape[0], images.shape[-2], images.shape[-1]
    partner = rng.permutation(B)
    apply = rng.random(B) < prob
    cut = np.sqrt(1.0 - rng.random(B))                        # box side / image side: area 1 - lam
    cy, cx = rng.random(B) * H, rng.random(B) * W              # box centres
    half_h, half_w = cut * H / 2, cut * W / 2
    y0 = np.clip(np.round(cy - half_h), 0, H).astype(int)
    y1 = np.clip(np.round(cy + half_h), 0, H).astype(int)
    x0 = np.clip(np.round(cx - half_w), 0, W).astype(int)
    x1 = np.clip(np.round(cx + half_w), 0, W).astype(int)
    y1, x1 = np.where(apply, y1, y0), np.where(apply, x1, x0)  # an image not mixed: an empty box
    rows, cols = np.arange(H), np.arange(W)
    in_rows = (rows >= y0[:, None]) & (rows < y1[:, None])     # (B, H)
    in_cols = (cols >= x0[:, None]) & (cols < x1[:, None])     # (B, W)
    box = in_rows[:, :, None] & in_cols[:, None, :]            # (B, H, W)
    mask = box.reshape(B, *([1] * (images.ndim - 3)), H, W)    # broadcasts over channels
    out = np.where(mask, images[partner], images)
    lam = 1.0 - box.sum(axis=(1, 2)) / (H * W)                 # (B,) the share of b's own pixels
    targets = np.zeros((B, num_classes), dtype=np.float32)
    targets[np.arange(B), labels] += lam
    targets[np.arange(B), labels[partner]] += 1.0 - lam
    return out, targets
