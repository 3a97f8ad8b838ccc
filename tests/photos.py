"""Synthetic user images of digits, for the preprocessing and app tests (no network needed).

pen_digit draws a digit as pen strokes on a blank canvas, the way someone draws on the page;
photograph puts any light-on-dark digit on paper as a phone would see it: dark or light ink,
grey paper with a lighting gradient, sensor noise, off-centre, rotated, any size, JPEG;
cropped_photograph photographs a digit cropped to its ink, the frame a user draws closely
around it.
"""
import io

import numpy as np

# Each digit as strokes in a unit box (x right, y down), points joined by straight lines;
# arcs are sampled ellipses. Rough handwriting, as a person would draw it with a mouse.


def _arc(cx, cy, rx, ry, a0, a1, n=24):
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


STROKES = {
    0: [_arc(0.5, 0.5, 0.28, 0.42, 0, 360, 40)],
    1: [[(0.38, 0.22), (0.55, 0.08), (0.55, 0.92)]],
    2: [_arc(0.5, 0.3, 0.27, 0.22, 200, 370) + [(0.22, 0.9), (0.8, 0.9)]],
    3: [_arc(0.48, 0.3, 0.26, 0.2, 210, 450) + _arc(0.48, 0.7, 0.3, 0.22, 270, 510)],
    4: [[(0.6, 0.08), (0.18, 0.65), (0.82, 0.65)], [(0.62, 0.35), (0.62, 0.92)]],
    5: [[(0.78, 0.1), (0.3, 0.1), (0.26, 0.45)] + _arc(0.48, 0.66, 0.3, 0.25, 240, 500)],
    6: [[(0.7, 0.08), (0.35, 0.4)] + _arc(0.5, 0.68, 0.26, 0.24, 180, 540)],
    7: [[(0.2, 0.1), (0.8, 0.1), (0.4, 0.92)]],
    8: [_arc(0.5, 0.28, 0.22, 0.2, 90, 450), _arc(0.5, 0.7, 0.28, 0.22, -90, 270)],
    9: [_arc(0.5, 0.32, 0.25, 0.22, 0, 360) + [(0.75, 0.32), (0.7, 0.92)]],
}


def pen_digit(label, rng, size=280, width=22):
    """Digit `label` drawn as white pen strokes on black: (size, size) uint8, like the page's
    canvas. Each stroke point is jittered a little so no two drawings are the same."""
    from PIL import Image, ImageDraw
    im = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(im)
    margin = 0.15 * size
    span = size - 2 * margin
    for stroke in STROKES[label]:
        pts = np.array(stroke) + rng.normal(0, 0.015, (len(stroke), 2))
        xy = [(margin + span * x, margin + span * y) for x, y in pts]
        draw.line(xy, fill=255, width=width, joint="curve")
        for x, y in (xy[0], xy[-1]):                              # round pen ends
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return np.asarray(im)


def photograph(digit, rng, shape=(240, 320), height=120, centre=(0.5, 0.5), angle=0.0,
               dark_ink=True, paper=(150, 200), ink=40, noise=6.0, jpeg=None):
    """A light-on-dark digit (h, w) uint8 as a photo (shape) uint8.

    The digit is scaled to `height` px, rotated by `angle` degrees and placed with its centre
    at `centre` (fractions of the photo); the paper's brightness runs linearly from paper[0]
    to paper[1] in a random direction; ink has brightness `ink` (dark_ink) or the paper is
    dark and the ink light (dark_ink=False: paper and ink swap roles via 255 - v).
    Gaussian noise of std `noise`, then an optional JPEG round trip at quality `jpeg`.
    """
    from PIL import Image
    d = Image.fromarray(np.asarray(digit, dtype=np.uint8))
    d = d.resize((max(1, round(d.width * height / d.height)), height), Image.BICUBIC)
    d = d.rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=0)
    H, W = shape
    if d.height > H or d.width > W:
        raise ValueError(f"photograph: the digit ({d.height} x {d.width} px) does not fit in {shape}")
    m = np.zeros(shape)
    top = int(np.clip(round(centre[0] * H - d.height / 2), 0, H - d.height))   # kept in the photo
    left = int(np.clip(round(centre[1] * W - d.width / 2), 0, W - d.width))
    m[top:top + d.height, left:left + d.width] = np.asarray(d) / 255.0
    rr, cc = np.mgrid[0:H, 0:W]
    theta = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(theta) * rr / H + np.sin(theta) * cc / W)
    ramp = (ramp - ramp.min()) / max(ramp.max() - ramp.min(), 1e-9)
    page = paper[0] + (paper[1] - paper[0]) * ramp
    img = page * (1 - m) + ink * m
    if not dark_ink:
        img = 255 - img
    img = img + rng.normal(0, noise, shape)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if jpeg:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=jpeg)
        img = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    return img


def crop_to_ink(digit):
    """A light-on-dark digit (h, w) cut down to the bounding box of its lit pixels."""
    d = np.asarray(digit)
    rows, cols = np.flatnonzero(d.any(axis=1)), np.flatnonzero(d.any(axis=0))
    return d[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def cropped_photograph(digit, rng, height, **photo):
    """A light-on-dark digit photographed (photograph's keywords) in a frame cropped to its ink:
    the photo is the digit's bounding box scaled to `height` px, with no margin at all.
    Returns (photo (height, w) uint8, the fraction of the frame that the ink covers at half
    strength or more)."""
    crop = crop_to_ink(digit)
    h, w = crop.shape
    shape = (height, max(1, round(w * height / h)))
    return photograph(crop, rng, shape=shape, height=height, **photo), float(np.mean(crop >= 128))


def random_photograph(digit, rng):
    """photograph with every condition drawn at random over a realistic range."""
    H = int(rng.integers(160, 480))
    W = int(rng.integers(160, 480))
    height = int(rng.uniform(0.3, 0.7) * min(H, W))
    lo = rng.uniform(90, 190)
    return photograph(digit, rng, shape=(H, W), height=height,
                      centre=(rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65)),
                      angle=rng.uniform(-12, 12), dark_ink=rng.random() < 0.75,
                      paper=(lo, min(250, lo + rng.uniform(0, 60))), ink=rng.uniform(10, 70),
                      noise=rng.uniform(2, 10), jpeg=int(rng.integers(60, 95)) if rng.random() < 0.6 else None)
