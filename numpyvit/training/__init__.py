"""Everything that turns data into a trained model, and keeps it.

trainer.py (TrainConfig, the presets, the loop, evaluate), run.py (what a run carries from step
to step: RunState, its checkpoint, progress, Ctrl-C), optim.py (AdamW, SGD, the schedule,
clipping, the weight average), checkpoint.py and dynamics.py.
Never imports parallel, insight, experiments, the app or the command line: the trainer
receives the net it runs and draws nothing.
"""
