"""The layers of a convolutional network: convolution, batch norm and global average pooling
(its ReLU is in activations.py).

Shape legend: B batch, C channels, H, W height/width, k kernel, s stride, P padding (capital:
the project's p is the ViT's patch size), F output channels, Ho, Wo output height/width:
Ho = (H + 2P - k) // s + 1.

The convolution is computed as one large matmul ("im2col"): every k x k window of the
padded input is copied into a column, and the kernel, flattened to a (F, C*k*k) matrix,
multiplies all columns at once. Its backward pass is two more matmuls and a "col2im" that
adds each column's gradient back onto the pixels it was copied from.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .module import Module, as_generator


def conv_output_size(size, kernel_size, stride, padding):
    """Ho = (H + 2P - k) // s + 1: the number of window positions along one axis."""
    return (size + 2 * padding - kernel_size) // stride + 1


class Conv2d(Module):
    """2-D cross-correlation, as PyTorch's nn.Conv2d (square kernel, zero padding):

        y[b, f, i, j] = bias[f] + sum_{c, u, v} weight[f, c, u, v] * xpad[b, c, s*i + u, s*j + v]

    x: (B, C, H, W) -> y: (B, F, Ho, Wo); weight (F, C, k, k), bias (F,).

    Init: He (Kaiming) normal for ReLU networks (He et al. 2015, "Delving Deep into
    Rectifiers", section 2.2): weight ~ Normal(0, std^2) with std = sqrt(2 / fan_in),
    fan_in = C*k*k, so the activations keep their scale through conv + ReLU. (PyTorch's
    `kaiming_normal_(w, nonlinearity='relu')`; torchvision's ResNet uses the fan_out variant,
    which differs only in the divisor.) The bias, if any, starts at zero. `rng` is required:
    an int seed or the Generator the weight is drawn from.

    Forward keeps the im2col matrix `cols` (C*k*k, B*Ho*Wo), all that backward needs.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 *, rng=None, dtype=np.float32):
        super().__init__(dtype)
        for name, value, low in (("in_channels", in_channels, 1), ("out_channels", out_channels, 1),
                                 ("kernel_size", kernel_size, 1), ("stride", stride, 1),
                                 ("padding", padding, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"Conv2d {name}={value!r} must be an integer >= {low}")
        rng = as_generator(rng, "Conv2d")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        fan_in = in_channels * kernel_size * kernel_size
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.add_param("weight", np.sqrt(2.0 / fan_in) * rng.standard_normal(shape))
        if bias:
            self.add_param("bias", np.zeros(out_channels))
        self.cols = self.x_shape = None

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d expects inputs of shape (B, {self.in_channels}, H, W), "
                             f"got {x.shape}")
        B, C, H, W = x.shape
        F, k, s, P = self.out_channels, self.kernel_size, self.stride, self.padding
        Ho, Wo = conv_output_size(H, k, s, P), conv_output_size(W, k, s, P)
        if Ho < 1 or Wo < 1:
            raise ValueError(f"Conv2d: input {H}x{W} with padding={P} is smaller than "
                             f"kernel_size={k}")
        self.x_shape = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P))) if P else x   # (B, C, H+2P, W+2P)
        # every k x k window, without copying: a view with two extra axes
        win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]  # (B, C, Ho, Wo, k, k)
        # im2col, the one copy: row (c, u, v) holds pixel (u, v) of channel c of every window.
        # Windows along the columns in (B, Ho, Wo) order keep the copy's inner loop Wo long.
        self.cols = win.transpose(1, 4, 5, 0, 2, 3).reshape(C * k * k, B * Ho * Wo)
        w = self.params["weight"].reshape(F, C * k * k)                # (F, C*k*k), a view
        y = w @ self.cols                                              # (F, B*Ho*Wo)
        if "bias" in self.params:
            y += self.params["bias"][:, None]
        y = y.reshape(F, B, Ho, Wo).transpose(1, 0, 2, 3)              # (B, F, Ho, Wo)
        return np.ascontiguousarray(y)

    def backward(self, dout):
        self.require_forward("cols")
        B, C, H, W = self.x_shape
        F, k, s, P = self.out_channels, self.kernel_size, self.stride, self.padding
        Ho, Wo = dout.shape[2:]
        dy = dout.transpose(1, 0, 2, 3).reshape(F, B * Ho * Wo)        # (F, B*Ho*Wo), copy
        w = self.params["weight"].reshape(F, C * k * k)                # (F, C*k*k), a view
        dw = self.grads["weight"].reshape(F, C * k * k)                # a view: += lands in grads
        # dL/dW = dy cols^T, computed as its transpose cols dy^T: the same product, but with
        # the longer side (C*k*k) as rows OpenBLAS runs it 2-15x faster (measured)
        dw += (self.cols @ dy.T).T
        if "bias" in self.params:
            self.grads["bias"] += dy.sum(axis=1)                       # dL/db = sum over positions
        dcols = (w.T @ dy).reshape(C, k, k, B, Ho, Wo)                 # dL/dcols = W^T dy
        # col2im: pixel (s*i + u, s*j + v) was copied into window (i, j) at offset (u, v),
        # so its gradient is the sum over all such copies. One strided slice-add per kernel
        # offset (k*k of them, not one per pixel); windows overlap when s < k, hence +=.
        # Accumulated in (C, B, ...) order, the layout of dcols, so each add reads contiguously.
        dxp = np.zeros((C, B, H + 2 * P, W + 2 * P), dtype=dcols.dtype)  # (C, B, H+2P, W+2P)
        for u in range(k):
            for v in range(k):
                dxp[:, :, u:u + s * Ho:s, v:v + s * Wo:s] += dcols[:, u, v]   # (C, B, Ho, Wo)
        dx = dxp[:, :, P:P + H, P:P + W].transpose(1, 0, 2, 3)         # (B, C, H, W), unpadded
        return np.ascontiguousarray(dx)


class BatchNorm2d(Module):
    """Batch normalisation per channel (Ioffe & Szegedy 2015, algorithm 1), as nn.BatchNorm2d:

        y = (x - mean) / sqrt(var + eps) * weight + bias      (mean, var per channel)

    x: (B, C, H, W) -> y: (B, C, H, W); weight, bias (C,).

    Training mode normalises with the batch statistics over (B, H, W) (biased variance)
    and updates the buffers running_mean, running_var as PyTorch does:
        running = (1 - momentum) * running + momentum * batch_statistic,
    with the unbiased variance (times n / (n - 1), n = B*H*W) for running_var.
    Eval mode normalises with the running statistics. (PyTorch's num_batches_tracked is
    left out: it only matters for momentum=None, a cumulative average we do not offer.)

    Forward keeps `xhat` (the normalised input), `rstd` = 1 / sqrt(var + eps) and which
    statistics it used (`used_batch_stats`), so backward matches the forward it follows.
    """

    def __init__(self, channels, eps=1e-5, momentum=0.1, dtype=np.float32):
        super().__init__(dtype)
        if not eps > 0:
            raise ValueError(f"BatchNorm2d eps={eps!r} must be positive")
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"BatchNorm2d momentum={momentum!r} must be in (0, 1]")
        self.channels, self.eps, self.momentum = channels, eps, momentum
        self.add_param("weight", np.ones(channels))
        self.add_param("bias", np.zeros(channels))
        self.buffers["running_mean"] = np.zeros(channels, dtype=self.dtype)
        self.buffers["running_var"] = np.ones(channels, dtype=self.dtype)
        self.xhat = self.rstd = None
        self.used_batch_stats = None

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"BatchNorm2d expects inputs of shape (B, {self.channels}, H, W), "
                             f"got {x.shape}")
        B, C, H, W = x.shape
        self.used_batch_stats = self.training
        if self.training:
            n = B * H * W
            if n < 2:
                raise ValueError(f"BatchNorm2d in training mode needs more than one value per "
                                 f"channel, got input shape {x.shape}")
            mean = x.mean(axis=(0, 2, 3))                              # (C,)
            xc = x - mean[:, None, None]                               # (B, C, H, W)
            var = np.mean(xc * xc, axis=(0, 2, 3))                     # (C,), biased
            m = self.momentum
            # in place, so references to the buffers (state_dict loading, optimisers) stay valid
            running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
            running_mean *= 1 - m
            running_mean += m * mean
            running_var *= 1 - m
            running_var += (m * n / (n - 1)) * var                     # unbiased, as PyTorch
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            xc = x - mean[:, None, None]                               # (B, C, H, W)
        self.rstd = 1.0 / np.sqrt(var + self.dtype.type(self.eps))     # (C,)
        self.xhat = xc * self.rstd[:, None, None]                      # (B, C, H, W)
        return self.xhat * self.params["weight"][:, None, None] + self.params["bias"][:, None, None]

    def backward(self, dout):
        self.require_forward("xhat")
        B, C, H, W = dout.shape
        sum_dout = dout.sum(axis=(0, 2, 3))                            # (C,)
        sum_dout_xhat = np.sum(dout * self.xhat, axis=(0, 2, 3))       # (C,)
        self.grads["weight"] += sum_dout_xhat                          # dL/dweight = sum dy xhat
        self.grads["bias"] += sum_dout                                 # dL/dbias = sum dy
        scale = (self.params["weight"] * self.rstd)[:, None, None]     # (C, 1, 1)
        if not self.used_batch_stats:
            # eval: mean and var are constants, y is affine in x
            return dout * scale
        # training: with dxhat = dy * weight, dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat xhat)),
        # means over (B, H, W). The second term is the gradient through the batch mean,
        # the third through the batch variance; both means reuse the sums above.
        n = B * H * W
        mean_dout = (sum_dout / n)[:, None, None]                      # (C, 1, 1)
        mean_dout_xhat = (sum_dout_xhat / n)[:, None, None]            # (C, 1, 1)
        return scale * (dout - mean_dout - self.xhat * mean_dout_xhat)


class GlobalAvgPool2d(Module):
    """y[b, c] = mean over (h, w) of x[b, c, h, w]:  (B, C, H, W) -> (B, C).

    Backward spreads each gradient evenly: dx[b, c, h, w] = dy[b, c] / (H*W).
    """

    def __init__(self, dtype=np.float32):
        super().__init__(dtype)
        self.x_shape = None

    def forward(self, x):
        self.x_shape = x.shape
        return x.mean(axis=(2, 3))                                     # (B, C)

    def backward(self, dout):
        self.require_forward("x_shape")
        B, C, H, W = self.x_shape
        # a real array, not a read-only broadcast view, so the caller may add into it
        return np.repeat(dout / (H * W), H * W, axis=1).reshape(B, C, H, W)
