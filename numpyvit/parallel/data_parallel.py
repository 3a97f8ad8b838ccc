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

The parent process runs chunk 0 on the model itself; chunks 1.. run in worker processes
(workers.py), which read the weights from shared memory and write their gradients there.
Each process has its own GIL, so no chunk waits for another's Python code (threads did, at
this chunk size, and cost up to half the speed on an Intel Xeon: docs/performance.md).

Models whose training forward depends on the whole batch (BatchNorm's batch statistics, seen
as `buffers` in the module tree) would change if each chunk were normalised on its own, and
two replicas would race to update the shared running statistics: in training mode such a
model runs on one worker. In eval mode every model runs in parallel.
"""
import copy
import os

import numpy as np

from ..blas import one_blas_thread
from ..models.config import check_positive_int
from .workers import WorkerProcesses


def available_cores():
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                # not on Linux
        return os.cpu_count() or 1


def replicate(model):
    """A copy of `model` with its own gradients and forward caches, to send to a worker
    process (which replaces its parameters by views of the shared weights). The parameter
    and buffer arrays are shared with the model rather than copied: the worker swaps them
    for shared memory anyway, so a copy would only cost memory."""
    memo = {}
    for _, m in model.modules():
        memo[id(m.params)], memo[id(m.buffers)] = m.params, m.buffers
        for value in (*m.params.values(), *m.buffers.values()):
            memo[id(value)] = value
    return copy.deepcopy(model, memo)


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

    start_method: how worker processes start: "fork", "spawn" or "forkserver" (default: the
                  platform's; macOS and Windows spawn).
    Call close() (or use `with`) to stop the workers; they also stop when the program ends.
    """

    def __init__(self, model, workers=None, start_method=None):
        if workers is None:
            workers = available_cores()
        check_positive_int("workers", workers)
        self.model = model
        self.workers = int(workers)
        self.has_buffers = any(True for _ in model.named_buffers())
        self.processes = None                # replicas 1.. live in the worker processes
        self.grads = [[g for _, _, g in model.named_parameters()]]
        if self.workers > 1:
            copies = [replicate(model) for _ in range(1, self.workers)]
            self.processes = WorkerProcesses(model, copies, start_method)
            self.grads += self.processes.grads
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
        """replica_i.op(arrays[i]) for every chunk i at once: chunk 0 in this process, the rest
        in the worker processes. op is "forward" or "backward"."""
        if len(arrays) == 1:
            return [getattr(self.model, op)(arrays[0])]
        self.processes.start(op, arrays[1:])           # chunks 1.. to the workers
        try:
            with one_blas_thread():
                first = getattr(self.model, op)(arrays[0])
        finally:                          # collect the workers' replies even if chunk 0 failed
            rest = self.processes.finish(op, len(arrays) - 1)
        return [first] + rest

    def forward(self, images):
        if hasattr(self.model, "check_images"):       # a clear error here, not in a worker
            images = self.model.check_images(images)
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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stop the worker processes and release their shared memory (they also stop when the
        program ends). Safe to call twice."""
        if self.processes is not None:
            self.grads = None
            self.processes.close()
