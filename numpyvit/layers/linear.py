"""Fully connected layer: y = x W^T + b.

Shape legend: B batch, N tokens, `in`/`out` the feature widths.
"""
import numpy as np

from .module import Module, as_generator, trunc_normal


def column_sums(x2):
    """Sum over the rows of a 2-D array, (R, D) -> (D,), as a vector-matrix product with a row
    of ones: BLAS does it ~4x faster than x2.sum(axis=0) for the (B*N, D) arrays of a ViT."""
    return np.ones(x2.shape[0], dtype=x2.dtype) @ x2


class Linear(Module):
    """y = x W^T + b, applied to the last axis of x.

    x: (..., in) -> y: (..., out); weight (out, in), bias (out,), as in PyTorch's nn.Linear.
    `weight_shape` stores the weight in another shape of the same size, (out, *in_shape):
    the patch projection keeps a convolution kernel (D, C, p, p), timm's layout. It is used
    flattened to (out, in), a view, so the two shapes share one array.
    Init (timm's): weight ~ truncated Normal(0, 0.02^2) drawn from `rng` (required: an int
    seed or a Generator), bias 0.
    """

    def __init__(self, in_features, out_features, bias=True, *, rng=None, dtype=np.float32,
                 weight_shape=None):
        super().__init__(dtype)
        rng = as_generator(rng, "Linear")
        self.in_features, self.out_features = in_features, out_features
        weight_shape = (out_features, in_features) if weight_shape is None else tuple(weight_shape)
        if weight_shape[0] != out_features or np.prod(weight_shape[1:]) != in_features:
            raise ValueError(f"weight_shape={weight_shape} does not hold an ({out_features}, "
                             f"{in_features}) weight: expected ({out_features}, ...) with "
                             f"{in_features} entries per row")
        self.add_param("weight", trunc_normal(rng, weight_shape))
        if bias:
            self.add_param("bias", np.zeros(out_features))
        self.x = None

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear expects inputs with last dimension {self.in_features}, "
                             f"got shape {x.shape}")
        self.x = x
        # one 2-D matmul over all rows: far faster than a batched 3-D matmul with small matrices
        x2 = x.reshape(-1, self.in_features)                        # (B*N, in)
        y = x2 @ self.params["weight"].reshape(self.out_features, -1).T  # (B*N, out)
        if "bias" in self.params:
            y += self.params["bias"]
        return y.reshape(*x.shape[:-1], self.out_features)          # (..., out)

    def backward(self, dout):
        self.require_forward("x")
        x2 = self.x.reshape(-1, self.in_features)                   # (B*N, in)
        dy = dout.reshape(-1, self.out_features)                    # (B*N, out)
        w = self.params["weight"].reshape(self.out_features, -1)    # (out, in), a view
        dw = self.grads["weight"].reshape(self.out_features, -1)    # a view: += lands in grads
        dw += dy.T @ x2                                             # dL/dW = dy^T x
        if "bias" in self.params:
            self.grads["bias"] += column_sums(dy)                   # dL/db = sum over rows of dy
        dx = dy @ w                                                 # dL/dx = dy W
        return dx.reshape(self.x.shape)
