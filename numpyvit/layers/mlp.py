"""The transformer's position-wise feed-forward network.

Shape legend: B batch, N tokens, D embedding width, M hidden (MLP) width.
"""
import numpy as np

from .activations import ACTIVATIONS
from .linear import Linear
from .module import Module, as_generator


class Mlp(Module):
    """y = fc2(act(fc1(x))), applied to every token independently.

    x: (B, N, D) -> (B, N, M) -> (B, N, D). `act` names the activation: 'gelu_tanh' (the tanh
    form, GELU) or 'gelu' (the exact erf form, GELUErf). `rng` (required): an int seed or a
    Generator; fc1, then fc2, draw from it in turn.
    """

    def __init__(self, dim, hidden_dim, act="gelu_tanh", *, rng=None, dtype=np.float32):
        super().__init__(dtype)
        if act not in ACTIVATIONS:
            raise ValueError(f"Mlp act={act!r} is not one of {sorted(ACTIVATIONS)}")
        rng = as_generator(rng, "Mlp")          # one generator: fc2 continues where fc1 ended
        self.fc1 = Linear(dim, hidden_dim, rng=rng, dtype=dtype)
        self.act = ACTIVATIONS[act](dtype=dtype)
        self.fc2 = Linear(hidden_dim, dim, rng=rng, dtype=dtype)

    def forward(self, x):
        x = self.act.forward(self.fc1.forward(x))                       # (B, N, M)
        return self.fc2.forward(x)                                      # (B, N, D)

    def backward(self, dout):
        dout = self.fc2.backward(dout)                                  # (B, N, M)
        return self.fc1.backward(self.act.backward(dout))               # (B, N, D)
