"""MNIST-style preprocessing of user images: the geometry MNIST was made with, on drawings and
synthetic photographs (tests/photos.py), and the errors for images that hold no digit."""
import numpy as np
import pytest
from photos import cropped_photograph, pen_digit, photograph

from numpyvit.app.preprocess import ImageError, preprocess_digit, read_image
from numpyvit.cli import main
from numpyvit.layers.attention import softmax
from numpyvit.layers.loss import SoftmaxCrossEntropy
from numpyvit.models.vit import ViTConfig, VisionTransformer
from numpyvit.data.augment import random_affine
from numpyvit.data.prepare import normalize
from numpyvit.training.optim import AdamW

CENTRE = 13.5      # the centre of a 28 x 28 frame in pixel coordinates 0..27


def geometry(digit):
    """(bounding box height, width, centre of mass (y, x)) of a 28 x 28 digit."""
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    m = digit.astype(np.float64)
    cy = m.sum(axis=1) @ np.arange(28) / m.sum()
    cx = m.sum(axis=0) @ np.arange(28) / m.sum()
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1, (cy, cx)


def assert_mnist_geometry(digit):
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    h, w, (cy, cx) = geometry(digit)
    assert max(h, w) == 20, f"bounding box {h}x{w}, expected the longer side 20 px"
    assert abs(cy - CENTRE) <= 1 and abs(cx - CENTRE) <= 1, f"centre of mass ({cy:.2f}, {cx:.2f})"
    # background exactly 0: no pixel more than 2 px from strong ink is lit (paper noise would be)...
    strong = np.pad(digit >= 128, 2)
    near_ink = np.zeros((28, 28), bool)
    for dy in range(5):
        for dx in range(5):
            near_ink |= strong[dy:dy + 28, dx:dx + 28]
    stray = (digit > 0) & ~near_ink
    assert not stray.any(), f"{stray.sum()} lit pixels away from the ink"
    # ...most of the frame is empty (MNIST: ~80% zeros), and the ink is at full strength
    assert np.mean(digit == 0) > 0.5 and digit.max() >= 250


PHOTOS = {   # name: photograph() arguments
    "dark ink on white paper": dict(paper=(245, 250), ink=20, noise=2),
    "light ink on a dark board": dict(dark_ink=False, paper=(200, 215), ink=30, noise=4),
    "grey paper, lighting gradient, noise": dict(paper=(110, 190), ink=35, noise=8),
    "off-centre, small": dict(height=60, centre=(0.25, 0.8)),
    "large, near the edge": dict(height=220, centre=(0.5, 0.62)),
    "rotated 15 degrees": dict(angle=15),
    "JPEG quality 50": dict(jpeg=50, noise=5),
    "everything at once": dict(height=80, centre=(0.7, 0.3), angle=-10, paper=(100, 170),
                               ink=45, noise=9, jpeg=60),
}


@pytest.fixture(scope="module")
def drawings():
    rng = np.random.default_rng(0)
    return {k: pen_digit(k, rng) for k in range(10)}


@pytest.mark.parametrize("name", list(PHOTOS))
def test_a_photographed_digit_gets_mnist_geometry(name, drawings):
    rng = np.random.default_rng(1)
    for label in (1, 3, 4, 7, 8):      # tall and thin, round, open, diagonal
        digit = preprocess_digit(photograph(drawings[label], rng, **PHOTOS[name]))
        assert_mnist_geometry(digit)


def test_a_canvas_drawing_gets_mnist_geometry_and_keeps_its_aspect(drawings):
    for label, drawing in drawings.items():
        assert_mnist_geometry(preprocess_digit(drawing))
    one = preprocess_digit(drawings[1])
    h, w, _ = geometry(one)
    assert h == 20 and w < 14            # a 1 stays narrow: the box is not stretched to a square


def test_resizing_the_whole_photo_fails_the_geometry_check(drawings):
    """The check can fail: the old way (whole photo to 28 x 28, inverted) leaves a small,
    off-centre digit on grey."""
    from PIL import Image
    photo = photograph(drawings[3], np.random.default_rng(0), **PHOTOS["off-centre, small"])
    old = 255 - np.asarray(Image.fromarray(photo).resize((28, 28), Image.BILINEAR))
    with pytest.raises(AssertionError):
        assert_mnist_geometry(old)


def test_scale_and_polarity_of_the_input_do_not_matter(drawings):
    d = drawings[5]
    expected = preprocess_digit(d)
    assert np.array_equal(preprocess_digit(d.astype(np.float64) / 255), expected)   # float 0..1
    # dark on light gives the same digit up to rounding
    assert np.abs(preprocess_digit(255 - d).astype(int) - expected).max() <= 1


def test_an_mnist_like_digit_comes_back_nearly_unchanged(drawings):
    once = preprocess_digit(drawings[2])
    twice = preprocess_digit(once)
    assert_mnist_geometry(twice)
    assert np.corrcoef(once.ravel(), twice.ravel())[0, 1] > 0.95


@pytest.fixture(scope="module")
def pen_model():
    """A tiny ViT trained for a few seconds on clean drawings (ten of each digit), preprocessed."""
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(10), 10)                                             # (100,)
    clean = np.stack([preprocess_digit(pen_digit(int(k), rng)) for k in labels])   # (100, 28, 28)
    model = VisionTransformer(ViTConfig(dim=32, depth=2, heads=2, mlp_dim=64), seed=0)
    loss_fn, opt = SoftmaxCrossEntropy(), AdamW(model, lr=3e-3, weight_decay=0.0)
    for step in range(150):
        idx = rng.choice(len(labels), 64)
        xb = random_affine(clean[idx], rng, max_rotation_deg=10, max_scale=0.1)
        loss_fn.forward(model.forward(normalize(xb)), labels[idx])
        model.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    return model.eval()


def predict(model, images):
    return softmax(model.forward(normalize(np.stack([preprocess_digit(im) for im in images])))).argmax(1)


def test_a_model_reads_photographs_as_it_reads_the_drawings(pen_model):
    rng = np.random.default_rng(7)
    labels = np.arange(30) % 10
    drawn = [pen_digit(int(k), rng) for k in labels]
    assert np.mean(predict(pen_model, drawn) == labels) >= 0.9       # the model learned the drawings
    photos = [photograph(d, rng, **PHOTOS[list(PHOTOS)[i % len(PHOTOS)]]) for i, d in enumerate(drawn)]
    agree = np.mean(predict(pen_model, photos) == predict(pen_model, drawn))
    assert agree >= 0.9, f"predictions agree on {agree:.0%} of the photographs"


# --- a digit cropped to its ink: the paper can be the smaller part of the frame -------------
CROPPED = {   # name: photograph() arguments for a frame cut down to the digit's bounding box
    "white paper": dict(paper=(245, 250), ink=20, noise=2),
    "grey paper, lighting gradient": dict(paper=(150, 200), ink=40, noise=6),
    "JPEG quality 70": dict(paper=(160, 200), ink=40, noise=6, jpeg=70),
}
CROP_HEIGHTS = (28, 60, 150, 300)     # the cropped photo's height in pixels


def shifted_correlation(a, b):
    """The best correlation of two (28, 28) digits over shifts of up to one pixel each way:
    the centring moves a digit by whole pixels, so one digit read twice can land a pixel apart."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return max(np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b.ravel())[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


@pytest.fixture(scope="module")
def mnist_like(drawings):
    """The drawings prepared as MNIST digits: 20 px, anti-aliased strokes, as MNIST's are."""
    return {k: preprocess_digit(d) for k, d in drawings.items()}


@pytest.mark.parametrize("name", list(CROPPED))
def test_a_digit_cropped_to_its_ink_is_found_and_reads_as_it_does_with_a_margin(name, mnist_like):
    """The frame is the digit's bounding box, dark ink on paper: the ink covers 30-50% of it,
    so the paper's level is not the image's median. The digit must come out as the same
    digit photographed with MNIST's margin does. (Not the upright 1: cropped, its stroke is
    the frame's whole right side, and the border no longer tells paper from ink.)"""
    rng = np.random.default_rng(2)
    covered = []
    for label, digit in mnist_like.items():
        if label == 1:
            continue
        with_margin = preprocess_digit(255 - digit)
        for height in CROP_HEIGHTS:
            photo, ink = cropped_photograph(digit, rng, height, **CROPPED[name])
            covered.append(ink)
            seen = preprocess_digit(photo)
            assert_mnist_geometry(seen)
            r = shifted_correlation(seen, with_margin)
            assert r > 0.8, f"a {label} cropped to {height} px reads unlike the same digit with a margin (r={r:.2f})"
    assert min(covered) >= 0.25 and np.mean(covered) >= 0.35      # the premise: the ink fills the frame


def test_a_thick_marker_digit_cropped_to_its_ink_is_found():
    """A marker's strokes cover up to three quarters of a tight frame: more ink than paper."""
    rng = np.random.default_rng(4)
    covered = []
    for label in range(10):
        drawing = pen_digit(label, rng, width=60)                 # a 280 px canvas, a 60 px marker
        with_margin = preprocess_digit(drawing)
        for height in (60, 150, 300):
            photo, ink = cropped_photograph(drawing, rng, height, **CROPPED["grey paper, lighting gradient"])
            covered.append(ink)
            seen = preprocess_digit(photo)
            assert_mnist_geometry(seen)
            r = shifted_correlation(seen, with_margin)
            assert r > 0.8, f"a marker {label} cropped to {height} px reads unlike its drawing (r={r:.2f})"
    assert max(covered) > 0.6 and np.mean(covered) > 0.5


def test_a_model_reads_cropped_digits_as_it_reads_them_with_a_margin(pen_model, mnist_like):
    rng = np.random.default_rng(8)
    labels = np.array([k for k in (0, 2, 3, 4, 5, 6, 7, 8, 9) for _ in CROPPED])     # not the upright 1
    with_margin = [255 - mnist_like[int(k)] for k in labels]
    cropped = [cropped_photograph(mnist_like[int(k)], rng, CROP_HEIGHTS[i % len(CROP_HEIGHTS)],
                                  **CROPPED[list(CROPPED)[i % len(CROPPED)]])[0] for i, k in enumerate(labels)]
    assert np.mean(predict(pen_model, with_margin) == labels) >= 0.9
    agree = np.mean(predict(pen_model, cropped) == predict(pen_model, with_margin))
    assert agree >= 0.9, f"predictions agree on {agree:.0%} of the cropped digits"


@pytest.mark.parametrize("image,message", [
    (np.zeros((50, 50), np.uint8), "no ink"),
    (np.full((50, 50), 0.7), "no ink"),
    (np.clip(np.random.default_rng(0).normal(180, 6, (120, 160)), 0, 255).astype(np.uint8), "no ink"),
    (np.zeros((0, 5)), "empty"),
    (np.zeros((4, 4, 3)), "2-D"),
    (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
    (np.array([["a", "b"]]), "dtype"),
])
def test_images_without_a_digit_are_refused_by_name(image, message):
    with pytest.raises(ImageError, match=message):
        preprocess_digit(image)


def test_a_blank_photo_with_a_lighting_gradient_has_no_ink():
    rng = np.random.default_rng(3)
    rr = np.mgrid[0:200, 0:300][1] / 300
    page = np.clip(120 + 80 * rr + rng.normal(0, 4, (200, 300)), 0, 255).astype(np.uint8)
    with pytest.raises(ImageError, match="no ink"):
        preprocess_digit(page)


def jpeg_round_trip(image, quality):
    import io
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


@pytest.mark.parametrize("seed", [0, 5])
def test_a_page_that_varies_by_a_grey_level_or_two_has_no_ink(seed):
    """Half a grey level of noise through a JPEG: the pixels take 3 values, most of the paper
    one of them, so its spread (MAD) is 0. The paper's noise is taken as at least one grey
    level, and a difference of 2 is not ink. (The median of the whole image took both seeds'
    pages for ink.)"""
    rng = np.random.default_rng(seed)
    page = jpeg_round_trip(np.rint(200 + rng.normal(0, 0.5, (120, 160))).astype(np.uint8), 80)
    assert page.max() - page.min() == 2
    for image in (page, page / 255.0):                           # the same page on either scale
        with pytest.raises(ImageError, match="no ink"):
            preprocess_digit(image)


def test_a_blank_page_with_a_vignette_has_no_ink():
    """The corners 40 grey levels darker than the centre: not a plane, so the fit leaves a bowl
    that Otsu cuts in two. The bowl's halves change slowly, by far less than 4 times the
    paper's spread; pixel-to-pixel differences, which see only the sensor noise, would call
    the bright centre ink."""
    rng = np.random.default_rng(6)
    rr, cc = np.mgrid[0:240, 0:320]
    r2 = ((rr - 120) / 240) ** 2 + ((cc - 160) / 320) ** 2                 # (240, 320)
    page = np.clip(np.rint(200 - 40 * r2 / r2.max() + rng.normal(0, 3, (240, 320))), 0, 255)
    with pytest.raises(ImageError, match="no ink"):
        preprocess_digit(page.astype(np.uint8))


def test_read_image_lays_transparency_on_contrasting_paper(tmp_path):
    from PIL import Image
    rgba = np.zeros((60, 60, 4), np.uint8)              # transparent black everywhere...
    rgba[10:50, 28:33] = (0, 0, 0, 255)                 # ...and an opaque black stroke
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    grey = read_image(tmp_path / "t.png")
    assert grey[0, 0] == 255 and grey[30, 30] == 0      # black ink on white, not black on black
    assert_mnist_geometry(preprocess_digit(grey))


def test_read_image_names_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ImageError, match="cannot read image"):
        read_image(tmp_path / "bad.png")


def test_predict_show_writes_the_original_beside_what_the_model_saw(tmp_path, capsys, drawings):
    from PIL import Image
    from numpyvit.training.checkpoint import save_checkpoint
    ckpt = save_checkpoint(tmp_path / "m.npz", VisionTransformer(ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32)))
    Image.fromarray(photograph(drawings[4], np.random.default_rng(0))).save(tmp_path / "four.jpg")
    Image.fromarray(np.full((40, 40), 200, np.uint8)).save(tmp_path / "blank.png")
    assert main(["predict", str(ckpt), str(tmp_path / "four.jpg"), "--show", str(tmp_path / "seen")]) == 0
    out = capsys.readouterr().out
    assert "four.jpg:" in out
    (shown,) = (tmp_path / "seen").iterdir()
    with Image.open(shown) as im:
        assert im.height == 280 and im.width > 280 + 280   # 320x240 photo at height 280, gap, 280
    assert main(["predict", str(ckpt), str(tmp_path / "blank.png")]) == 2
    err = capsys.readouterr().err
    assert "blank.png" in err and "no ink" in err and len(err.strip().splitlines()) == 1


def test_predict_classifies_every_image_it_can_read_and_names_each_it_cannot(tmp_path, capsys, drawings):
    from PIL import Image
    from numpyvit.training.checkpoint import save_checkpoint
    ckpt = save_checkpoint(tmp_path / "m.npz", VisionTransformer(ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32)))
    for name, digit in (("four.png", 4), ("seven.png", 7)):
        Image.fromarray(photograph(drawings[digit], np.random.default_rng(digit))).save(tmp_path / name)
    Image.fromarray(np.full((40, 40), 200, np.uint8)).save(tmp_path / "blank.png")
    files = [str(tmp_path / n) for n in ("four.png", "blank.png", "missing.png", "seven.png")]
    assert main(["predict", str(ckpt), *files, "--show", str(tmp_path / "seen")]) == 2
    out, err = capsys.readouterr()
    assert [line.split(":")[0] for line in out.splitlines()[:2]] == [files[0], files[3]]
    assert len(list((tmp_path / "seen").iterdir())) == 2
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "blank.png" in lines[0] and "no ink" in lines[0]
    assert "missing.png" in lines[1] and "does not exist" in lines[1]
    assert all(line.startswith("numpyvit predict: error: ") for line in lines)


def test_predict_reads_a_cropped_photo_and_reports_every_failure_when_none_can_be_read(tmp_path, capsys, mnist_like):
    from PIL import Image
    from numpyvit.training.checkpoint import save_checkpoint
    ckpt = save_checkpoint(tmp_path / "m.npz", VisionTransformer(ViTConfig(dim=16, depth=1, heads=2, mlp_dim=32)))
    photo, _ = cropped_photograph(mnist_like[3], np.random.default_rng(0), 150, **CROPPED["white paper"])
    Image.fromarray(photo).save(tmp_path / "three.png")
    assert main(["predict", str(ckpt), str(tmp_path / "three.png")]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'three.png'}: ")
    Image.fromarray(np.full((40, 40), 200, np.uint8)).save(tmp_path / "blank.png")
    (tmp_path / "notes.png").write_text("not an image")
    files = [str(tmp_path / n) for n in ("blank.png", "notes.png", "gone.png")]
    assert main(["predict", str(ckpt), *files]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert [next(n for n in ("blank", "notes", "gone") if n in line) for line in lines] == ["blank", "notes", "gone"]
    assert "no ink" in lines[0] and "cannot read image" in lines[1] and "does not exist" in lines[2]
