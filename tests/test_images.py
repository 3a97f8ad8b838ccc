"""numpyvit.images.check_images: the one check of an image batch, and that it catches each mistake."""
import numpy as np
import pytest

from numpyvit.images import check_images


def test_a_batch_in_either_layout_comes_back_as_a_bchw_view():
    x = np.zeros((5, 28, 28), np.uint8)
    out = check_images(x, channels=1, size=28)
    assert out.shape == (5, 1, 28, 28) and np.shares_memory(out, x)
    y = np.zeros((2, 3, 8, 8), np.float32)
    assert check_images(y, channels=3, size=8, floats=True, channel_axis="required") is y


@pytest.mark.parametrize("images, kwargs, error, message", [
    ([[0, 1]], {}, TypeError, r"images must be a NumPy array, got list"),
    (np.zeros((28, 28)), {}, ValueError, r"images.shape=\(28, 28\), expected shape \(B, H, W\) or \(B, C, H, W\)"),
    (np.zeros((2, 3, 8, 8)), {"channels": 1}, ValueError, r"images.shape=\(2, 3, 8, 8\), expected shape .*\(B, 1, H, W\)"),
    (np.zeros((2, 1, 9, 9)), {"size": 8}, ValueError, r"expected shape \(B, 8, 8\) or \(B, C, 8, 8\)"),
    (np.zeros((2, 8, 8)), {"channel_axis": "required"}, ValueError, r"expected shape \(B, C, H, W\)"),
    (np.zeros((2, 1, 8, 8), np.uint8), {"floats": True}, ValueError, r"dtype uint8; the model needs floats"),
    (np.zeros((2, 8, 8), bool), {}, ValueError, r"images.dtype=bool, expected an integer or float dtype"),
])
def test_each_wrong_batch_is_refused_naming_what_it_got_and_what_was_expected(images, kwargs, error, message):
    with pytest.raises(error, match=message):
        check_images(images, **kwargs)


def test_the_name_given_is_the_name_in_the_error():
    with pytest.raises(ValueError, match=r"^normalize: images.shape=\(4,\)"):
        check_images(np.zeros(4), "normalize: images")
