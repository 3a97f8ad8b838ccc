"""Worker processes for DataParallel: replicas of the model that do not share Python's GIL.

Two threads in one process would take turns holding the GIL between NumPy calls. At the
trainer's chunk size (64 images, arrays of ~70k floats) each call is short, so threads hand
the GIL back and forth hundreds of times a step and, depending on the machine's state, ran
anywhere from 0.7x to 1.5x one thread (docs/performance.md). Separate processes each have
their own interpreter and never wait for each other. The price is that they share no Python objects: everything a
replica needs must be sent to it or put where both processes can see it.

What lives where (W workers: the parent runs chunk 0 itself, process k runs chunk k):

    shared memory "weights"  every parameter and buffer, in the model's order   parent writes
    shared memory "grads"    one gradient set per worker process (W-1 of them)   worker k writes
    shared memory "chunk k"  worker k's images, then their gradient dx           both, in turn
    the pipe to worker k     requests and small replies (logits, dlogits)        both ways

The protocol, one request and one reply per step and per worker:

    parent                                          worker k
    copy the weights into shared memory
    write images[chunk k] into "chunk k"
    send ("forward", flags, chunk)            --->  set train/eval flags, logits = forward
                                              <---  ("ok", logits)
    send ("backward", dlogits[chunk k])       --->  zero its grads, dx = backward, write dx
                                              <---  ("ok", where dx is)  (grads now in shared memory)
    model.grads += worker k's grads

Images and dx go through shared memory, not the pipe: a pipe holds less than a 200 KB
chunk, so sending one makes the parent wait for the worker to be scheduled and read it a
piece at a time, and both sides pickle and copy it; shared memory needs one copy each way.

The weights are *copied* in before each forward (0.8 MB for the default model, ~0.1 ms
against a ~50 ms step) rather than the model's arrays being replaced by views of shared
memory. A view would be cheaper by that copy, but any array created before the
DataParallel and kept (an optimiser built first, as docs/performance.md's example does, holds the old
arrays and would update them while the workers read the new ones) would silently stop
training; the copy makes what the workers use always what the model holds.

Clean ends. A worker ignores Ctrl-C (the terminal sends it to every process in the group:
the parent decides, the trainer finishes its step, saves, and stops the workers), and leaves
when its pipe closes, so it cannot outlive a parent that died. The parent waits for each
reply on the pipe *and* on the process's sentinel, so a worker that died is reported by name
instead of waited for forever; it then stops the other workers and unlinks the shared
memory. `close()` (or leaving a `with` block, or the interpreter exiting) does the same.
"""
import os
import secrets
import signal
import traceback
import weakref
from multiprocessing import get_context
from multiprocessing.connection import wait
from multiprocessing.shared_memory import SharedMemory

import numpy as np

SEGMENT_PREFIX = "numpyvit_"         # /dev/shm/numpyvit_<parent pid>_<random>: easy to audit


class WorkerFailed(RuntimeError):
    """A worker process died or raised: the message names the worker and what it was doing."""


# --- shared memory: named arrays laid out one after another in one segment ---------------------
def layout(arrays):
    """[(shape, dtype, byte offset)] for the arrays packed one after another (64-byte aligned,
    a cache line, so no two arrays share one), and the total size in bytes."""
    places, offset = [], 0
    for a in arrays:
        places.append((a.shape, a.dtype.str, offset))
        offset += -(-a.nbytes // 64) * 64
    return places, max(offset, 64)


def views(segment, places, base=0):
    """NumPy arrays over the segment's bytes (no copy) at the given places, shifted by base."""
    return [np.ndarray(shape, dtype=np.dtype(dtype), buffer=segment.buf, offset=base + offset)
            for shape, dtype, offset in places]


def new_segment(size):
    return SharedMemory(name=f"{SEGMENT_PREFIX}{os.getpid()}_{secrets.token_hex(4)}", create=True, size=size)


def model_state(modules):
    """The parameters then the buffers of `modules` (a model's, in its tree's order): what a
    worker reads. Looked up afresh each time, so a parameter replaced by a new array is seen."""
    return [m.params[k] for m in modules for k in m.params] + [m.buffers[k] for m in modules for k in m.buffers]


class ChunkSegment:
    """One worker's chunk in shared memory: the images, then room for their gradient dx.

    The parent makes a larger segment when a chunk outgrows it (the first eval batch) and
    names it in the request; `where` = (segment name, shape, dtype) says where a chunk is.
    Both sides make views only for the moment of a copy, so a segment can always be closed.
    """

    def __init__(self):
        self.segment = None

    def place(self, where):
        """Attach to the segment `where` names (the worker's side); return it."""
        name = where[0]
        if self.segment is None or self.segment.name != name:
            self.close()
            self.segment = SharedMemory(name=name)
        return self.segment

    def read(self, where, second_half=False):
        """A copy of the chunk (or of the dx behind it): the caller may keep it."""
        _, shape, dtype = where
        segment = self.place(where)
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return np.ndarray(shape, np.dtype(dtype), buffer=segment.buf, offset=nbytes if second_half else 0).copy()

    def write_dx(self, where, dx):
        _, shape, dtype = where
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        np.ndarray(shape, np.dtype(dtype), buffer=self.place(where).buf, offset=nbytes)[...] = dx
        return where

    def close(self):
        if self.segment is not None:
            self.segment.close()
            self.segment = None


# --- the worker's side ----------------------------------------------------------------------
def worker_main(index, replica, conn, parent_ends, weights_name, grads_name, weight_places, grad_places,
                grad_bytes):
    """Serve requests from the parent until it says stop or its end of the pipe closes.

    parent_ends: the parent's ends of the pipes, which a forked worker inherits. Closed first:
    while a worker holds its own pipe's other end, the pipe never closes, and the worker would
    outlive a parent that was killed.

    replica: a copy of the model; its parameters and buffers are replaced by views of the
    shared weights, its gradients by views of its own part of the shared gradients.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the parent's to handle
    for end in parent_ends:
        end.close()
    try:                                             # the processes already fill the cores
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        pass
    weights, grads = SharedMemory(name=weights_name), SharedMemory(name=grads_name)
    try:
        shared_w = iter(views(weights, weight_places))
        shared_g = iter(views(grads, grad_places, base=(index - 1) * grad_bytes))
        for _, m in replica.modules():
            for key in m.params:
                m.params[key], m.grads[key] = next(shared_w), next(shared_g)
        for _, m in replica.modules():
            for key in m.buffers:
                m.buffers[key] = next(shared_w)
        modules = [m for _, m in replica.modules()]
        my_grads = [g for _, _, g in replica.named_parameters()]
        chunk = ChunkSegment()
        conn.send(("ok", "ready"))
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):                  # the parent is gone: so are we
                break
            op, args = request[0], request[1:]
            if op == "stop":
                break
            try:
                if op == "forward":                      # args: train/eval flag per module, where the images are
                    flags, where = args
                    for m, flag in zip(modules, flags):
                        m.training = flag
                    images = chunk.read(where)
                    result = replica.forward(images)
                elif op == "backward":                   # args: dlogits; grads are this chunk's alone
                    for g in my_grads:
                        g.fill(0)
                    dx = replica.backward(args[0])
                    # dx has the images' shape: into the chunk's second half if it fits, else by pipe
                    same = dx.shape == images.shape and dx.dtype == images.dtype
                    result = chunk.write_dx(where, dx) if same else dx
                else:
                    raise ValueError(f"unknown request {op!r}")
                reply = ("ok", result)
            except Exception:                            # report it; the parent raises it
                reply = ("error", traceback.format_exc())
            try:
                conn.send(reply)
            except (BrokenPipeError, OSError):           # the parent closed the pipe mid-request
                break
    finally:
        # the views must go before the mappings can be closed (the parent unlinks the names)
        replica = modules = my_grads = shared_w = shared_g = images = None
        chunk.close()
        for segment in (weights, grads):
            try:
                segment.close()
            except BufferError:
                pass


# --- the parent's side ----------------------------------------------------------------------
def describe_exit(process):
    code = process.exitcode
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def shutdown(processes, conns, segments, timeout=5.0):
    """Stop the workers and release the shared memory; safe to call twice, and from a finalizer
    (it holds no reference to the WorkerProcesses object)."""
    for conn in conns:
        try:
            conn.send(("stop",))
        except (BrokenPipeError, OSError, ValueError):
            pass
        conn.close()             # a worker blocked sending a reply now gets an error and leaves
    for p in processes:
        p.join(timeout)
        if p.is_alive():         # stuck: ask, then insist
            p.terminate()
            p.join(1.0)
        if p.is_alive():
            p.kill()
            p.join(1.0)
    for segment in segments:
        try:
            segment.unlink()     # the name goes now; the memory when the last mapping closes
        except FileNotFoundError:
            pass
    processes.clear()
    conns.clear()


class WorkerProcesses:
    """Replicas 1..count of `model` in their own processes (replica 0 is the model itself, run
    by the parent). `replicas` are the copies to send; `start_method` is 'fork', 'spawn' or
    'forkserver' (default: the platform's)."""

    def __init__(self, model, replicas, start_method=None):
        context = get_context(start_method)
        self.start_method = context.get_start_method()
        self.processes, self.conns, self.segments = [], [], []
        self.chunks = [ChunkSegment() for _ in replicas]      # segments made at the first forward
        # the finalizer stops the workers and unlinks the segments if close() is never called,
        # including at interpreter exit; it must not hold `self`, or it would keep it alive
        self.finalizer = weakref.finalize(self, shutdown, self.processes, self.conns, self.segments)
        # the module list is walked once: walking the tree costs ~1 ms, a copy of the weights 0.2
        self.modules = [m for _, m in model.modules()]
        state = model_state(self.modules)
        gradients = [g for _, _, g in model.named_parameters()]
        self.weight_places, weight_bytes = layout(state)
        grad_places, self.grad_bytes = layout(gradients)
        weights = new_segment(weight_bytes)
        self.segments.append(weights)
        grads = new_segment(self.grad_bytes * len(replicas))
        self.segments.append(grads)
        self.weights = views(weights, self.weight_places)
        self.grads = [views(grads, grad_places, base=k * self.grad_bytes) for k in range(len(replicas))]
        self.publish()                           # a spawned worker reads the weights at once
        for k, replica in enumerate(replicas, start=1):
            parent_end, child_end = context.Pipe()
            inherited = self.conns + [parent_end] if self.start_method == "fork" else []
            process = context.Process(
                target=worker_main, name=f"numpyvit-worker-{k}", daemon=True,
                args=(k, replica, child_end, inherited, weights.name, grads.name, self.weight_places,
                      grad_places, self.grad_bytes))
            process.start()
            child_end.close()                   # only the worker holds it now: its exit closes the pipe
            self.processes.append(process)
            self.conns.append(parent_end)
        self.waiting = [1] * len(replicas)        # replies owed per worker: the "ready" first
        self.receive("start-up")                 # every worker attached and ready, or an error now

    @property
    def pids(self):
        return [p.pid for p in self.processes]

    def check_open(self):
        if self.weights is None:
            raise WorkerFailed("DataParallel's worker processes were stopped (it was closed, or a worker died)")

    def publish(self):
        """Copy the model's current parameters and buffers into shared memory."""
        self.check_open()
        state = model_state(self.modules)
        if [(a.shape, a.dtype.str) for a in state] != [(s, d) for s, d, _ in self.weight_places]:
            raise ValueError("the model's parameters changed shape or number since DataParallel was made")
        for shared, value in zip(self.weights, state):
            np.copyto(shared, value)

    def start(self, op, arrays):
        """Send worker k the request `op` ("forward" or "backward") for arrays[k - 1]."""
        if op == "forward":
            self.publish()                                  # the weights the workers will read
            flags = [m.training for m in self.modules]
            self.send(op, [(flags, self.put_chunk(k, a)) for k, a in enumerate(arrays, start=1)])
        else:
            self.send(op, [(a,) for a in arrays])

    def finish(self, op, count):
        """The workers' results of `start` (logits, or dx read back from the chunk segments)."""
        replies = self.receive(op, count)
        if op == "backward":
            replies = [self.chunks[k].read(r, second_half=True) if isinstance(r, tuple) else r
                       for k, r in enumerate(replies)]
        return replies

    def put_chunk(self, k, array):
        """Write array into worker k's chunk segment (a larger one replacing it when it does
        not fit, with room for dx behind it); return where it is, for the request."""
        chunk = self.chunks[k - 1]
        if chunk.segment is None or chunk.segment.size < 2 * array.nbytes:
            if chunk.segment is not None:
                self.segments.remove(chunk.segment)
                chunk.segment.unlink()           # the worker drops it when it sees the new name
                chunk.close()
            chunk.segment = new_segment(2 * array.nbytes)
            self.segments.append(chunk.segment)
        np.ndarray(array.shape, array.dtype, buffer=chunk.segment.buf)[...] = array
        return chunk.segment.name, array.shape, array.dtype.str

    def send(self, op, per_worker):
        """Send (op, *args) to worker k for each args in per_worker (one entry per worker, from 1)."""
        self.check_open()
        self.drain()
        for k, (conn, args) in enumerate(zip(self.conns, per_worker), start=1):
            try:
                conn.send((op, *args))
            except (BrokenPipeError, ConnectionResetError, OSError):
                self.fail(k, op)
            self.waiting[k - 1] += 1

    def reply(self, k, op):
        """Worker k's (status, value), waiting on its pipe *and* its process's sentinel: a worker
        that died is noticed at once, not awaited forever."""
        conn, process = self.conns[k - 1], self.processes[k - 1]
        wait([conn, process.sentinel])            # a reply, or the process's end
        try:
            if not conn.poll():                   # ended with nothing to say
                raise EOFError
            status, value = conn.recv()
        except (EOFError, OSError):
            self.fail(k, op)
        self.waiting[k - 1] -= 1
        return status, value

    def receive(self, op, count=None):
        """The replies of workers 1..count (default all), in order; a worker's exception is
        raised here, after every worker has answered, so no reply is left in a pipe."""
        replies, errors = [], []
        for k in range(1, (len(self.conns) if count is None else count) + 1):
            status, value = self.reply(k, op)
            replies.append(value)
            if status != "ok":
                errors.append(f"DataParallel worker {k} raised during {op}:\n{value}")
        if errors:
            raise WorkerFailed("\n".join(errors))
        return replies

    def drain(self):
        """Read and drop replies still owed from a request the caller never waited for (a Ctrl-C
        between send and receive), so the next reply read is the next request's."""
        for k, owed in enumerate(self.waiting, start=1):
            for _ in range(owed):
                self.reply(k, "an interrupted request")

    def fail(self, k, op):
        """Worker k is gone: stop the others, release the memory, and say so."""
        process = self.processes[k - 1]
        process.join(1.0)
        message = (f"DataParallel worker {k} (pid {process.pid}) {describe_exit(process)} during {op}; "
                   f"the other workers were stopped and the shared memory released")
        self.close()
        raise WorkerFailed(message)

    def close(self):
        self.weights = self.grads = None         # drop our views so the mappings can be closed
        self.finalizer()
        for chunk in self.chunks:
            chunk.segment = None                 # closed below with the others
        for segment in self.segments:
            try:
                segment.close()
            except BufferError:                  # a caller still holds a view: unlinked all the same
                pass
        self.segments.clear()
