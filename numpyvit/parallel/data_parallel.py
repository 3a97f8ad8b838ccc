"""Data parallelism on CPU cores: one model, each batch split across the cores.

NumPy runs every elementwise operation (LayerNorm, GELU, softmax, residual adds) on one core;
only its matrix products use more. `DataParallel` splits each batch into one chunk per worker
and runs the ordinary `forward`/`backward` of a replica of the model on each chunk at
the same time, with BLAS held to one thread per worker, so all the work, not only the
matmuls, uses every core. On 2 cores this trained ~1.4x and inferred ~1.7x faster than the
same model run whole, on the machine where it was measured (docs/performance.md).

It is the scheme of multi-GPU data parallelism, on cores:
    scatter  the batch into chunks          images (B, ...) -> (B/W, ...) per worker
    forward  each chunk through a replica   replicas read the model's current weights
    gather   the logits                     (B, K)
    backward each chunk's dlogits           each replica fills its own grads
    reduce   the gradients                  model.grads += replica.grads
The loss is computed on the gathered logits, so its 1/B already weights every chunk: the
summed gradients equal the whole batch's, up to float rounding.

Two backends run the chunks (`backend=`):
    "processes"  worker processes, the weights and gradients in shared memory (workers.py).
                 Each process has its own GIL, so no chunk waits for another's Python code.
    "threads"    threads in this process, replicas sharing the model's arrays. Simpler and
                 starts at once, but the threads take turns holding the GIL between NumPy
                 calls, which at the trainer's chunk size cost from nothing to half the
                 speed, depending on the machine and its state (docs/performance.md).
Both give the same chunks the same replicas (the same dropout generators), so the same results.

Models whose training forward depends on the whole batch (BatchNorm's batch statistics, seen
as `buffers` in the module tree) would change if each chunk were normalised on its own, and
two replicas would race to update the shared running statistics: in training mode such a
model runs on one worker. In eval mode every model runs in parallel.
"""
import copy
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..models.config import check_positive_int
from .workers import WorkerProcesses

BACKENDS = ("processes", "threads")
# processes by default: on an Intel Xeon the threads' GIL hand-offs cost up to half the speed
# that two processes kept, while where no core was free the processes cost 3-7% (docs/performance.md)
DEFAULT_BACKEND = "processes"

_blas_controller = None


def _blas_one_thread():
    """A context that holds BLAS to one thread (the workers already fill the cores; two
    threads each starting two BLAS threads would oversubscribe them). A no-op without
    threadpoolctl."""
    global _blas_controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        from contextlib import nullcontext
        return nullcontext()
    if _blas_controller is None:          # finding the loaded BLAS libraries takes ~0.5 ms: once
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


def available_cores():
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                # not on Linux
        return os.cpu_count() or 1


def replicate(model, index):
    """A copy of `model` that shares its parameter and buffer dicts (so an optimiser step or
    a loaded checkpoint is seen at once) but has its own gradients and forward caches.
    Dropout generators are reseeded per replica, so chunks do not get the same masks."""
    memo = {}
    for _, m in model.modules():
        memo[id(m.params)], memo[id(m.buffers)] = m.params, m.buffers
        for value in (*m.params.values(), *m.buffers.values()):
            memo[id(value)] = value
    replica = copy.deepcopy(model, memo)
    for _, m in replica.modules():
        if isinstance(getattr(m, "rng", None), np.random.Generator):
            m.rng = np.random.default_rng([index, *m.rng.integers(0, 2 ** 32, size=4).tolist()])
    return replica


def split_batch(n, parts):
    """Slices cutting n items into min(parts, n) contiguous pieces whose sizes differ by at
    most one (at least one piece, so an empty batch still passes through the model)."""
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


class DataParallel:
    """Run `model` on `workers` cores (default: every available core).

    `forward(images)` and `backward(dlogits)` behave like the model's own; gradients land in
    `model.grads`, where the optimiser finds them. The model's attributes (`attn.att`, ...)
    then describe only the first chunk: for analysis, call `model.forward` directly.

    backend:      "processes" (default) or "threads"; see the top of this file.
    start_method: how worker processes start: "fork", "spawn" or "forkserver" (default: the
                  platform's; macOS and Windows spawn).
    Call close() (or use `with`) to stop the workers; they also stop when the program ends.
    """

    def __init__(self, model, workers=None, backend=None, start_method=None):
        if workers is None:
            workers = available_cores()
        check_positive_int("workers", workers)
        backend = DEFAULT_BACKEND if backend is None else backend
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r} is not one of {BACKENDS}")
        self.model = model
        self.workers = int(workers)
        self.backend = backend
        copies = [replicate(model, i) for i in range(1, self.workers)]
        self.has_buffers = any(True for _ in model.named_buffers())
        self.pool = self.processes = None
        self.pairs = []                      # threads only: (model module, replica module) pairs
        if backend == "threads" or not copies:
            self.replicas = [model] + copies
            # to copy the train/eval flags across (worker processes receive them with each request)
            self.pairs = [list(zip((m for _, m in model.modules()), (m for _, m in r.modules())))
                          for r in self.replicas[1:]]
            # every replica's gradient arrays, in the model's order, listed once: walking the
            # module tree costs ~0.1 ms a time, as much as the reduction itself
            self.grads = [[g for _, _, g in r.named_parameters()] for r in self.replicas]
            self.pool = ThreadPoolExecutor(self.workers - 1) if copies else None
        else:
            self.replicas = [model]          # replicas 1.. live in the worker processes
            self.processes = WorkerProcesses(model, copies, start_method)
            self.grads = [[g for _, _, g in model.named_parameters()]] + self.processes.grads
        self.chunks = None

    @property
    def training(self):
        return self.model.training

    def train(self, mode=True):
        self.model.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        self.model.zero_grad()

    def _run(self, op, arrays):
        """replica_i.op(arrays[i]) for every chunk i at once: chunk 0 in this thread, the rest
        in the thread pool or the worker processes. op is "forward" or "backward"."""
        if len(arrays) == 1:
            return [getattr(self.model, op)(arrays[0])]
        if self.processes is not None:
            return self._run_in_processes(op, arrays)
        if self.pool is None:
            raise RuntimeError("DataParallel was closed")

        def run_chunk(i, x):
            if op == "backward" and i:        # a replica's gradients are this chunk's alone
                for g in self.grads[i]:
                    g.fill(0)
            return getattr(self.replicas[i], op)(x)

        with _blas_one_thread():
            futures = [self.pool.submit(run_chunk, i, a) for i, a in enumerate(arrays) if i]
            first = run_chunk(0, arrays[0])
            return [first] + [f.result() for f in futures]

    def _run_in_processes(self, op, arrays):
        self.processes.start(op, arrays[1:])           # chunks 1.. to the workers
        try:
            with _blas_one_thread():
                first = getattr(self.model, op)(arrays[0])
        finally:                          # collect the workers' replies even if chunk 0 failed
            rest = self.processes.finish(op, len(arrays) - 1)
        return [first] + rest

    def forward(self, images):
        if hasattr(self.model, "check_images"):       # a clear error here, not in a worker
            images = self.model.check_images(images)
        for pairs in self.pairs:
            for m, r in pairs:
                r.training = m.training
        workers = 1 if (self.training and self.has_buffers) else self.workers
        self.chunks = split_batch(len(images), workers)
        outs = self._run("forward", [images[s] for s in self.chunks])
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def backward(self, dlogits):
        if self.chunks is None:
            raise RuntimeError("DataParallel.backward() called before forward()")
        if len(dlogits) != self.chunks[-1].stop:
            raise ValueError(f"dlogits has {len(dlogits)} rows; the last forward() had a batch of "
                             f"{self.chunks[-1].stop}")
        dx = self._run("backward", [dlogits[s] for s in self.chunks])
        for i in range(1, len(self.chunks)):                   # reduce into the model's grads
            for grad, g in zip(self.grads[0], self.grads[i]):
                grad += g
        return dx[0] if len(dx) == 1 else np.concatenate(dx)

    # --- the dropout generators, for an exact resume ---------------------------------------
    def rng_states(self):
        """{name: generator state} for every module with a generator (dropout masks) in the
        model and in each replica ('blocks.0.mlp.drop1', 'replica1.blocks.0.mlp.drop1', ...)."""
        states = {}
        for k, replica in enumerate(self.replicas):
            prefix = f"replica{k}." if k else ""
            states.update((prefix + name, m.rng.bit_generator.state)
                          for name, m in replica.modules() if hasattr(m, "rng"))
        if self.processes is not None:
            self.processes.send("rng_states", [()] * (self.workers - 1))
            for k, remote in enumerate(self.processes.receive("rng_states"), start=1):
                states.update((f"replica{k}.{name}", state) for name, state in remote.items())
        return states

    def set_rng_states(self, states):
        """Restore what rng_states() returned (names not found are left as they are)."""
        for k, replica in enumerate(self.replicas):
            prefix = f"replica{k}." if k else ""
            for name, m in replica.modules():
                if hasattr(m, "rng") and prefix + name in states:
                    m.rng.bit_generator.state = states[prefix + name]
        if self.processes is not None:
            per_worker = [({name[len(f"replica{k}."):]: s for name, s in states.items()
                            if name.startswith(f"replica{k}.")},) for k in range(1, self.workers)]
            self.processes.send("set_rng_states", per_worker)
            self.processes.receive("set_rng_states")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stop the worker threads or processes and release their shared memory (they also
        stop when the program ends). Safe to call twice."""
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
        if self.processes is not None:
            self.grads = None
            self.processes.close()
