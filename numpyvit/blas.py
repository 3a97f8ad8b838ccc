"""BLAS thread limits, for code that already fills the cores itself (the data-parallel workers,
the dynamics probe)."""

_controller = None


def one_blas_thread():
    """A context that holds BLAS to one thread (the workers already fill the cores; two
    threads each starting two BLAS threads would oversubscribe them). A no-op without
    threadpoolctl."""
    global _controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        from contextlib import nullcontext
        return nullcontext()
    if _controller is None:          # finding the loaded BLAS libraries takes ~0.5 ms: once
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
