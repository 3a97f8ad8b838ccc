"""Does `predict` find a digit in a frame cut down to its ink, and read it? Run from the source
checkout, with a trained checkpoint to count the digits read correctly (without one, only
refused and found):

    python benchmarks/predict_cropped.py [runs/<run>] [--n 1000] [--seed 0]

N MNIST test digits (drawn with the seed), each cut to the bounding box of its ink and
photographed dark on light by tests/photos.py's cropped_photograph, with no margin at all: the
photo 28 to 320 px high, on one of three kinds of paper in turn (white; grey with a lighting
gradient; grey with a stronger gradient, then a JPEG round trip). The ink covers 12-85% of such
a frame (a third on average), so the paper is not always the image's larger part. Each photo
goes through numpyvit.app.preprocess_digit; the table counts the photos it refuses (no ink found), the ones
it finds, and those the model then classifies correctly (a refused photo counts as a mistake),
per paper and per share of the frame the ink covers. The reference is the same digits on the
same paper at the same height with MNIST's own margin (the whole 28 x 28 frame photographed).
To measure another version of the preprocessing, put its package first on the path:
PYTHONPATH=<checkout> python benchmarks/predict_cropped.py ...; the first line names the
package that was imported.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from photos import cropped_photograph, photograph  # noqa: E402

import numpyvit  # noqa: E402
from numpyvit.app.preprocess import ImageError, preprocess_digit  # noqa: E402
from numpyvit.data.mnist import load_mnist  # noqa: E402
from numpyvit.data.prepare import normalize  # noqa: E402

PAPERS = {   # name: photograph() arguments (the first two as in tests/test_preprocess.py's CROPPED)
    "white paper": dict(paper=(245, 250), ink=20, noise=2),
    "grey paper, lighting gradient": dict(paper=(150, 200), ink=40, noise=6),
    "stronger gradient, JPEG 70": dict(paper=(120, 210), ink=40, noise=6, jpeg=70),
}
HEIGHTS = (28, 320)          # the photo's height in px, drawn uniformly in this range
INK_SHARES = [(0.0, 0.3), (0.3, 0.7), (0.7, 1.01)]   # the ink's share of the cropped frame


def read_all(images):
    """preprocess_digit on each image: ((n, 28, 28) uint8 with zeros where refused, found (n,) bool)."""
    seen = np.zeros((len(images), 28, 28), np.uint8)
    found = np.ones(len(images), bool)
    for i, im in enumerate(images):
        try:
            seen[i] = preprocess_digit(im)
        except ImageError:
            found[i] = False
    return seen, found


def classify(checkpoint, seen):
    """The model's class for each (28, 28) digit: (n,) int."""
    from numpyvit.training.checkpoint import load_model
    model = load_model(checkpoint)
    return np.concatenate([model.forward(normalize(seen[i:i + 250])).argmax(1)
                           for i in range(0, len(seen), 250)])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", nargs="?", help="a run folder or .npz: also count correct classes")
    parser.add_argument("--n", type=int, default=1000, help="MNIST test digits")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"preprocess_digit from {Path(numpyvit.__file__).parent}")
    rng = np.random.default_rng(args.seed)
    _, _, x_test, y_test = load_mnist(verbose=False)
    idx = rng.choice(len(x_test), args.n, replace=False)
    labels = y_test[idx]
    paper = np.arange(args.n) % len(PAPERS)                       # (n,) which paper, in turn
    heights = rng.integers(HEIGHTS[0], HEIGHTS[1] + 1, args.n)    # (n,)
    cropped, share, margin = [], np.zeros(args.n), []
    for j, i in enumerate(idx):
        kind = PAPERS[list(PAPERS)[paper[j]]]
        photo, share[j] = cropped_photograph(x_test[i], rng, int(heights[j]), **kind)
        cropped.append(photo)
        h = int(heights[j])
        margin.append(photograph(x_test[i], rng, shape=(h, h), height=h, **kind))

    rows = [("all", np.ones(args.n, bool))]
    rows += [(name, paper == k) for k, name in enumerate(PAPERS)]
    rows += [(f"ink {lo:.0%}-{min(hi, 1):.0%} of the cropped frame", (share >= lo) & (share < hi))
             for lo, hi in INK_SHARES]
    sets = [("cropped to the ink", cropped), ("with MNIST's margin (reference)", margin)]
    for title, images in sets:
        seen, found = read_all(images)
        right = classify(args.checkpoint, seen) == labels if args.checkpoint else None
        print(f"\n{title}: {args.n} MNIST test digits, seed {args.seed}")
        print(f"{'':<34} {'n':>5} {'refused':>8} {'found':>8}" + (f" {'correct':>8}" if args.checkpoint else ""))
        for name, sel in rows:
            line = f"{name:<34} {sel.sum():>5} {np.sum(sel & ~found):>8} {np.sum(sel & found):>8}"
            if args.checkpoint:
                ok = right & found
                line += f" {ok[sel].sum():>8} ({ok[sel].mean():.1%})" if sel.any() else ""
            print(line)


if __name__ == "__main__":
    main()
