"""CPU data parallelism: DataParallel splits each batch across the cores (data_parallel.py),
on worker processes that read the weights from shared memory (workers.py).
The command line and the benchmarks build it; the trainer only receives it, as a `net`
with forward and backward like a model's.
"""
