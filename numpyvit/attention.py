"""Multi-head self-attention (Vaswani et al. 2017; ViT paper, appendix A).

Shape legend: B batch, N tokens, D embedding width, h heads, Dh = D/h head width.
"""
import numpy as np

from .activations import Dropout
from .linear import Linear
from .module import Module


class Attention(Module):
    """y = proj(concat_heads(softmax(q k^T * scale) v)), with q, k, v = split(qkv(x)).

    x: (B, N, D) -> y: (B, N, D). `qkv` is one fused Linear D -> 3D whose output splits as
    (3, h, Dh) in that order (timm's layout); scale = Dh^-0.5 keeps the logits' variance
    near 1 so the softmax does not saturate. All heads run as one batched matmul, heads
    being a batch dimension. The last attention weights stay in `self.att` (B, h, N, N).
    """

    def __init__(self, dim, heads, dropout=0.0, rng=None, seed=0, dtype=np.float32):
        super().__init__(dtype)
        if dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.dtype.type(self.head_dim ** -0.5)
        self.qkv = Linear(dim, 3 * dim, rng=rng, dtype=dtype)
        self.proj = Linear(dim, dim, rng=rng, dtype=dtype)
        self.proj_drop = Dropout(dropout, seed=seed, dtype=dtype)
        self.q = self.k = self.v = self.att = None

    def forward(self, x):
        B, N, D = x.shape
        h, Dh = self.heads, self.head_dim
        qkv = self.qkv.forward(x).reshape(B, N, 3, h, Dh)          # (B, N, 3, h, Dh)
        qkv = qkv.transpose(2, 0, 3, 1, 4)                         # (3, B, h, N, Dh)
        self.q, self.k, self.v = qkv[0], qkv[1], qkv[2]            # each (B, h, N, Dh)

        scores = (self.q * self.scale) @ self.k.swapaxes(-1, -2)   # (B, h, N, N)
        # numerically stable softmax over the keys: subtracting the row max changes nothing
        scores -= scores.max(axis=-1, keepdims=True)
        att = np.exp(scores, out=scores)
        att /= att.sum(axis=-1, keepdims=True)
        self.att = att                                             # (B, h, N, N)

        out = att @ self.v                                         # (B, h, N, Dh)
        out = out.transpose(0, 2, 1, 3).reshape(B, N, D)           # (B, N, h*Dh) = (B, N, D)
        return self.proj_drop.forward(self.proj.forward(out))

    def backward(self, dout):
        self.require_forward("att")
        B, h, N, Dh = self.q.shape
        dout = self.proj.backward(self.proj_drop.backward(dout))   # (B, N, D)
        dout = dout.reshape(B, N, h, Dh).transpose(0, 2, 1, 3)     # (B, h, N, Dh)

        # out = att v
        datt = dout @ self.v.swapaxes(-1, -2)                      # (B, h, N, N)
        dv = self.att.swapaxes(-1, -2) @ dout                      # (B, h, N, Dh)
        # softmax backward, row by row: ds = att * (datt - sum_j(datt * att))
        dscores = self.att * (datt - np.sum(datt * self.att, axis=-1, keepdims=True))
        # scores = scale * q k^T
        dq = (dscores @ self.k) * self.scale                       # (B, h, N, Dh)
        dk = (dscores.swapaxes(-1, -2) @ self.q) * self.scale      # (B, h, N, Dh)

        dqkv = np.stack([dq, dk, dv])                              # (3, B, h, N, Dh)
        dqkv = dqkv.transpose(1, 3, 0, 2, 4).reshape(B, N, 3 * h * Dh)  # (B, N, 3D)
        return self.qkv.backward(dqkv)                             # (B, N, D)
