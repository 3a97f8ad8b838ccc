"""What a model has learned, measured (analysis.py, NumPy only) and drawn (plots.py, matplotlib);
the model itself drawn from its config (diagrams.py); and the report of `analyze` (report.py).

Imports the layers, the models, data, files, numpy and matplotlib: never the training code.
"""
