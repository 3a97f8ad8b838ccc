"""Element-wise activations (GELU for the ViT, ReLU for the ResNet) and dropout (used by no model)."""
import math

import numpy as np

from .module import Module, as_generator


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
        # t = tanh(c x (1 + a x^2)), built in one buffer: in-place steps save four temporaries,
        # and x * x, not x ** 2 or x ** 3: a power call is ~50x slower than a multiply
        u = x * x
        u *= self.a
        u += 1
        u *= x
        u *= self.c
        self.t = np.tanh(u, out=u)
        y = self.t + 1
        y *= x
        y *= 0.5
        return y                                  # 0.5 x (1 + t)

    def backward(self, dout):
        self.require_forward("x")
        x, t = self.x, self.t
        # d/dx [0.5 x (1 + t)] = 0.5 (1 + t)                       (x times the factor)
        #                      + 0.5 x (1 - t^2) c (1 + 3 a x^2)    (through the tanh)
        #                      = 0.5 (1 + t + x (1 - t^2) c (1 + 3 a x^2))
        d = x * x
        d *= 3 * self.a
        d += 1
        d *= self.c
        d *= x
        d *= 1 - t * t
        d += t
        d += 1
        d *= 0.5
        d *= dout
        return d


class Dropout(Module):
    """Inverted dropout (Srivastava et al. 2014): in training, y = x * mask / (1 - rate) with
    mask ~ Bernoulli(1 - rate) per entry, so E[y] = x and eval needs no rescaling; the identity
    in eval mode or at rate 0. Backward: dx = dout * mask / (1 - rate), the same mask.

    A standalone teaching layer: numpyvit's models do not use it (no preset trained with
    dropout, and a mask generator per layer would have to travel through model replicas and
    checkpoints). `rng` (required): an int seed or the Generator the masks are drawn from,
    kept as `self.rng`, so a run is reproducible.
    """

    def __init__(self, rate=0.0, *, rng=None, dtype=np.float32):
        super().__init__(dtype)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate={rate} must be in [0, 1)")
        self.rate = rate
        self.rng = as_generator(rng, "Dropout")
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


class ReLU(Module):
    """relu(x) = max(x, 0); its derivative is 1 where x > 0, else 0 (0 at x = 0, as PyTorch).

    Any shape in, same shape out. Forward keeps the boolean `mask` = x > 0.
    """

    def __init__(self, dtype=np.float32):
        super().__init__(dtype)
        self.mask = None

    def forward(self, x):
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, dout):
        self.require_forward("mask")
        return dout * self.mask
