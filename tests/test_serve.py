"""The drawing page's server: the API's answers, every bad request, concurrency, the page's
files, and the `serve` command's start and stop. A small untrained ViT saved in tmp_path:
no network needed."""
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from photos import pen_digit

from numpyvit.app.preprocess import preprocess_digit
from numpyvit.app.server import MAX_BODY_BYTES, DigitReader, make_server
from numpyvit.layers.attention import softmax
from numpyvit.models.vit import ViTConfig, VisionTransformer
from numpyvit.data import mnist
from numpyvit.training.checkpoint import load_model, save_checkpoint
from numpyvit.data.prepare import normalize

ROOT = Path(__file__).resolve().parent.parent
SMALL = ViTConfig(dim=16, depth=2, heads=2, mlp_dim=32)      # grid 4: N = 17 tokens


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_checkpoint(tmp_path_factory.mktemp("model") / "last.npz", VisionTransformer(SMALL, seed=3))


def start(reader):
    server = make_server(reader, port=0, seed=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):
    # an empty data folder: 'a random test digit' must report that MNIST is missing
    reader = DigitReader(load_model(checkpoint), name="small", data_dir=tmp_path_factory.mktemp("nomnist"))
    srv, thread = start(reader)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def call(server, method, path, body=None, headers=None):
    """(status, parsed JSON or raw bytes, response headers) of one request on a fresh connection."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        raw = r.read()
        is_json = r.getheader("Content-Type", "").startswith("application/json")
        return r.status, json.loads(raw) if is_json else raw, dict(r.getheaders())
    finally:
        conn.close()


def a_drawing(label=3, seed=0, side=96):
    from PIL import Image
    d = pen_digit(label, np.random.default_rng(seed))
    return np.asarray(Image.fromarray(d).resize((side, side), Image.BILINEAR)).tolist()


def assert_still_serving(server):
    status, answer, _ = call(server, "POST", "/api/predict", {"pixels": a_drawing()})
    assert status == 200 and len(answer["probs"]) == 10


# --- the answers --------------------------------------------------------------------------
def test_predict_answers_what_the_model_computes(server, checkpoint):
    pixels = a_drawing(7)
    status, answer, _ = call(server, "POST", "/api/predict", {"pixels": pixels, "query": 5})
    assert status == 200
    model = load_model(checkpoint)
    digit = preprocess_digit(np.array(pixels))
    probs = softmax(model.forward(normalize(digit[None])).astype(np.float64))[0]
    assert np.array_equal(answer["input28"], digit)                     # (28, 28) as the model saw it
    assert np.allclose(answer["probs"], probs, atol=1e-5) and answer["top"] == int(probs.argmax())
    att = np.array(answer["attention"])                                 # (L, h, N): query 5's rows
    assert att.shape == (2, 2, 17)
    assert np.allclose(att, [b.attn.att[0, :, 5] for b in model.blocks], atol=1e-4)
    assert np.allclose(att.sum(-1), 1, atol=1e-3)
    rollout = np.array(answer["rollout"])
    assert rollout.shape == (4, 4) and rollout.max() == 1


def test_the_query_defaults_to_the_class_token(server):
    pixels = a_drawing(2)
    _, default, _ = call(server, "POST", "/api/predict", {"pixels": pixels})
    _, cls, _ = call(server, "POST", "/api/predict", {"pixels": pixels, "query": 0})
    _, patch, _ = call(server, "POST", "/api/predict", {"pixels": pixels, "query": 16})
    assert default["attention"] == cls["attention"] != patch["attention"]
    assert default["probs"] == patch["probs"]                          # the query changes only what is shown


def test_light_and_dark_ink_read_the_same(server):
    pixels = np.array(a_drawing(5))
    _, light, _ = call(server, "POST", "/api/predict", {"pixels": pixels.tolist()})
    _, dark, _ = call(server, "POST", "/api/predict", {"pixels": (255 - pixels).tolist()})
    assert np.abs(np.array(light["input28"]) - np.array(dark["input28"])).max() <= 1


def test_the_nudge_shifts_the_input_by_whole_pixels(server):
    pixels = a_drawing(4)
    _, still, _ = call(server, "POST", "/api/predict", {"pixels": pixels})
    _, moved, _ = call(server, "POST", "/api/predict", {"pixels": pixels, "shift": [1, -2]})
    assert np.array_equal(np.roll(np.array(still["input28"]), (1, -2), axis=(0, 1)), moved["input28"])


def test_an_mnist_digit_can_skip_the_preprocessing(server):
    digit = np.array(preprocess_digit(np.array(a_drawing(6))), dtype=int)
    digit[0, 0] = 7                                                    # preprocessing would clear this
    _, raw, _ = call(server, "POST", "/api/predict", {"pixels": digit.tolist(), "preprocess": False})
    assert raw["input28"] == digit.tolist()


def test_info_describes_the_model(server):
    status, info, _ = call(server, "GET", "/api/info")
    assert status == 200
    assert (info["grid"], info["tokens"], info["layers"], info["heads"]) == (4, 17, 2, 2)
    assert info["config"]["dim"] == 16


def test_a_random_digit_without_mnist_is_reported_not_a_crash(server):
    status, answer, _ = call(server, "GET", "/api/random")
    assert status == 503 and "MNIST test set is not available" in answer["error"]
    assert_still_serving(server)


def test_a_random_digit_comes_from_the_cached_test_set(checkpoint, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": np.array([1, 2], np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": np.array([7, 8, 9], np.uint8)}
    hashes = {}
    for name, a in arrays.items():      # IDX: 00 00 08 ndim, big-endian uint32 dims, the bytes
        raw = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape) + a.tobytes()
        (tmp_path / name).write_bytes(raw)
        hashes[name] = hashlib.sha256(raw).hexdigest()
    monkeypatch.setattr(mnist, "MNIST_FILES", hashes)
    srv, thread = start(DigitReader(load_model(checkpoint), data_dir=tmp_path))
    try:
        status, digit, _ = call(srv, "GET", "/api/random")
        assert status == 200
        i = digit["index"]
        assert digit["pixels"] == arrays["t10k-images-idx3-ubyte"][i].tolist()
        assert digit["label"] == [7, 8, 9][i]
    finally:
        srv.shutdown()
        srv.server_close()


# --- bad requests -------------------------------------------------------------------------
BAD_BODIES = [   # (what, body, status, words the error must contain)
    ("malformed JSON", '{"pixels": [[1, 2]', 400, "not valid JSON"),
    ("not UTF-8", b"\xff\xfe{}", 400, "not valid JSON"),
    ("deeply nested JSON", "[" * 200_000 + "]" * 200_000, 400, "nested too deeply"),
    ("a JSON list", "[[1, 2], [3, 4]]", 400, "a JSON list; expected an object"),
    ("a JSON number", "42", 400, "expected an object"),
    ("no pixels", '{"query": 0}', 400, 'no "pixels"'),
    ("unknown field", '{"pixels": [[1]], "colour": 1}', 400, "unknown field"),
    ("pixels a string", '{"pixels": "0,0,0"}', 400, "pixels is a string"),
    ("pixels 1-D", '{"pixels": [1, 2, 3]}', 400, "list of rows"),
    ("pixels 3-D", '{"pixels": [[[1]]]}', 400, "expected numbers"),
    ("ragged rows", '{"pixels": [[1, 2], [3]]}', 400, "row 1 has 1 values"),
    ("a string pixel", '{"pixels": [[1, "2"]]}', 400, "'2' (string)"),
    ("a boolean pixel", '{"pixels": [[1, true]]}', 400, "True (boolean)"),
    ("a null pixel", '{"pixels": [[1, null]]}', 400, "None (null)"),
    ("NaN", '{"pixels": [[1, NaN]]}', 400, "NaN"),
    ("Infinity", '{"pixels": [[1, Infinity]]}', 400, "Infinity"),
    ("-Infinity", '{"pixels": [[1, -Infinity]]}', 400, "-Infinity"),
    ("a number that overflows", '{"pixels": [[1, 1e999]]}', 400, "infinite"),
    ("a huge integer", '{"pixels": [[1, ' + "9" * 400 + "]]}", 400, "too large"),
    ("a negative pixel", '{"pixels": [[-1, 2]]}', 400, "range from -1"),
    ("a pixel above 255", '{"pixels": [[0, 256]]}', 400, "to 256"),
    ("no rows", '{"pixels": []}', 400, "empty image"),
    ("no columns", '{"pixels": [[]]}', 400, "empty image"),
    ("a blank image", json.dumps({"pixels": [[0] * 40] * 40}), 422, "no ink"),
    ("uniform grey", json.dumps({"pixels": [[128] * 40] * 40}), 422, "no ink"),
    ("too many rows", json.dumps({"pixels": [[0]] * 1025}), 413, "1025x1"),
    ("too many columns", json.dumps({"pixels": [[0] * 1025]}), 413, "at most 1024x1024"),
    ("query too large", json.dumps({"pixels": [[0, 255]], "query": 17}), 400, "query=17"),
    ("query negative", json.dumps({"pixels": [[0, 255]], "query": -1}), 400, "query=-1"),
    ("query not a number", json.dumps({"pixels": [[0, 255]], "query": "0"}), 400, "query='0'"),
    ("query a boolean", json.dumps({"pixels": [[0, 255]], "query": True}), 400, "query=True"),
    ("shift too far", json.dumps({"pixels": [[0, 255]], "shift": [9, 0]}), 400, "shift=[9, 0]"),
    ("shift not a pair", json.dumps({"pixels": [[0, 255]], "shift": [1]}), 400, "shift=[1]"),
    ("not preprocessed and not 28x28", json.dumps({"pixels": [[0, 255]], "preprocess": False}), 400,
     "must already be"),
]


@pytest.mark.parametrize("what,body,status,words", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_a_bad_request_is_named_and_the_server_keeps_serving(server, what, body, status, words):
    got, answer, _ = call(server, "POST", "/api/predict", body, {"Content-Type": "application/json"})
    assert got == status and words in answer["error"], answer
    assert_still_serving(server)


def raw_exchange(server, head, body=b""):
    """Send bytes on a socket, return the response's status line and JSON body."""
    with socket.create_connection(server.server_address[:2], timeout=10) as s:
        s.sendall(head + body)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    response = b"".join(chunks)
    header, _, payload = response.partition(b"\r\n\r\n")
    return header.split(b"\r\n")[0].decode(), json.loads(payload)


def test_a_huge_body_is_refused_by_its_length_before_it_is_read(server):
    # promise 2 GB and send none of it: the answer must come at once, from the header alone
    head = (f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {2 ** 31}\r\n\r\n").encode()
    t0 = time.perf_counter()
    status, answer = raw_exchange(server, head)
    assert " 413 " in status and f"at most {MAX_BODY_BYTES}" in answer["error"]
    assert time.perf_counter() - t0 < 5
    assert_still_serving(server)


@pytest.mark.parametrize("headers,status,words", [
    ("", " 411 ", "no Content-Length"),
    ("Content-Length: lots\r\n", " 400 ", "Content-Length='lots'"),
    ("Content-Length: -5\r\n", " 400 ", "Content-Length='-5'"),
    ("Transfer-Encoding: chunked\r\n", " 411 ", "chunked"),
])
def test_a_body_without_a_usable_length_is_refused(server, headers, status, words):
    head = f"POST /api/predict HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode()
    got, answer = raw_exchange(server, head)
    assert status in got and words in answer["error"]
    assert_still_serving(server)


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/nowhere", 404),
    ("GET", "/api/nothing", 404),
    ("POST", "/api/nothing", 404),
    ("GET", "/api/predict", 405),
    ("PUT", "/api/predict", 405),
    ("DELETE", "/", 405),
    ("POST", "/", 405),
    ("POST", "/api/info", 405),
])
def test_unknown_paths_and_wrong_methods(server, method, path, status):
    got, answer, headers = call(server, method, path, "{}" if method in ("POST", "PUT") else None)
    assert got == status and answer["error"]
    if status == 405:
        assert headers["Allow"] in ("GET", "POST")
    assert_still_serving(server)


# --- the page's files ---------------------------------------------------------------------
def test_the_page_and_its_files_are_served_from_the_package(server):
    status, page, headers = call(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    html = page.decode()
    assert 'id="canvas"' in html and 'id="prediction"' in html and "app.js" in html
    assert "http" not in html.replace('http-equiv', '')      # no CDN: every file is local
    for path, kind in [("/app.js", "text/javascript"), ("/style.css", "text/css"), ("/index.html", "text/html")]:
        status, _, headers = call(server, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith(kind)
    status, _, _ = call(server, "GET", "/app.js?v=2")                 # a query string is ignored
    assert status == 200


@pytest.mark.parametrize("path", [
    "/../server.py", "/../../checkpoint.py", "/%2e%2e/server.py", "/%2E%2E%2Fserver.py",
    "/..%2fserver.py", "/static/../server.py", "/./app.js/../../server.py", "//etc/passwd",
    "/%2fetc%2fpasswd", "/..\\server.py", "/app.js%00.css", "/__init__.py", "/preprocess.py",
])
def test_no_spelling_of_dot_dot_leaves_the_static_folder(server, path):
    status, answer, _ = call(server, "GET", path)
    assert status == 404 and "no such page" in answer["error"]


# --- many clients at once -----------------------------------------------------------------
def test_many_clients_at_once_get_the_answers_one_client_gets(server):
    bodies = [{"pixels": a_drawing(k, seed=k), "query": k % 17} for k in range(10)]
    alone = [call(server, "POST", "/api/predict", b)[1] for b in bodies]
    jobs = [k % 10 for k in range(8 * 5)]                            # 8 threads x 5 requests
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda k: call(server, "POST", "/api/predict", bodies[k]), jobs))
    for k, (status, answer, _) in zip(jobs, together):
        assert status == 200 and answer == alone[k]


# --- the command ---------------------------------------------------------------------------
def serve_process(checkpoint, *args):
    """`python -m numpyvit serve` in a subprocess, this checkout first on the path; returns
    (process, the URL line it printed)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "numpyvit", "serve", str(checkpoint), "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    line = proc.stdout.readline()
    assert "http://" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, line


def port_is_closed(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_prints_its_url_and_stops_cleanly_on_a_signal(checkpoint, sig):
    proc, line = serve_process(checkpoint)
    try:
        url = line.split("http://")[1].split()[0]
        host, port = url.rstrip("/").split(":")
        port = int(port)
        assert host == "127.0.0.1" and port > 0                         # --port 0: the real port
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/api/info")
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
        assert "Traceback" not in proc.stderr.read()
        assert port_is_closed(port)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_serve_warns_when_it_listens_beyond_this_machine(checkpoint):
    proc, line = serve_process(checkpoint, "--host", "0.0.0.0")
    try:
        warning = proc.stderr.readline()
        assert "warning" in warning and "0.0.0.0" in warning
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_serve_reports_a_taken_port_and_a_missing_checkpoint_in_one_line(checkpoint, tmp_path, capsys):
    from numpyvit.cli import main
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(checkpoint), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and len(err.strip().splitlines()) == 1
    assert main(["serve", str(tmp_path / "missing.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["serve", str(checkpoint), "--port", "70000"]) == 2
    assert "--port=70000" in capsys.readouterr().err


def test_serving_a_resnet_checkpoint_is_one_line_and_exit_2(tmp_path, capsys):
    from numpyvit.cli import main
    from numpyvit.models.resnet import ResNet, ResNetConfig
    ckpt = save_checkpoint(tmp_path / "r.npz", ResNet(ResNetConfig(widths=(4,), blocks_per_stage=(1,))))
    assert main(["serve", str(ckpt), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "the app shows a ViT's attention" in err and len(err.strip().splitlines()) == 1
