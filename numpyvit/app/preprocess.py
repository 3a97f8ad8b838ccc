"""Turn a user's image into what a model was trained on: a digit (a photo, a scan, a canvas
drawing) into an MNIST digit with preprocess_digit, a product photo into a Fashion-MNIST
image with preprocess_garment.

MNIST's digits were made like this (LeCun et al. 1998): the ink's bounding box scaled so that
its longer side is 20 px, aspect ratio kept, anti-aliased, then placed in a 28 x 28 frame so
that the ink's centre of mass sits at the centre; the background is exactly 0 and the ink is
light. A model trained on them expects exactly that, so a photo resized whole to 28 x 28
(a small, off-centre digit on grey) is read badly. preprocess_digit repeats MNIST's recipe:

    greyscale -> ink light, background dark (whichever the image had)
              -> subtract the paper's brightness (a fitted plane: handles uneven lighting)
              -> threshold (Otsu 1979): background exactly 0, ink stretched to 0..1
              -> drop isolated specks -> crop to the ink's bounding box -> longer side 20 px
              -> shift so the centre of mass is at the centre of 28 x 28

It is the one preprocessing used by `predict`, by the web page's server and by notebooks.
Shapes: H, W the input image's height and width; S the output side (28).
"""
import numpy as np

from ..errors import UsageError

MNIST_SIZE = 28      # MNIST's frame ...
MNIST_BOX = 20       # ... and the longer side of the ink's bounding box inside it
WORK_SIZE = 256      # larger images are first box-averaged down to this longer side: the digit
                     # ends up 20 px anyway, and averaging removes most sensor/JPEG noise
MIN_CONTRAST = 4.0   # ink must stand this many noise standard deviations above the paper (a
                     # blank page's two Otsu halves stand about 1.5 apart, a smooth shadow's mostly under 3)


class ImageError(UsageError, ValueError):
    """An image that cannot be turned into a digit: unreadable, empty, or without ink."""


def read_image(path):
    """A PNG/JPEG/... file as a greyscale (H, W) uint8 array, in the orientation it is shown.

    Phone photos store their rotation as an EXIF tag, applied here. Transparent pixels are
    laid on a background that contrasts with the opaque ones (a black stroke drawn on a
    transparent canvas becomes black on white, not black on black).
    Raises ImageError naming the file when it is missing or not an image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                opaque = np.asarray(rgba)[..., 3] > 0
                grey = np.asarray(rgba.convert("L"))
                paper = 255 if opaque.any() and grey[opaque].mean() < 128 else 0
                im = Image.alpha_composite(Image.new("RGBA", rgba.size, (paper, paper, paper, 255)), rgba)
            return np.asarray(im.convert("L"), dtype=np.uint8)
    except FileNotFoundError:
        raise ImageError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ImageError(f"cannot read image {path}: {e}") from None


def preprocess_digit(image, size=MNIST_SIZE):
    """One digit image -> an MNIST-like (size, size) uint8 digit: light ink on 0, centred.

    image: (H, W) greyscale, any numeric dtype, on the scale 0..255 or (no pixel above 1)
        0..1: only relative brightness matters, except that ink must differ from the paper
        by 4 grey levels (4/255 of the scale) or more. Light-on-dark and dark-on-light are
        both fine; the paper may be less than half of the image (a digit cropped to its ink).
    Returns (size, size) uint8; the ink's bounding box has its longer side 20 px (for size
    28; 20/28 of size otherwise) and its centre of mass within half a pixel of the centre
    (size - 1) / 2, unless keeping the whole digit in the frame forbids it.
    Raises ImageError when the image is not 2-D, is empty, holds NaN/inf, or has no ink.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 4:
        raise ValueError(f"preprocess_digit: size={size!r}, expected an integer >= 4 (MNIST: 28)")
    x, grey_level = _as_grey(image)
    x = _shrink(x, WORK_SIZE)                                     # (H', W') float64, 0..1
    ink = _ink_light(x)                                           # ink light, background dark
    if ink.shape[0] >= 64 and ink.shape[1] >= 64:                 # big enough to spare detail
        ink = _box_blur3(ink)                                     # noise down by ~3x
    level, mask = _separate_ink(ink, grey_level)                  # ink 0..1, background exactly 0
    mask = _drop_specks(mask)
    if not mask.any():
        raise ImageError("the image has no ink: nothing stands out from the background")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = np.where(mask, level, 0.0)[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]   # (h, w)
    box = max(1, round(size * MNIST_BOX / MNIST_SIZE))
    digit = _fit_box(crop, box)                                   # longer side == box
    return _centre_by_mass(digit, size)



# --- a product photo, the way Fashion-MNIST was made -----------------------------------------
GARMENT_TOLERANCE = 0.05   # a pixel within 5% of the full scale of the background colour is background


def preprocess_garment(image, size=MNIST_SIZE):
    """One photo of a product on a plain background -> a Fashion-MNIST-like (size, size) uint8
    image: the product light on exactly 0, its longer side `size` px, centred.

    Fashion-MNIST's images were made from Zalando's product photos (Xiao, Rasul & Vollgraf
    2017) by: trimming the edges whose colour is close to the corner pixels' (within 5% of the
    maximum intensity), resizing the longest edge to 28, sharpening, extending the shorter edge
    to 28 with the product in the centre, negating the intensities, and converting to 8-bit
    greyscale. This repeats those steps with two changes: the resize is anti-aliased (Lanczos)
    rather than a subsampling, so a large photo's noise is averaged away, and there is no
    sharpening. The background is read from the border (its median), so a product touching one
    edge, or a dark backdrop, works too; a light product on a dark backdrop is not negated.

        greyscale -> background = median of the border
                  -> trim rows and columns that are all within 5% of it
                  -> longer side `size` px (Lanczos) -> centre on a background canvas
                  -> distance from the background (negates a light backdrop), 0 where within 5%

    image: (H, W) greyscale, 0..255 (uint8 or any numeric dtype) or floats in 0..1; the 5%
    tolerance is of that full scale, so sensor noise on the backdrop is not taken for product.
    Raises ImageError when the image is not 2-D, is empty, holds NaN/inf, or is all backdrop.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 4:
        raise ValueError(f"preprocess_garment: size={size!r}, expected an integer >= 4 (Fashion-MNIST: 28)")
    x = _shrink(_on_unit_scale(image), WORK_SIZE)                 # (H', W') float64, 0..1
    back = float(np.median(_border_pixels(x, 1)))                 # the backdrop's brightness
    product = np.abs(x - back) > GARMENT_TOLERANCE                # (H', W') what is not backdrop
    if not product.any():
        raise ImageError("the image has no product: every pixel is within 5% of the background")
    rows, cols = np.flatnonzero(product.any(axis=1)), np.flatnonzero(product.any(axis=0))
    crop = x[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]          # (h, w) the trimmed photo
    small = _resize_longest(crop, size, "LANCZOS")                # longer side == size
    h, w = small.shape
    frame = np.full((size, size), back)
    top, left = (size - h + 1) // 2, (size - w + 1) // 2          # an odd margin's extra pixel: top/left
    frame[top:top + h, left:left + w] = small
    # light backdrop: darker is more product (the negation); dark backdrop: lighter is more
    level = (back - frame) / back if back > 0.5 else (frame - back) / (1.0 - back)
    level = np.where(np.abs(frame - back) > GARMENT_TOLERANCE, np.clip(level, 0.0, 1.0), 0.0)
    if level.max() == 0:                      # a speck that the resize averaged into the backdrop
        raise ImageError(f"the image has no product: nothing stands out from the background at {size} px")
    level /= level.max()                      # contrast stretched: the strongest pixel is 255, as in
    return np.rint(level * 255).astype(np.uint8)   # 92% of Fashion-MNIST's images



# --- the steps ----------------------------------------------------------------------------
def _as_grey(image):
    """Validate and rescale to float64 0..1 (min -> 0, max -> 1): ((H, W), grey_level).

    grey_level is one step of an 8-bit image in the rescaled units: 1/255 of the scale the
    pixels are on (0..255, or 0..1 when no pixel is above 1, as _on_unit_scale reads them).
    """
    x = _pixels(image)
    lo, hi = x.min(), x.max()
    if hi == lo:
        raise ImageError(f"the image has no ink: every pixel is {lo:g}")
    grey_level = (1.0 if hi > 1.0 else 1.0 / 255) / (hi - lo)
    return (x - lo) / (hi - lo), grey_level


def _on_unit_scale(image):
    """Validate and bring to float64 0..1 without stretching: pixels on the 0..255 scale
    (any with a value above 1) are divided by 255, others are taken as 0..1. (H, W)."""
    x = _pixels(image)
    return x / 255.0 if x.max() > 1.0 else np.clip(x, 0.0, None)


def _pixels(image):
    """The image as float64 (H, W), or ImageError naming what is wrong with it."""
    x = np.asarray(image)
    if x.ndim != 2:
        raise ImageError(f"image.shape={x.shape}: expected a 2-D greyscale image (H, W)")
    if x.size == 0:
        raise ImageError(f"image.shape={x.shape}: the image is empty")
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ImageError(f"image.dtype={x.dtype}: expected integer or float pixels")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ImageError("the image holds NaN or infinite pixels")
    return x


def _shrink(x, longest):
    """Box-average x down so that its longer side is at most `longest` (never enlarged)."""
    H, W = x.shape
    if max(H, W) <= longest:
        return x
    from PIL import Image
    scale = longest / max(H, W)
    shape = (max(1, round(W * scale)), max(1, round(H * scale)))  # PIL sizes are (width, height)
    return np.asarray(Image.fromarray(x.astype(np.float32), mode="F").resize(shape, Image.BOX),
                      dtype=np.float64)


def _box_blur3(x):
    """3 x 3 mean, edges repeated: (H, W) -> (H, W)."""
    p = np.pad(x, 1, mode="edge")                                 # (H+2, W+2)
    H, W = x.shape
    return sum(p[i:i + H, j:j + W] for i in range(3) for j in range(3)) / 9.0


def _ink_light(x):
    """x with the ink made light and the background dark: x or 1 - x.

    The border is mostly paper, so the border's median is the paper's brightness. The ink is
    whichever extreme lies farther from it: paper noise spreads both ways by about the same
    amount, ink only one way. (A 3 x 3 blur first, so one hot pixel cannot decide.)
    A digit cropped to its ink still leaves most of the border paper, unless a stroke runs
    along the frame: an upright 1 cut to its stroke can come out with paper and ink swapped.
    """
    paper = np.median(_border_pixels(x, max(1, min(x.shape) // 20)))   # a strip 5% of the side
    smooth = _box_blur3(x)
    dark_ink = paper - smooth.min() > smooth.max() - paper
    return 1.0 - x if dark_ink else x


def _otsu(values, bins=256):
    """Otsu's threshold (1979): the cut of a histogram that maximises the between-class
    variance w0 w1 (m0 - m1)^2. values: 1-D; returns a value between min and max."""
    hist, edges = np.histogram(values, bins=bins)
    p = hist / hist.sum()
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)                                             # weight of the class below each cut
    m0 = np.cumsum(p * centres)                                   # its first moment
    w1 = 1.0 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0[-1] * w0 - m0) ** 2 / (w0 * w1)             # = w0 w1 (mu0 - mu1)^2
    between[~np.isfinite(between)] = -1
    return edges[np.argmax(between) + 1]


def _separate_ink(x, grey_level):
    """Split x (ink light) into ink and paper: (level (H, W) in 0..1, ink mask (H, W) bool).

    1. Otsu's threshold gives a first guess of the paper pixels.
    2. A plane a + b*row + c*col fitted to them is the paper's brightness, so a light
       gradient across a photo (one corner in shadow) is removed, not taken for ink.
    3. Otsu again on what is left: ink is above the cut, paper below.
    4. The paper's level and noise are read from the paper pixels, however few: a digit
       cropped to its edges may leave the paper less than half of the image.
    An image whose ink (its median pixel) stands less than MIN_CONTRAST noise deviations, and
    MIN_CONTRAST grey levels (grey_level: one step of 8 bits), above the paper is noise
    alone: no ink. On a blank page Otsu cuts one spread of noise in two, and the halves'
    medians stand about 1.5 deviations apart.
    """
    H, W = x.shape
    rr, cc = np.mgrid[0:H, 0:W]
    paper = x <= _otsu(x.ravel())
    A = np.stack([np.ones(paper.sum()), rr[paper], cc[paper]], axis=1)   # (n_paper, 3)
    coef, *_ = np.linalg.lstsq(A, x[paper], rcond=None)
    residual = x - (coef[0] + coef[1] * rr + coef[2] * cc)        # (H, W), paper near 0
    cut = _otsu(residual.ravel())
    mask = residual > cut
    if not mask.any() or mask.all():
        return np.zeros_like(x), np.zeros_like(mask)
    paper = residual[~mask]                                       # (n_paper,)
    centre = np.median(paper)                                     # the paper's level
    # Noise from the paper on the far side of its median from the ink: the strokes' soft
    # edges that fall below the cut lie on the near side and would widen a two-sided spread.
    # For a Gaussian the median of a one-sided deviation is 0.674 std, as the MAD's is.
    below = centre - paper[paper < centre]
    noise = 1.4826 * np.median(below) if below.size else 0.0
    noise = max(noise, grey_level)            # a flat, quantised page has a MAD of 0
    if np.median(residual[mask]) - centre <= MIN_CONTRAST * noise:
        return np.zeros_like(x), np.zeros_like(mask)
    top = np.percentile(residual[mask], 99)                       # the ink's full strength, > centre
    # Ink contrast stretched: the paper's level -> 0, the ink's strongest 1% -> 1. Ink pixels
    # keep at least (cut - paper) / (top - paper) > 0, so a faint edge is not lost in rounding.
    level = np.clip((residual - centre) / (top - centre), 0.0, 1.0)
    return level, mask


def _drop_specks(mask):
    """Remove ink pixels with fewer than two ink neighbours (of 8): dust and noise that would
    otherwise stretch the bounding box. Strokes, even one pixel wide, keep theirs."""
    p = np.pad(mask, 1).astype(np.int16)
    H, W = mask.shape
    neighbours = sum(p[i:i + H, j:j + W] for i in range(3) for j in range(3)) - mask
    return mask & (neighbours >= 2)


def _border_pixels(x, width):
    """The pixels of x's outer strip `width` pixels wide on each side, as one 1-D array."""
    b = width
    return np.concatenate([x[:b].ravel(), x[-b:].ravel(), x[:, :b].ravel(), x[:, -b:].ravel()])


def _resize_longest(crop, box, resample):
    """Resize crop (h, w) so that its longer side is `box`, aspect kept, anti-aliased with
    PIL's filter `resample` ("BILINEAR", "LANCZOS", ...; a filter's overshoot is clipped):
    (box, w') or (h', box) float64 in 0..1."""
    from PIL import Image
    h, w = crop.shape
    scale = box / max(h, w)
    shape = (max(1, round(w * scale)), max(1, round(h * scale)))  # (width, height)
    out = Image.fromarray(crop.astype(np.float32), mode="F").resize(shape, getattr(Image, resample))
    return np.clip(np.asarray(out, dtype=np.float64), 0.0, 1.0)


def _fit_box(crop, box):
    """crop (h, w) resized bilinearly so that its longer side is `box`, aspect kept, and its
    strongest ink 1 again: (box, w') or (h', box) float64 in 0..1."""
    out = _resize_longest(crop, box, "BILINEAR")
    # averaging thin strokes down dims them: stretch again so the strongest ink is 1, as in MNIST
    return out / out.max() if out.max() > 0 else out


def _centre_by_mass(digit, size):
    """Place digit (h, w) in a (size, size) uint8 frame with its centre of mass at the
    frame's centre (size - 1) / 2, moved by whole pixels as MNIST did (no resampling).
    The shift is limited so that the whole digit stays inside the frame."""
    h, w = digit.shape
    total = digit.sum()
    cy = (digit.sum(axis=1) @ np.arange(h)) / total              # centre of mass in the digit
    cx = (digit.sum(axis=0) @ np.arange(w)) / total
    centre = (size - 1) / 2
    top = int(np.clip(round(centre - cy), 0, size - h))
    left = int(np.clip(round(centre - cx), 0, size - w))
    frame = np.zeros((size, size), dtype=np.float64)
    frame[top:top + h, left:left + w] = digit
    return np.rint(frame * 255).astype(np.uint8)


def side_by_side(original, digit, height=280, gap=20):
    """The original image (scaled to `height`) beside the (S, S) digit the model saw (scaled
    up with visible pixels): a PIL RGB image, for `predict --show`."""
    from PIL import Image
    orig = Image.fromarray(np.asarray(original, dtype=np.uint8), mode="L")
    orig = orig.resize((max(1, round(orig.width * height / orig.height)), height), Image.BILINEAR)
    seen = Image.fromarray(np.asarray(digit, dtype=np.uint8), mode="L").resize((height, height), Image.NEAREST)
    canvas = Image.new("RGB", (orig.width + gap + height, height), (255, 255, 255))
    canvas.paste(orig.convert("RGB"), (0, 0))
    canvas.paste(seen.convert("RGB"), (orig.width + gap, 0))
    return canvas
