"""Layer normalisation over the last axis (Ba, Kiros & Hinton 2016).

Shape legend: B batch, N tokens, D embedding width.
"""
import numpy as np

from .module import Module


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the last axis.

    x: (..., D) -> y: (..., D); weight and bias (D,). Forward keeps the normalised input
    `xhat` and the reciprocal standard deviation `rstd`, all that backward needs.
    """

    def __init__(self, dim, eps=1e-6, dtype=np.float32):
        super().__init__(dtype)
        self.dim, self.eps = dim, eps
        self.add_param("weight", np.ones(dim))
        self.add_param("bias", np.zeros(dim))
        self.xhat = self.rstd = None

    def forward(self, x):
        mean = x.mean(axis=-1, keepdims=True)                       # (..., 1)
        xc = x - mean
        var = np.mean(xc * xc, axis=-1, keepdims=True)              # (..., 1), biased as in PyTorch
        self.rstd = 1.0 / np.sqrt(var + self.dtype.type(self.eps))  # (..., 1)
        self.xhat = xc * self.rstd                                  # (..., D)
        return self.xhat * self.params["weight"] + self.params["bias"]

    def backward(self, dout):
        self.require_forward("xhat")
        D = self.dim
        rows = dout.reshape(-1, D)
        xhat = self.xhat.reshape(-1, D)
        self.grads["weight"] += np.sum(rows * xhat, axis=0)
        self.grads["bias"] += rows.sum(axis=0)
        dxhat = dout * self.params["weight"]                        # (..., D)
        # dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)):
        #   the two means are the gradients through the mean and through the variance.
        mean_dxhat = dxhat.mean(axis=-1, keepdims=True)
        mean_dxhat_xhat = np.mean(dxhat * self.xhat, axis=-1, keepdims=True)
        return self.rstd * (dxhat - mean_dxhat - self.xhat * mean_dxhat_xhat)
