"""What a model has learned, measured (analysis.py, NumPy only) and drawn (plots.py, matplotlib);
and the model itself drawn from its config (diagrams.py).

Imports only the layers, the models, numpy and matplotlib: never the training code.
"""
