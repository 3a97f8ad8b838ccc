"""Layer normalisation over the last axis (Ba, Kiros & Hinton 2016).

Shape legend: B batch, N tokens, D embedding width.
"""
import numpy as np

from .linear import column_sums
from .module import Module


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the last axis.

    x: (..., D) -> y: (..., D); weight and bias (D,). Forward keeps the normalised input
    `xhat` and the reciprocal standard deviation `rstd`, all that backward needs:

        dxhat = dy * weight
        dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))   (means over the last axis)

    the second term the gradient through the mean, the third through the variance.
    """

    def __init__(self, dim, eps=1e-6, dtype=np.float32):
        super().__init__(dtype)
        self.dim, self.eps = dim, eps
        self.add_param("weight", np.ones(dim))
        self.add_param("bias", np.zeros(dim))
        # row means as a matmul with a (D, 1) column of 1/D: BLAS reduces many short rows
        # several times faster than x.mean(axis=-1), whose inner loop restarts every D entries
        self.avg = np.full((dim, 1), 1.0 / dim, dtype=self.dtype)
        self.xhat = self.rstd = None

    def forward(self, x):
        D = self.dim
        x2 = x.reshape(-1, D)                                       # (R, D), R = B*N rows
        xc = x2 - x2 @ self.avg                                     # x - mean, (R, D)
        var = (xc * xc) @ self.avg                                  # (R, 1), biased as in PyTorch
        var += self.eps
        self.rstd = 1.0 / np.sqrt(var)                              # (R, 1)
        xc *= self.rstd
        self.xhat = xc                                              # (R, D)
        y = self.xhat * self.params["weight"]
        y += self.params["bias"]
        return y.reshape(x.shape)

    def backward(self, dout):
        self.require_forward("xhat")
        d2 = dout.reshape(-1, self.dim)                             # (R, D)
        xhat = self.xhat
        self.grads["weight"] += column_sums(d2 * xhat)
        self.grads["bias"] += column_sums(d2)
        dxhat = d2 * self.params["weight"]                          # dL/dxhat, (R, D)
        # dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), means over the row:
        mean_dxhat = dxhat @ self.avg                               # (R, 1), through the mean
        mean_dxhat_xhat = (dxhat * xhat) @ self.avg                 # (R, 1), through the variance
        dx = (dxhat - mean_dxhat - xhat * mean_dxhat_xhat) * self.rstd
        return dx.reshape(dout.shape)
