"""Synthetic product photos, for the garment preprocessing tests (no network needed).

A garment is a filled silhouette (a T-shirt, trousers, a bag) with a striped texture, placed
on a plain studio backdrop the way Zalando's product photos are shot: any size, off-centre,
with sensor noise, on a light backdrop (dark product) or a dark one (light product).
"""
import numpy as np

# Silhouettes as polygons in a unit box (x right, y down).
SILHOUETTES = {
    "tshirt": [(0.30, 0.0), (0.70, 0.0), (1.0, 0.22), (0.88, 0.40), (0.76, 0.32), (0.76, 1.0),
               (0.24, 1.0), (0.24, 0.32), (0.12, 0.40), (0.0, 0.22)],
    "trousers": [(0.15, 0.0), (0.85, 0.0), (1.0, 1.0), (0.58, 1.0), (0.5, 0.3), (0.42, 1.0), (0.0, 1.0)],
    "bag": [(0.0, 0.35), (1.0, 0.35), (0.95, 1.0), (0.05, 1.0)],
}
ASPECT = {"tshirt": 1.0, "trousers": 0.45, "bag": 1.3}    # width / height of each silhouette


def silhouette(kind, height):
    """(height, width) float64 mask in 0..1 of one garment, anti-aliased by 4x supersampling."""
    from PIL import Image, ImageDraw
    width = max(1, round(height * ASPECT[kind]))
    big = Image.new("L", (4 * width, 4 * height), 0)
    ImageDraw.Draw(big).polygon([(x * (4 * width - 1), y * (4 * height - 1)) for x, y in SILHOUETTES[kind]],
                                fill=255)
    return np.asarray(big.resize((width, height), Image.BOX), dtype=np.float64) / 255.0


def garment_photo(kind, rng, shape=(300, 320), height=200, centre=(0.5, 0.5), backdrop=245, tone=60,
                  stripes=30, light_backdrop=True, noise=2.0):
    """A photo (shape) uint8 of garment `kind`, `height` px tall, its centre at `centre`
    (fractions of the photo). On a light backdrop the product is dark: brightness `tone`, with
    stripes `stripes` brighter every few rows; light_backdrop=False swaps both (255 - v).
    Gaussian noise of std `noise`."""
    m = silhouette(kind, height)                                  # (h, w) in 0..1
    h, w = m.shape
    H, W = shape
    if h > H or w > W:
        raise ValueError(f"garment_photo: the garment ({h} x {w} px) does not fit in {shape}")
    top = int(np.clip(round(centre[0] * H - h / 2), 0, H - h))
    left = int(np.clip(round(centre[1] * W - w / 2), 0, W - w))
    cloth = tone + stripes * ((np.arange(h) // max(1, h // 12)) % 2)[:, None] * np.ones((1, w))
    img = np.full(shape, float(backdrop))
    img[top:top + h, left:left + w] = backdrop * (1 - m) + cloth * m
    if not light_backdrop:
        img = 255 - img
    img = img + rng.normal(0, noise, shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
