"""How well does `predict` read product photos, before and after Fashion-MNIST-style
preprocessing? Run from the source checkout with a checkpoint trained on Fashion-MNIST:

    python benchmarks/predict_garments.py runs/<run> [--n 500] [--json docs/figures/garment_photos.json] \
        [--figure docs/figures/garment_photos.png]

The photos are Fashion-MNIST test images turned back into product photos: negated to a dark
product on a light backdrop (a quarter stay light on a dark one), enlarged to 120-400 px,
framed off-centre in 20-200 px of backdrop, with sensor noise. "Before" resizes the whole photo
to 28 x 28 and inverts a light border; "after" is numpyvit.app.preprocess_garment; the
reference is the test images as they are.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from numpyvit.app.preprocess import preprocess_garment, side_by_side  # noqa: E402
from numpyvit.data.datasets import DATASETS, load_dataset             # noqa: E402
from numpyvit.data.prepare import normalize                           # noqa: E402
from numpyvit.layers.attention import softmax                         # noqa: E402
from numpyvit.training.checkpoint import load_checkpoint, load_model, trained_on  # noqa: E402


def product_photo(image, rng):
    """A (28, 28) Fashion-MNIST image as a product photo (H, W) uint8."""
    from PIL import Image
    side = int(rng.integers(120, 400))
    big = np.asarray(Image.fromarray(255 - image).resize((side, side), Image.BICUBIC), dtype=np.float64)
    backdrop = rng.uniform(230, 255)
    big = backdrop - (255 - big) * (backdrop / 255)                   # the product on this backdrop
    pads = rng.integers(20, 200, size=4)
    photo = np.pad(big, ((pads[0], pads[1]), (pads[2], pads[3])), constant_values=backdrop)
    photo = photo + rng.normal(0, rng.uniform(1, 3), photo.shape)
    if rng.random() < 0.25:                                           # a light product on black
        photo = 255 - photo
    return np.clip(np.rint(photo), 0, 255).astype(np.uint8)


def resize_whole(image):
    """The naive way: the whole photo resized to 28 x 28, inverted when its border is light."""
    from PIL import Image
    x = np.asarray(Image.fromarray(image).resize((28, 28), Image.LANCZOS), dtype=np.uint8)
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    return 255 - x if border.mean() > 127 else x


def accuracy(model, images, labels, prepare):
    x = np.stack([prepare(im) for im in images])
    probs = softmax(model.forward(normalize(x, "fashion-mnist")))
    return float(np.mean(probs.argmax(1) == labels))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("--n", type=int, default=500, help="photos")
    parser.add_argument("--json", help="write the accuracies here")
    parser.add_argument("--figure", help="draw a few photos beside what the model saw, before and after")
    args = parser.parse_args()
    if trained_on(load_checkpoint(args.checkpoint)) != "fashion-mnist":
        raise SystemExit(f"{args.checkpoint} was not trained on Fashion-MNIST")
    model = load_model(args.checkpoint)
    rng = np.random.default_rng(0)
    _, _, x_test, y_test = load_dataset("fashion-mnist", verbose=False)
    idx = rng.choice(len(x_test), args.n, replace=False)
    photos = [product_photo(x_test[i], rng) for i in idx]
    labels = y_test[idx]
    result = {"n": args.n, "before": accuracy(model, photos, labels, resize_whole),
              "after": accuracy(model, photos, labels, preprocess_garment),
              "reference": accuracy(model, x_test[idx], labels, lambda d: d)}
    print(f"{args.n} product photos: before {result['before']:.1%}, after {result['after']:.1%}; "
          f"the same test images as they are: {result['reference']:.1%}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    if args.figure:
        from PIL import Image, ImageDraw
        rows = []
        for photo, label in list(zip(photos, labels))[:4]:
            pair = side_by_side(photo, preprocess_garment(photo), height=140, gap=10)
            naive = Image.fromarray(resize_whole(photo)).resize((140, 140), Image.NEAREST).convert("RGB")
            row = Image.new("RGB", (pair.width + 150, 160), (255, 255, 255))
            row.paste(pair, (0, 20))
            row.paste(naive, (pair.width + 10, 20))
            ImageDraw.Draw(row).text((0, 2), f"{DATASETS['fashion-mnist'].classes[label]}: photo | "
                                             f"preprocess_garment | whole photo resized", fill=(0, 0, 0))
            rows.append(row)
        sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), (255, 255, 255))
        y = 0
        for row in rows:
            sheet.paste(row, (0, y))
            y += row.height
        sheet.save(args.figure)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
