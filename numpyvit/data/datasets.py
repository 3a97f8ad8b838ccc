"""The datasets numpyvit trains on, by name: their files, classes and pixel statistics.

    x_train, y_train, x_test, y_test = load_dataset("fashion-mnist")
    DATASETS["fashion-mnist"].classes[y_test[0]]          # 'Ankle boot'

Both are 28 x 28 greyscale, 60,000 training and 10,000 test images in 10 classes, stored
as the same four IDX files: MNIST's handwritten digits (LeCun, Cortes & Burges 1998) and
Fashion-MNIST's photos of Zalando's products (Xiao, Rasul & Vollgraf 2017).
"""

from __future__ import annotations

import dataclasses
import functools

from ..errors import UsageError
from . import mnist
from .mnist import Source, data_variable, default_data_dir, load_idx_files


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str                 # as on the command line: --dataset <name>
    title: str                # as in sentences
    classes: tuple            # the label k is the class classes[k]
    mean: float               # mean of the training pixels scaled to [0, 1]
    std: float                # their standard deviation
    kind: str                 # "digits" or "garments": what an input photo shows


# SHA-256 of the decompressed files, as published with the dataset.
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
# The download locations the dataset's README gives.
FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
)
# Debian's package dataset-fashion-mnist installs the gzipped files here; read in place.
FASHION_MNIST_SYSTEM_DIRS = ("/usr/share/datasets/fashion-mnist",)

FASHION_MNIST_SOURCES = [Source(url, functools.partial(mnist._fetch_https, url)) for url in FASHION_MNIST_MIRRORS]

DATASETS = {
    "mnist": Dataset("mnist", "MNIST", tuple(str(k) for k in range(10)), 0.1307, 0.3081, "digits"),
    "fashion-mnist": Dataset("fashion-mnist", "Fashion-MNIST",
                             ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                              "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
                             0.2860, 0.3530, "garments"),
}


def get_dataset(name) -> Dataset:
    """The Dataset called `name` (a Dataset passes through); a UsageError names the choices."""
    if isinstance(name, Dataset):
        return name
    if name not in DATASETS:
        raise UsageError(f"dataset {name!r} is not one numpyvit knows; expected one of {', '.join(DATASETS)}")
    return DATASETS[name]


def load_dataset(name="mnist", data_dir=None, download: bool = True, verbose: bool = True,
                 sources: list[Source] | None = None):
    """Load a dataset by name, fetching and verifying its files first if need be.

    data_dir: the folder of its four IDX files; default default_data_dir(name), one folder
    per dataset. Fashion-MNIST is also read in place from Debian's package
    (FASHION_MNIST_SYSTEM_DIRS) before anything is downloaded.
    Returns x_train uint8 (60000, 28, 28), y_train uint8 (60000,), x_test, y_test.
    """
    dataset = get_dataset(name)
    if dataset.name == "mnist":
        return mnist.load_mnist(data_dir, download=download, verbose=verbose, sources=sources)
    return load_idx_files(dataset.title, dict(FASHION_MNIST_FILES), data_dir or default_data_dir(dataset.name),
                          FASHION_MNIST_SOURCES if sources is None else sources, download, verbose,
                          in_place=FASHION_MNIST_SYSTEM_DIRS, variable=data_variable(dataset.name))
