"""The layers: each a forward pass and its backward pass written by hand, NumPy only.

module.py (the Module protocol and initialisers), linear.py, norm.py, activations.py (GELU,
ReLU, and Dropout, which no model uses), patch_embed.py, attention.py (with softmax and its
backward), mlp.py, block.py, conv.py (Conv2d, BatchNorm2d, global pooling) and loss.py.
Imports only numpy and other layers.
"""
