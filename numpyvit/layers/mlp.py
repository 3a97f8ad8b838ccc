"""The transformer's position-wise feed-forward network.

Shape legend: B batch, N tokens, D embedding width, M hidden (MLP) width.
"""
import numpy as np

from .activations import GELU, Dropout
from .linear import Linear
from .module import Module, as_generator


class Mlp(Module):
    """y = fc2(gelu(fc1(x))), applied to every token independently.

    x: (B, N, D) -> (B, N, M) -> (B, N, D). Dropout (rate from the config, 0 by default)
    follows the activation and fc2, as in timm. `rng` (required): an int seed or a
    Generator; fc1, then fc2, draw from it in turn.
    """

    def __init__(self, dim, hidden_dim, dropout=0.0, *, rng=None, seed=0, dtype=np.float32):
        super().__init__(dtype)
        rng = as_generator(rng, "Mlp")          # one generator: fc2 continues where fc1 ended
        self.fc1 = Linear(dim, hidden_dim, rng=rng, dtype=dtype)
        self.act = GELU(dtype=dtype)
        self.drop1 = Dropout(dropout, seed=seed, dtype=dtype)
        self.fc2 = Linear(hidden_dim, dim, rng=rng, dtype=dtype)
        self.drop2 = Dropout(dropout, seed=seed + 1, dtype=dtype)

    def forward(self, x):
        x = self.drop1.forward(self.act.forward(self.fc1.forward(x)))   # (B, N, M)
        return self.drop2.forward(self.fc2.forward(x))                  # (B, N, D)

    def backward(self, dout):
        dout = self.fc2.backward(self.drop2.backward(dout))             # (B, N, M)
        return self.fc1.backward(self.act.backward(self.drop1.backward(dout)))  # (B, N, D)
