"""Element-wise activations (GELU, tanh or erf form, for the ViT; ReLU for the ResNet) and
dropout (used by no model)."""
import math

import numpy as np

from .module import Module, as_generator


class GELU(Module):
    """Gaussian Error Linear Unit, tanh form (Hendrycks & Gimpel 2016), numpyvit's default:

        gelu(x) = 0.5 x (1 + t),   t = tanh(u),   u = c (x + a x^3) = c x (1 + a x^2),
        c = sqrt(2/pi), a = 0.044715

    This is PyTorch's `F.gelu(x, approximate='tanh')` (config act='gelu_tanh'); the exact
    form x Phi(x) is GELUErf below. Forward keeps x and t for backward. Any shape in, same
    shape out.
    """

    def __init__(self, dtype=np.float32):
        super().__init__(dtype)
        self.c = self.dtype.type(math.sqrt(2.0 / math.pi))
        self.a = self.dtype.type(0.044715)
        self.x = self.t = None

    def forward(self, x):
        self.x = x
        # x * x, not x ** 2 or x ** 3: a power call is ~50x slower than a multiply. Each chain
        # starts from a fresh temporary (x * x, t + 1) and puts its constants last, so that
        # NumPy computes the rest of it in that one buffer, as fast as in-place steps.
        u = (x * x * self.a + 1) * x * self.c     # u = c x (1 + a x^2)
        self.t = t = np.tanh(u, out=u)            # t = tanh(u), in u's buffer (u is not needed again)
        return (t + 1) * x * 0.5                  # 0.5 x (1 + t)

    def backward(self, dout):
        # d/dx [0.5 x (1 + t)] = 0.5 (1 + t) + 0.5 x dt/dx              (product rule)
        #   dt/dx = (1 - t^2) du/dx,  du/dx = c (1 + 3 a x^2)           (chain rule, tanh' = 1 - tanh^2)
        self.require_forward("x")
        x, t = self.x, self.t
        du_dx = (x * x * (3 * self.a) + 1) * self.c
        # dy/dx = 0.5 (1 + t + x dt/dx), dt/dx = (1 - t^2) du/dx: one expression, one buffer
        dy_dx = (x * ((1 - t * t) * du_dx) + t + 1) * 0.5
        return np.multiply(dout, dy_dx, out=dy_dx)   # dL/dx = dL/dy * dy/dx, in dy_dx's buffer


# --- the exact GELU and the error function it needs -----------------------------------------
# erf's series, in bands of |x|: (upper end, terms). The last term kept is < 1e-17 of the sum
# at each band's upper end (term 20 at |x| = 1, term 39 at 2.5), so small inputs, the
# common ones, take half the work.
_SERIES_BANDS = ((1.0, 20), (2.5, 40))
# the series' coefficients 2^n / (1 * 3 * ... * (2n + 1)), n = 0, 1, ...
_SERIES_COEFFS = np.cumprod([1.0] + [2.0 / (2 * n + 1) for n in range(1, 40)])
_CF_TERMS = 40      # continued-fraction levels for |x| >= 2.5: there 38 already agree with 1000
                    # to the last bit, and the fraction converges faster as |x| grows


def _erf_series(z, terms):
    """erf(z) = 2/sqrt(pi) z exp(-z^2) sum_n c_n z^(2n), c_n = 2^n / (1 * 3 * ... * (2n+1)),
    z >= 0; the polynomial in z^2 by Horner's rule, two in-place passes per term."""
    z2 = z * z
    p = np.full_like(z, _SERIES_COEFFS[terms - 1])
    for c in _SERIES_COEFFS[terms - 2::-1]:
        p *= z2
        p += c
    return (2 / math.sqrt(math.pi)) * z * np.exp(-z2) * p


def _erfc_continued_fraction(z):
    """erfc(z) = exp(-z^2)/sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))), z > 0,
    evaluated from the innermost level (the k-th partial numerator is k/2) outwards."""
    frac = z.copy()                               # the innermost level: z
    for k in range(_CF_TERMS, 0, -1):
        np.divide(k / 2, frac, out=frac)          # (k/2) / (the level below) ...
        frac += z                                 # ... + z: this level
    return np.exp(-z * z) / (math.sqrt(math.pi) * frac)


def erf(x):
    """The error function erf(x) = 2/sqrt(pi) * integral_0^x exp(-s^2) ds, element-wise, to
    about double precision (max abs error 8e-16 against math.erf on [-10, 10]; see the tests).

    NumPy has no vectorised erf (math.erf takes one number at a time, and scipy is not a
    dependency). Computed in float64 and returned in x's dtype; erf is odd, so z = |x|:

    - z < 2.5: the series without alternating signs (Abramowitz & Stegun 7.1.6)
          erf(z) = 2/sqrt(pi) exp(-z^2) sum_{n>=0} 2^n z^(2n+1) / (1 * 3 * ... * (2n+1)),
      every term positive, so no cancellation; 20 terms below z = 1, 40 up to 2.5.
    - z >= 2.5: erf = 1 - erfc(z), erfc from its continued fraction (A&S 7.1.14)
          erfc(z) = exp(-z^2)/sqrt(pi) * 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + ...))))).
      There erfc <= 4e-4, so its small relative error is a tiny absolute one on erf.
    """
    x = np.asarray(x)
    z = np.abs(x).astype(np.float64)
    out = np.empty_like(z)
    low = 0.0
    for high, terms in _SERIES_BANDS:
        band = (z >= low) & (z < high)
        if band.any():
            out[band] = _erf_series(z[band], terms)
        low = high
    tail = ~(z < low)                             # z >= 2.5, and NaN (which stays NaN)
    if tail.any():
        out[tail] = 1 - _erfc_continued_fraction(z[tail])
    return (np.sign(x) * out).astype(x.dtype if x.dtype.kind == "f" else np.float64)


class GELUErf(Module):
    """Gaussian Error Linear Unit, exact form (Hendrycks & Gimpel 2016), config act='gelu':

        gelu(x) = x Phi(x),   Phi(x) = 0.5 (1 + erf(x / sqrt(2))),   the standard normal CDF

    PyTorch's `F.gelu(x)` and timm's default activation. Its derivative is
        d/dx [x Phi(x)] = Phi(x) + x phi(x),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)   (the pdf).
    Forward keeps x and Phi for backward. Any shape in, same shape out; slower than the tanh
    form (erf is a 20- to 40-step series or continued fraction, in float64).
    """

    def __init__(self, dtype=np.float32):
        super().__init__(dtype)
        self.x = self.Phi = None

    def forward(self, x):
        self.x = x
        self.Phi = 0.5 * (1 + erf(x * self.dtype.type(1 / math.sqrt(2))))
        return x * self.Phi

    def backward(self, dout):
        self.require_forward("x")
        x = self.x
        phi = np.exp(-0.5 * (x * x)) * self.dtype.type(1 / math.sqrt(2 * math.pi))
        return dout * (self.Phi + x * phi)


# config name -> activation class; the names are PyTorch's and timm's
ACTIVATIONS = {"gelu_tanh": GELU, "gelu": GELUErf}


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
