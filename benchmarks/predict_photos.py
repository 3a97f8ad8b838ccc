"""How well does `predict` read photographed and drawn digits, before and after MNIST-style
preprocessing, and how fast does the page's server answer? Run from the source checkout with a
trained checkpoint:

    python benchmarks/predict_photos.py runs/<run> [--n 200] [--requests 50]

Two sets, built by tests/photos.py: MNIST test digits "photographed" (put on grey paper with
a lighting gradient, noise, off-centre, rotated, various sizes, some JPEG; a quarter light
ink on dark), and pen-stroke drawings (white on black like the page's canvas, drawn small
and off-centre on a 280 x 280 canvas). "Before" is the old way: the whole image resized to
28 x 28 and inverted when its border is light; "after" is numpyvit.app.preprocess_digit.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from photos import pen_digit, random_photograph  # noqa: E402

from numpyvit.app.preprocess import preprocess_digit  # noqa: E402
from numpyvit.layers.attention import softmax  # noqa: E402
from numpyvit.training.checkpoint import load_model  # noqa: E402
from numpyvit.data.prepare import normalize  # noqa: E402
from numpyvit.data.mnist import load_mnist  # noqa: E402


def resize_whole(image):
    """The old read_digit: resize the whole image to 28 x 28, invert a light border."""
    from PIL import Image
    x = np.asarray(Image.fromarray(image).resize((28, 28), Image.BILINEAR), dtype=np.uint8)
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    return 255 - x if border.mean() > 127 else x


def accuracy(model, images, labels, prepare):
    x = np.stack([prepare(im) for im in images])
    probs = softmax(model.forward(normalize(x)))
    return float(np.mean(probs.argmax(1) == labels))


def small_drawing(label, rng):
    """A pen drawing occupying a random 40-70% of the canvas, somewhere off-centre."""
    from PIL import Image
    full = Image.fromarray(pen_digit(label, rng))
    side = int(280 * rng.uniform(0.4, 0.7))
    canvas = np.zeros((280, 280), np.uint8)
    top, left = rng.integers(0, 280 - side, size=2)
    canvas[top:top + side, left:left + side] = np.asarray(full.resize((side, side), Image.BILINEAR))
    return canvas


def time_requests(checkpoint, images, requests):
    """Median and quartiles of the wall time of POST /api/predict, as a client sees it (JSON
    encoding, HTTP on localhost, preprocessing, forward pass, JSON decoding), in ms."""
    import http.client
    import json
    import threading
    import time
    from numpyvit.app.server import load_reader, make_server
    server = make_server(load_reader(checkpoint), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    times = []
    try:
        for i in range(requests):
            body = json.dumps({"pixels": images[i % len(images)].tolist()})
            t0 = time.perf_counter()
            conn = http.client.HTTPConnection(*server.server_address[:2])
            conn.request("POST", "/api/predict", body=body)
            answer = conn.getresponse()
            json.loads(answer.read())
            conn.close()
            times.append(1000 * (time.perf_counter() - t0))
            assert answer.status == 200
    finally:
        server.shutdown()
        server.server_close()
    return np.percentile(times, [50, 25, 75])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("--n", type=int, default=200, help="images per set")
    parser.add_argument("--requests", type=int, default=50, help="timed POST /api/predict requests")
    args = parser.parse_args()
    model = load_model(args.checkpoint)
    rng = np.random.default_rng(0)
    _, _, x_test, y_test = load_mnist(verbose=False)
    idx = rng.choice(len(x_test), args.n, replace=False)
    photos = [random_photograph(x_test[i], rng) for i in idx]
    drawn_labels = np.arange(args.n) % 10
    drawings = [small_drawing(int(k), rng) for k in drawn_labels]
    print(f"{'set':<32} {'n':>4} {'before':>8} {'after':>8}")
    for name, images, labels in [("MNIST test digits, photographed", photos, y_test[idx]),
                                 ("pen drawings, off-centre", drawings, drawn_labels)]:
        before = accuracy(model, images, labels, resize_whole)
        after = accuracy(model, images, labels, preprocess_digit)
        print(f"{name:<32} {len(images):>4} {before:>8.1%} {after:>8.1%}")
    print(f"{'MNIST test digits as they are':<32} {args.n:>4} {'':>8} "
          f"{accuracy(model, x_test[idx], y_test[idx], lambda d: d):>8.1%}  (no preprocessing: the reference)")

    from PIL import Image
    # what the page sends: the 280 x 280 canvas at half resolution
    canvases = [np.asarray(Image.fromarray(d).resize((140, 140), Image.BILINEAR)) for d in drawings]
    for name, images in [("140x140 canvas drawings", canvases), ("photos (160-480 px a side)", photos)]:
        median, q1, q3 = time_requests(args.checkpoint, images, args.requests)
        print(f"POST /api/predict, {name}: median {median:.1f} ms (quartiles {q1:.1f}-{q3:.1f}) "
              f"over {args.requests} requests")


if __name__ == "__main__":
    main()
