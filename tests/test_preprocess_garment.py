"""Fashion-MNIST-style preprocessing of product photos: the geometry the dataset was made with
(trimmed, longest edge 28, centred, product light on exactly 0), on synthetic product photos
(tests/garments.py) and on the dataset's own images turned back into photos."""
from pathlib import Path

import numpy as np
import pytest
from garments import garment_photo

from numpyvit.app.preprocess import ImageError, preprocess_garment

FASHION = Path("/usr/share/datasets/fashion-mnist")


def assert_fashion_geometry(image, size=28):
    """What every Fashion-MNIST image is: backdrop exactly 0, the product's longer side the
    whole frame, its shorter side centred (margins differ by at most one pixel), a full-
    strength brightest pixel."""
    assert image.shape == (size, size) and image.dtype == np.uint8
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert max(h, w) == size, f"the product spans {h} x {w} px, not the whole frame"
    for first, last in ((rows[0], rows[-1]), (cols[0], cols[-1])):
        assert abs(first - (size - 1 - last)) <= 1, f"margins {first} and {size - 1 - last}: not centred"
    assert image.max() == 255


@pytest.mark.parametrize("kind", ["tshirt", "trousers", "bag"])
@pytest.mark.parametrize("centre", [(0.5, 0.5), (0.3, 0.7)])
def test_a_product_photo_comes_out_as_fashion_mnist_made_its_images(kind, centre):
    photo = garment_photo(kind, np.random.default_rng(0), centre=centre)
    out = preprocess_garment(photo)
    assert_fashion_geometry(out)
    # the dark product became light: the stripes' darker cloth is now the brighter one
    assert out[out > 0].mean() > 128


def test_a_dark_backdrop_is_not_negated():
    rng = np.random.default_rng(1)
    light = preprocess_garment(garment_photo("tshirt", rng, noise=0.0))
    dark = preprocess_garment(garment_photo("tshirt", rng, noise=0.0, light_backdrop=False))
    assert np.abs(light.astype(int) - dark).max() <= 2


def test_the_photos_size_and_margins_do_not_matter():
    rng = np.random.default_rng(2)
    small = preprocess_garment(garment_photo("tshirt", rng, shape=(150, 160), height=100, noise=0.0))
    large = preprocess_garment(garment_photo("tshirt", rng, shape=(900, 700), height=400,
                                             centre=(0.3, 0.6), noise=0.0))
    assert np.abs(small.astype(int) - large).mean() < 8


@pytest.mark.parametrize("image", [np.full((40, 30), 200, np.uint8),
                                   np.random.default_rng(0).normal(200, 1.5, (60, 60))],
                         ids=["flat", "backdrop-noise-only"])
def test_an_image_of_backdrop_alone_is_refused(image):
    with pytest.raises(ImageError, match="no product"):
        preprocess_garment(image)


def test_a_speck_too_small_to_survive_the_resize_is_refused():
    photo = np.full((2000, 2000), 250, np.uint8)
    photo[1000, 1000] = 0                  # one dark pixel: product at full size, gone at 28 px
    with pytest.raises(ImageError, match="no product"):
        preprocess_garment(photo)


def test_a_bad_size_is_refused():
    with pytest.raises(ValueError, match="size=3"):
        preprocess_garment(np.zeros((8, 8)), size=3)


# --- the checker catches what it should --------------------------------------------------------
@pytest.fixture
def good():
    return preprocess_garment(garment_photo("trousers", np.random.default_rng(3)))


@pytest.mark.parametrize("plant", ["shifted", "not trimmed", "dim"])
def test_the_geometry_check_catches_a_planted_bug(good, plant):
    if plant == "shifted":                 # centring forgotten: the product pushed to one side
        bad = np.zeros_like(good)
        cols = np.flatnonzero(good.any(axis=0))
        bad[:, :len(cols)] = good[:, cols]
    elif plant == "not trimmed":           # the backdrop kept: the product does not fill the frame
        from PIL import Image
        bad = np.zeros_like(good)
        bad[4:24, 4:24] = np.asarray(Image.fromarray(good).resize((20, 20), Image.BILINEAR))
    else:                                  # no contrast stretch
        bad = (good // 2).astype(np.uint8)
    assert_fashion_geometry(good)
    with pytest.raises(AssertionError):
        assert_fashion_geometry(bad)


def test_the_negation_check_catches_an_unnegated_image(good):
    photo_like = np.where(good > 0, 255 - good, 0).astype(np.uint8)   # product dark on black
    assert good[good > 0].mean() > 128
    assert not photo_like[photo_like > 0].mean() > 128


# --- the dataset's own images, turned back into photos -----------------------------------------
@pytest.fixture(scope="module")
def fashion_test_images():
    if not (FASHION / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
    from numpyvit.data.datasets import load_dataset
    return load_dataset("fashion-mnist", data_dir=FASHION, verbose=False)[2][:200]


def test_a_dataset_image_negated_back_to_a_photo_comes_back_unchanged(fashion_test_images):
    """255 - x is the photo the dataset's recipe started from at 28 px: preprocessing it must
    give x again, but for the faint pixels within 5% of the backdrop (zeroed) and the 7% of
    images whose product does not reach both edges (enlarged)."""
    errors = np.array([np.abs(preprocess_garment(255 - x).astype(int) - x).mean() for x in fashion_test_images])
    assert np.mean(errors < 1.0) >= 0.85, np.percentile(errors, [50, 90])


def test_a_large_photo_of_a_dataset_image_comes_back_close(fashion_test_images):
    """The same photo enlarged 10x, framed off-centre in backdrop, with noise: preprocessing
    gets much closer to the dataset image than resizing the whole photo would."""
    from PIL import Image
    rng = np.random.default_rng(0)
    ours, naive = [], []
    for x in fashion_test_images[:100]:
        big = np.asarray(Image.fromarray(255 - x).resize((280, 280), Image.BICUBIC), dtype=np.float64)
        big = np.pad(big, ((40, 90), (20, 60)), constant_values=250) + rng.normal(0, 2, (410, 360))
        photo = np.clip(np.rint(big), 0, 255).astype(np.uint8)
        ours.append(np.abs(preprocess_garment(photo).astype(int) - x).mean())
        whole = 255 - np.asarray(Image.fromarray(photo).resize((28, 28), Image.LANCZOS), dtype=int)
        naive.append(np.abs(whole - x).mean())
    assert np.median(ours) < 15 and np.median(ours) < np.median(naive) / 2, (np.median(ours), np.median(naive))
