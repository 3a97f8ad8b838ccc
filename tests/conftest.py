import numpy as np
import pytest

from numpyvit import ViTConfig, VisionTransformer
from numpyvit.gradcheck import random_point


def pytest_addoption(parser):
    # tests/test_student_path.py: every notebook run once in its normal mode, as a student runs them
    parser.addoption("--student", action="store_true", default=False,
                     help="run the student path: every notebook, in order, not fast, not strict "
                          "(minutes; also on with NUMPYVIT_STUDENT_PATH=1)")


def pytest_configure(config):
    config.addinivalue_line("markers", "student_path: the notebooks run as a student runs them "
                                       "(skipped unless --student or NUMPYVIT_STUDENT_PATH=1)")


def tiny_config(**overrides):
    """The tiny ViT of the gradient checks: 8x8 images, patch 4, dim 8, depth 2, heads 2, 3 classes."""
    fields = dict(image_size=8, patch_size=4, in_channels=1, num_classes=3, dim=8, depth=2,
                  heads=2, mlp_dim=16)
    fields.update(overrides)
    return ViTConfig(**fields)


# float64 parity with PyTorch: the largest difference allowed, relative to the array's scale
PARITY_TOL = 1e-10


def rel_diff(a, b):
    """max |a - b| over the array, relative to max |b|: one number for the whole array."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def tiny_model():
    return random_point(VisionTransformer(tiny_config(), seed=0, dtype=np.float64))
