"""The drawing page's web server: Python's own http.server, the page's files and a JSON API.

    GET  /                 the page (static/index.html); /app.js, /style.css beside it
    GET  /api/info         the model: config, grid side, tokens, layers, heads
    GET  /api/random       a random MNIST test digit {"pixels": 28x28, "label": y}, if MNIST is cached
    POST /api/predict      {"pixels": HxW greyscale 0..255, "query": i, "shift": [dy, dx],
                            "preprocess": true} ->
                           {"probs": [K], "top": k, "input28": SxS, "rollout": gxg,
                            "attention": L x h x N (query token i's attention row), ...}

Every answer is JSON; every bad request gets a 4xx {"error": "..."} that names what was wrong,
and the server goes on serving. Sizes are checked before anything is read or computed: the
body by its Content-Length, the image by its sides.

Shape legend: L layers, h heads, N tokens (patches + class token, token 0 the class token),
g grid side (N = g*g + 1), S the model's image side (28).
"""
import json
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from ..errors import UsageError
from ..insight.analysis import attention_rollout, rollout_map
from ..layers.attention import softmax
from ..data.augment import shift_images
from ..training.checkpoint import load_model
from ..data.prepare import normalize
from .preprocess import ImageError, preprocess_digit

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_SIDE = 1024                     # pixels per side of an uploaded image
MAX_BODY_BYTES = 16 * 1024 * 1024   # a full 1024 x 1024 image at ~15 bytes per value fits
MAX_SHIFT = 8                       # nudging further than this pushes a 20 px digit off the frame
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
                 ".ico": "image/x-icon"}


class RequestError(Exception):
    """A bad request: answered with `status` and {"error": message}."""

    def __init__(self, message, status=HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


# --- the model ----------------------------------------------------------------------------
class DigitReader:
    """A ViT and what the page shows about one image: probabilities, the input, attention.

    The model's forward keeps its activations (and attention weights) on the layers, so two
    requests running it at once would read each other's attention: one lock serialises the
    forward pass and the reading of its attention. Everything else runs in parallel.
    """

    def __init__(self, model, name="model", data_dir=None):
        if getattr(model, "kind", None) != "vit":
            raise UsageError(f"{name}: the app shows a ViT's attention; this checkpoint holds a "
                             f"{getattr(model, 'kind', type(model).__name__)!r} model")
        self.model, self.name, self.data_dir = model.eval(), name, data_dir
        self.size = model.config.image_size
        self.grid = model.patch_embed.grid
        self.tokens = model.patch_embed.num_patches + 1           # N: patches + the class token
        self.lock = threading.Lock()
        self._test_set = None

    def info(self):
        return {"checkpoint": self.name, "config": self.model.config.to_dict(), "image_size": self.size,
                "grid": self.grid, "tokens": self.tokens, "layers": len(self.model.blocks),
                "heads": self.model.config.heads, "class_token": 0, "max_side": MAX_SIDE}

    def read(self, pixels, query=0, shift=(0, 0), preprocess=True):
        """pixels: (H, W) float greyscale -> the /api/predict answer (a JSON-able dict)."""
        if preprocess:
            digit = preprocess_digit(pixels, self.size)           # (S, S) uint8
        else:
            if pixels.shape != (self.size, self.size):
                raise RequestError(f"pixels are {pixels.shape[0]}x{pixels.shape[1]}; without preprocessing "
                                   f"they must already be the model's {self.size}x{self.size}")
            digit = np.rint(pixels).astype(np.uint8)
        dy, dx = shift
        digit = shift_images(digit[None], dy, dx)[0]              # the nudge: (S, S), zeros fill in
        with self.lock:   # forward leaves each block's attention on the block: read it before anyone else runs
            logits = self.model.forward(normalize(digit[None]))   # (1, K)
            att = np.stack([block.attn.att[0] for block in self.model.blocks])   # (L, h, N, N), a copy
        probs = softmax(logits.astype(np.float64))[0]              # (K,)
        rollout = rollout_map(attention_rollout(att), self.grid)   # (g, g)
        return {"probs": _rounded(probs, 5), "top": int(probs.argmax()), "input28": digit.tolist(),
                "rollout": _rounded(rollout, 4), "attention": _rounded(att[:, :, query, :], 4),
                "query": query, "shift": [dy, dx], "grid": self.grid}

    def random_digit(self, rng):
        """A random MNIST test digit, from the local cache only (a page click never downloads)."""
        if self._test_set is None:
            from ..data.mnist import load_mnist
            try:
                _, _, x_test, y_test = load_mnist(self.data_dir, download=False, verbose=False)
            except Exception as e:   # missing or corrupt files: say so, the page shows it
                raise RequestError(f"the MNIST test set is not available here ({e}); "
                                   f"run 'python -m numpyvit train' or 'eval' once to fetch it",
                                   HTTPStatus.SERVICE_UNAVAILABLE) from None
            self._test_set = (x_test, y_test)
        x_test, y_test = self._test_set
        i = int(rng.integers(len(x_test)))
        return {"pixels": x_test[i].tolist(), "label": int(y_test[i]), "index": i}


def _rounded(a, decimals):
    """An array as nested lists of floats with `decimals` digits: a third of the JSON."""
    return np.round(np.asarray(a, dtype=np.float64), decimals).tolist()


# --- checking a request -------------------------------------------------------------------
def _reject_constant(name):
    raise RequestError(f"the JSON holds {name}; pixels must be finite numbers 0..255")


def parse_predict_request(body, tokens):
    """The body of POST /api/predict -> (pixels (H, W) float64, query, (dy, dx), preprocess).
    Raises RequestError naming the field, the value and what was expected."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)  # NaN, Infinity are not JSON
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RequestError(f"the body is not valid JSON: {e}") from None
    except RecursionError:   # e.g. a million '[': the parser recurses once per level
        raise RequestError("the body's JSON is nested too deeply; expected rows of numbers") from None
    if not isinstance(data, dict):
        raise RequestError(f"the body is a JSON {_kind(data)}; expected an object "
                           f'{{"pixels": [[...], ...]}}')
    unknown = sorted(set(data) - {"pixels", "query", "shift", "preprocess"})
    if unknown:
        raise RequestError(f"unknown field(s) {unknown}; expected pixels, query, shift, preprocess")
    if "pixels" not in data:
        raise RequestError('no "pixels": expected {"pixels": [[...], ...]}, rows of greyscale values 0..255')
    pixels = _check_pixels(data["pixels"])
    query = data.get("query", 0)
    if isinstance(query, bool) or not isinstance(query, int) or not 0 <= query < tokens:
        raise RequestError(f"query={query!r}: expected a token index 0..{tokens - 1} (0 is the class token)")
    shift = data.get("shift", [0, 0])
    if (not isinstance(shift, list) or len(shift) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or abs(v) > MAX_SHIFT for v in shift)):
        raise RequestError(f"shift={shift!r}: expected [dy, dx], whole pixels from -{MAX_SHIFT} to {MAX_SHIFT}")
    preprocess = data.get("preprocess", True)
    if not isinstance(preprocess, bool):
        raise RequestError(f"preprocess={preprocess!r}: expected true or false")
    return pixels, query, (shift[0], shift[1]), preprocess


def _check_pixels(rows):
    """A JSON 2-D rectangle of numbers 0..255 -> (H, W) float64."""
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise RequestError(f"pixels is a {_kind(rows)}; expected a list of rows, each a list of numbers")
    if not rows or not rows[0]:
        raise RequestError("pixels is an empty image (no rows or no columns)")
    H, W = len(rows), len(rows[0])
    if H > MAX_SIDE or W > MAX_SIDE:
        raise RequestError(f"pixels are {H}x{W}; at most {MAX_SIDE}x{MAX_SIDE} is accepted",
                           HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    for i, r in enumerate(rows):
        if len(r) != W:
            raise RequestError(f"pixels row {i} has {len(r)} values, row 0 has {W}: expected a rectangle")
        for v in r:
            # bool is an int in Python but true/false is not a pixel
            if type(v) is not int and type(v) is not float:
                raise RequestError(f"pixels row {i} holds {v!r} ({_kind(v)}); expected numbers 0..255")
    try:
        x = np.array(rows, dtype=np.float64)                      # (H, W)
    except OverflowError:
        raise RequestError("pixels hold an integer too large for a float; expected numbers 0..255") from None
    if not np.isfinite(x).all():
        raise RequestError("pixels hold an infinite value (a number like 1e999); expected numbers 0..255")
    if x.min() < 0 or x.max() > 255:
        raise RequestError(f"pixels range from {x.min():g} to {x.max():g}; expected greyscale 0..255")
    return x


def _kind(value):
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__)


# --- HTTP ---------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    """One request. The server gives it `reader` (a DigitReader) and `files` ({url: path})."""
    server_version = "numpyvit"
    timeout = 30          # a client that promises a body and never sends it frees its thread

    def do_GET(self):
        self._answer(self._get)

    def do_POST(self):
        self._answer(self._post)

    def do_PUT(self):
        self._answer(self._wrong_method)

    do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_PUT

    # -- routes
    def _get(self, path):
        if path == "/api/info":
            return self._json(self.server.reader.info())
        if path == "/api/random":
            with self.server.rng_lock:
                return self._json(self.server.reader.random_digit(self.server.rng))
        if path == "/api/predict":
            raise RequestError("GET /api/predict: use POST with a JSON body", HTTPStatus.METHOD_NOT_ALLOWED)
        if path in self.server.files:
            return self._file(self.server.files[path])
        raise RequestError(f"no such page: {path}", HTTPStatus.NOT_FOUND)

    def _post(self, path):
        if path != "/api/predict":
            if path in self.server.files or path in ("/api/info", "/api/random"):
                raise RequestError(f"POST {path}: this path only answers GET", HTTPStatus.METHOD_NOT_ALLOWED)
            raise RequestError(f"no such page: {path}", HTTPStatus.NOT_FOUND)
        body = self._read_body()
        pixels, query, shift, preprocess = parse_predict_request(body, self.server.reader.tokens)
        try:
            return self._json(self.server.reader.read(pixels, query, shift, preprocess))
        except ImageError as e:                                  # e.g. a blank canvas
            raise RequestError(str(e), HTTPStatus.UNPROCESSABLE_ENTITY) from None

    def _wrong_method(self, path):
        raise RequestError(f"{self.command} is not supported; use GET for pages, POST for /api/predict",
                           HTTPStatus.METHOD_NOT_ALLOWED)

    # -- plumbing
    def _read_body(self):
        if self.headers.get("Transfer-Encoding"):
            raise RequestError("chunked bodies are not accepted; send a Content-Length", HTTPStatus.LENGTH_REQUIRED)
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError("no Content-Length header", HTTPStatus.LENGTH_REQUIRED)
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            raise RequestError(f"Content-Length={length!r}: expected a whole number of bytes") from None
        if n > MAX_BODY_BYTES:
            # refused before reading; the unread body makes the connection unusable, so it closes
            raise RequestError(f"the body is {n} bytes; at most {MAX_BODY_BYTES} are accepted",
                               HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        return self.rfile.read(n)

    def _answer(self, route):
        path = urlsplit(self.path).path
        try:
            route(path)
        except RequestError as e:
            if e.status in (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, HTTPStatus.LENGTH_REQUIRED):
                self.close_connection = True
            self._json({"error": str(e)}, e.status)
        except (ConnectionError, TimeoutError):
            self.close_connection = True                          # the client went away
        except Exception as e:   # a bug of ours: the client learns that, the server lives on
            self.log_error("internal error on %s %s: %r", self.command, path, e)
            self._json({"error": f"internal error: {type(e).__name__}: {e}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _json(self, obj, status=HTTPStatus.OK):
        body = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
        self._send(status, "application/json", body)

    def _file(self, path):
        self._send(HTTPStatus.OK, CONTENT_TYPES.get(path.suffix, "application/octet-stream"), path.read_bytes())

    def _send(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "POST" if urlsplit(self.path).path == "/api/predict" else "GET")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


def static_files(folder=STATIC_DIR):
    """{url path: file} for the files directly in `folder`, '/' for index.html. Only these
    paths are ever served: a request is looked up, never joined onto a directory, so no
    spelling of '..' can reach outside the folder."""
    files = {f"/{p.name}": p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in CONTENT_TYPES}
    if "/index.html" in files:
        files["/"] = files["/index.html"]
    return files


def make_server(reader, host="127.0.0.1", port=8000, verbose=False, seed=None):
    """A ThreadingHTTPServer for `reader` (a DigitReader), bound and listening, not yet serving.
    port=0 picks a free port: read it from server.server_address[1]."""
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True          # an open keep-alive connection does not block the exit
    server.reader, server.files, server.verbose = reader, static_files(), verbose
    server.rng, server.rng_lock = np.random.default_rng(seed), threading.Lock()
    return server


def url_of(server):
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def run(server, out=sys.stdout, err=sys.stderr):
    """Serve until Ctrl-C or SIGTERM, then close the socket; returns 0."""
    def stop(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
    try:
        host = server.server_address[0]
        print(f"serving {server.reader.name} at {url_of(server)}  (Ctrl-C to stop)", file=out, flush=True)
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: listening on {host}: other machines can reach this page and its API",
                  file=err, flush=True)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("stopped", file=err, flush=True)
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def load_reader(checkpoint, data_dir=None):
    """A DigitReader for a checkpoint or a run folder (its last.npz)."""
    return DigitReader(load_model(checkpoint), name=str(checkpoint), data_dir=data_dir)
