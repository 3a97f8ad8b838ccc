"""Everything that turns data into a trained model, and keeps it.

mnist.py (the IDX format, verified fetching), data.py (normalise, batches, subsets,
synthetic digits), augment.py, optim.py, checkpoint.py, parallel.py (each batch split across
the cores) and trainer.py (TrainConfig, the loop, evaluate).
Never imports insight, experiments or the command line: the trainer draws nothing.
"""
