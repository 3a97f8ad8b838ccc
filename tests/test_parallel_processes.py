"""DataParallel's worker processes end cleanly, whatever ends them.

"Cleanly" is checked by two checkers: no shared-memory segment of ours left in /dev/shm, and
no worker process left alive (orphans would keep a core busy, or wait forever on a pipe).
Each checker has a negative test, so a checker that saw nothing could not pass them all.
The tests read /proc and /dev/shm, so they run on Linux; the workers themselves are portable.
"""
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import numpyvit.training.trainer as train_mod
from conftest import tiny_config
from numpyvit import DataParallel, SoftmaxCrossEntropy, ViTConfig, VisionTransformer
from numpyvit.layers.block import Block
from numpyvit.data.synthetic import synthetic_digits
from numpyvit.parallel.workers import SEGMENT_PREFIX, WorkerFailed

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc and /dev/shm to check for leaks")
SMALL = {"dim": 16, "depth": 1, "heads": 2, "mlp_dim": 32}


# --- the checkers ---------------------------------------------------------------------------
def our_segments(pid=None):
    """Shared-memory segments made by process `pid` (default this one) and not unlinked."""
    pid = os.getpid() if pid is None else pid
    return sorted(p.name for p in Path("/dev/shm").glob(f"{SEGMENT_PREFIX}{pid}_*"))


def alive(pids):
    """The pids that still run (a zombie, dead but not yet reaped, does not count)."""
    running = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state not in "ZX":
            running.append(pid)
    return running


def wait_until(condition, seconds=10.0):
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        time.sleep(0.05)
    return condition()


def test_the_segment_checker_sees_a_segment_left_behind():
    from numpyvit.parallel.workers import new_segment
    segment = new_segment(64)
    try:
        assert our_segments() == [segment.name]
    finally:
        segment.close()
        segment.unlink()
    assert our_segments() == []


def test_the_process_checker_sees_a_live_process_and_not_a_dead_one():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert alive([child.pid]) == [child.pid]
    finally:
        child.kill()
        child.wait()
    assert alive([child.pid]) == []


@pytest.fixture
def no_hang():
    """Fail, rather than hang the suite, if the test takes over 30 s."""
    def timeout(signum, frame):
        raise TimeoutError("the test hung: a dead worker was waited for instead of reported")
    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def tiny_net(workers=2, start_method=None):
    model = VisionTransformer(tiny_config(), dtype=np.float64)
    return DataParallel(model, workers, start_method=start_method)


def images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 1, 8, 8))


# --- ordinary ends ----------------------------------------------------------------------------
def test_close_stops_the_workers_and_unlinks_the_memory():
    net = tiny_net(3)
    pids = net.processes.pids
    assert len(alive(pids)) == 2 and len(our_segments()) == 2
    net.forward(images(6))
    net.close()
    assert alive(pids) == [] and our_segments() == []
    net.close()                                      # twice is fine
    with pytest.raises(WorkerFailed, match="stopped"):
        net.forward(images(6))


def test_a_larger_chunk_moves_to_a_larger_segment_and_the_old_one_goes(rng):
    with tiny_net(2) as net:
        model = net.model
        model.eval()
        for n in (4, 10, 4):                         # the 10 outgrow the first chunk segment
            x = images(n, seed=n)
            assert np.allclose(net.forward(x), model.forward(x), rtol=1e-12, atol=1e-14)
            assert len(our_segments()) == 3          # weights, gradients, the one chunk segment
        model.train()
        loss = SoftmaxCrossEntropy()
        loss.forward(net.forward(images(10)), np.arange(10) % 3)
        dx = net.backward(loss.backward())           # dx read back from the chunk segment
        loss.forward(model.forward(images(10)), np.arange(10) % 3)
        assert dx.shape == (10, 1, 8, 8) and np.isfinite(dx).all()


def test_a_forgotten_data_parallel_is_cleaned_up_when_collected():
    net = tiny_net()
    pids = net.processes.pids
    del net
    gc.collect()
    assert wait_until(lambda: alive(pids) == []) and our_segments() == []


def test_a_program_that_never_closes_leaves_nothing_behind():
    code = textwrap.dedent(f"""
        import numpy as np
        from numpyvit import DataParallel, ViTConfig, VisionTransformer
        net = DataParallel(VisionTransformer(ViTConfig(**{SMALL}), seed=0), 2)
        net.forward(np.zeros((4, 1, 28, 28), np.float32))
        print(*net.processes.pids, flush=True)
        """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    pids = [int(p) for p in run.stdout.split()]
    assert wait_until(lambda: alive(pids) == [])
    assert "leaked" not in run.stderr and "Traceback" not in run.stderr, run.stderr


# --- the three ends of the issue: an exception, Ctrl-C, a killed worker ------------------------
def test_an_exception_in_the_training_loop_stops_the_workers_and_frees_the_memory(tmp_path, monkeypatch):
    x, y = synthetic_digits(256, seed=0)
    data = x[:192], y[:192], x[192:], y[192:]
    def log(line):
        raise OSError("disk full")                   # writing the epoch's line fails

    model = VisionTransformer(ViTConfig(**SMALL), seed=0)
    with pytest.raises(OSError, match="disk full"):
        with DataParallel(model, 2) as net:           # as the command line runs the trainer
            train_mod.train(net, train_mod.TrainConfig(epochs=2, batch_size=64), data, tmp_path,
                            progress=False, log=log)
    assert net.processes.pids == [] and our_segments() == []


TRAIN_SCRIPT = textwrap.dedent("""
    import sys
    from numpyvit import DataParallel, TrainConfig, ViTConfig, VisionTransformer, synthetic_digits, train

    x, y = synthetic_digits(2048, seed=0)
    with DataParallel(VisionTransformer(ViTConfig(**{small}), seed=0), 2) as net:
        print("workers", *net.processes.pids, flush=True)
        train(net, TrainConfig(epochs=50, batch_size=64), (x[:1792], y[:1792], x[1792:], y[1792:]),
              sys.argv[1], progress=False, log=lambda line: print(line, flush=True))
    """).format(small=SMALL)


@pytest.mark.parametrize("to", ["parent", "process group"])
def test_ctrl_c_during_training_saves_and_leaves_no_worker_or_memory(to, tmp_path, no_hang):
    # "parent": SIGINT to the trainer alone; "process group": to every process, as a terminal's Ctrl-C
    run = subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, str(tmp_path / "run")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        pids = [int(p) for p in run.stdout.readline().split()[1:]]
        run.stdout.readline()                        # the first epoch's line: mid-training now
        assert len(pids) == 1 and alive(pids) == pids
        if to == "parent":
            os.kill(run.pid, signal.SIGINT)
        else:
            os.killpg(run.pid, signal.SIGINT)
        out, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    assert "resume with" in out, err                 # the step finished and the checkpoint was saved
    assert "KeyboardInterrupt" in err and "WorkerFailed" not in err, err
    assert wait_until(lambda: alive(pids) == []) and our_segments(run.pid) == []
    # and not because multiprocessing's resource tracker had to unlink what we left
    assert "leaked" not in err, err


@pytest.mark.parametrize("during", ["forward", "backward"])
def test_a_killed_worker_is_reported_by_name_and_the_rest_cleaned_up(during, no_hang):
    net, loss = tiny_net(3), SoftmaxCrossEntropy()
    pids = net.processes.pids
    loss.forward(net.forward(images(6)), np.arange(6) % 3)
    if during == "backward":
        loss.forward(net.forward(images(6)), np.arange(6) % 3)
    os.kill(pids[1], signal.SIGKILL)
    assert wait_until(lambda: alive([pids[1]]) == [])
    with pytest.raises(WorkerFailed, match=rf"worker 2 \(pid {pids[1]}\) was killed by signal SIGKILL during {during}"):
        if during == "forward":
            net.forward(images(6))
        else:
            net.backward(loss.backward())
    assert alive(pids) == [] and our_segments() == []   # the other worker stopped too
    with pytest.raises(WorkerFailed, match="stopped"):
        net.forward(images(6))


def test_a_worker_killed_mid_step_is_reported_not_awaited(monkeypatch, no_hang):
    # the parent is already waiting for the reply when the worker dies
    parent, real = os.getpid(), Block.forward

    def slow_forward(self, x):
        if os.getpid() != parent:
            time.sleep(30)
        return real(self, x)

    monkeypatch.setattr(Block, "forward", slow_forward)
    net = tiny_net(2, "fork")
    pid = net.processes.pids[0]
    killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))
    killer.start()
    start = time.monotonic()
    with pytest.raises(WorkerFailed, match=rf"worker 1 \(pid {pid}\) was killed by signal SIGKILL during forward"):
        net.forward(images(6))
    assert time.monotonic() - start < 10
    assert alive([pid]) == [] and our_segments() == []


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_workers_leave_when_the_parent_is_killed(start_method, no_hang):
    # no close(), no finalizer, no atexit: the workers see their pipe close and exit
    code = textwrap.dedent(f"""
        import time
        from numpyvit import DataParallel, ViTConfig, VisionTransformer
        net = DataParallel(VisionTransformer(ViTConfig(**{SMALL}), seed=0), 3,
                           start_method="{start_method}")
        print(*net.processes.pids, flush=True)
        time.sleep(60)
        """)
    run = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in run.stdout.readline().split()]
    assert len(alive(pids)) == 2
    run.kill()
    run.wait()
    # the workers exit; the last to go lets multiprocessing's resource tracker unlink the memory
    assert wait_until(lambda: alive(pids) == []), "orphaned workers"
    assert wait_until(lambda: our_segments(run.pid) == []), "leaked segments"


# --- errors inside a worker, and results ----------------------------------------------------------
def test_an_error_inside_a_worker_is_raised_in_the_parent_which_goes_on(monkeypatch):
    parent = os.getpid()
    real = Block.forward

    def forward(self, x):                           # fails in the worker (forked: it has this too)
        if os.getpid() != parent and len(x) == 4:
            raise FloatingPointError("a worker's own failure")
        return real(self, x)

    monkeypatch.setattr(Block, "forward", forward)
    with tiny_net(2, "fork") as net:
        with pytest.raises(WorkerFailed, match=r"(?s)worker 1 raised during forward.*FloatingPointError"):
            net.forward(images(8))                   # chunks of 4 and 4
        assert net.forward(images(6)).shape == (6, 3)   # chunks of 3: the pipes are still in step
