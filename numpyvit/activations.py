"""Element-wise activations."""
import math

import numpy as np

from .module import Module


class GELU(Module):
    """Gaussian Error Linear Unit, tanh form (Hendrycks & Gimpel 2016):

        gelu(x) = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))

    This is PyTorch's `F.gelu(x, approximate='tanh')`, not the exact erf form.
    Forward keeps x and t = tanh(...) for backward. Any shape in, same shape out.
    """

    def __init__(self, dtype=np.float32):
        super().__init__(dtype)
        self.c = self.dtype.type(math.sqrt(2.0 / math.pi))
        self.a = self.dtype.type(0.044715)
        self.x = self.t = None

    def forward(self, x):
        self.x = x
        x2 = x * x                           # x * x, not x ** 2: a power call is ~50x slower
        self.t = np.tanh(self.c * x * (1 + self.a * x2))
        return 0.5 * x * (1 + self.t)

    def backward(self, dout):
        self.require_forward("x")
        x, t = self.x, self.t
        # d/dx [0.5 x (1 + t)] = 0.5 (1 + t)                       (x times the factor)
        #                      + 0.5 x (1 - t^2) c (1 + 3 a x^2)    (through the tanh)
        dgelu = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * self.c * (1 + 3 * self.a * x * x)
        return dout * dgelu


class Dropout(Module):
    """Inverted dropout: in training, zero each entry with probability `rate` and scale the
    survivors by 1/(1-rate), so eval needs no rescaling; the identity in eval mode or at rate 0.
    Seeded, so a run is reproducible.
    """

    def __init__(self, rate=0.0, seed=0, dtype=np.float32):
        super().__init__(dtype)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate={rate} must be in [0, 1)")
        self.rate = rate
        self.rng = np.random.default_rng(seed)
        self.mask = None
        self.active = False

    def forward(self, x):
        self.active = self.training and self.rate > 0
        if not self.active:
            return x
        keep = self.rng.random(x.shape) >= self.rate
        self.mask = keep.astype(self.dtype) / self.dtype.type(1.0 - self.rate)
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask if self.active else dout
