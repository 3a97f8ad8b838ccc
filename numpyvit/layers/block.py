"""The pre-norm transformer encoder block (ViT paper, equations 2-3).

Shape legend: B batch, N tokens, D embedding width.
"""
import numpy as np

from .attention import Attention
from .mlp import Mlp
from .module import Module, as_generator
from .norm import LayerNorm


class Block(Module):
    """x = x + attn(norm1(x));  x = x + mlp(norm2(x)).   (B, N, D) -> (B, N, D)

    `act` is the MLP's activation ('gelu_tanh' or 'gelu', see Mlp). `rng` (required): an int
    seed or a Generator; attn, then mlp, draw from it in turn.
    """

    def __init__(self, dim, heads, mlp_dim, norm_eps=1e-6, act="gelu_tanh", *, rng=None,
                 dtype=np.float32):
        super().__init__(dtype)
        rng = as_generator(rng, "Block")
        self.norm1 = LayerNorm(dim, eps=norm_eps, dtype=dtype)
        self.attn = Attention(dim, heads, rng=rng, dtype=dtype)
        self.norm2 = LayerNorm(dim, eps=norm_eps, dtype=dtype)
        self.mlp = Mlp(dim, mlp_dim, act=act, rng=rng, dtype=dtype)

    def forward(self, x):
        # each branch returns a fresh array, so the residual is added into it in place
        y = self.attn.forward(self.norm1.forward(x))
        y += x                                                        # x + attn(norm1(x))
        z = self.mlp.forward(self.norm2.forward(y))
        z += y                                                        # y + mlp(norm2(y))
        return z

    def backward(self, dout):
        # each residual sum sends its gradient down both paths: the skip (identity) and the
        # branch; the input gradient is their sum. Walk the two sums in reverse order.
        dy = self.norm2.backward(self.mlp.backward(dout))
        dy += dout                                                    # through y + mlp(norm2(y))
        dx = self.norm1.backward(self.attn.backward(dy))
        dx += dy                                                      # through x + attn(norm1(x))
        return dx
