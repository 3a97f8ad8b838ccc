"""The same Vision Transformer in plain PyTorch eager mode: the reference for the parity test
and the speed benchmark. Built from torch's own nn.Conv2d, nn.Linear, nn.LayerNorm,
F.gelu (the tanh or the erf form, as the config's act) and softmax, with timm's parameter names, so numpyvit's
state_dict loads into it with nothing but torch.from_numpy. torch is optional: only the
parity test and the benchmark import this file; the numpyvit package never does.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class TorchAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                          # (B, h, N, Dh)
        att = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(B, N, D))


class TorchMlp(nn.Module):
    def __init__(self, dim, hidden, act="gelu_tanh"):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.approximate = {"gelu_tanh": "tanh", "gelu": "none"}[act]

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate=self.approximate))


class TorchBlock(nn.Module):
    def __init__(self, dim, heads, mlp_dim, eps, act="gelu_tanh"):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = TorchAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = TorchMlp(dim, mlp_dim, act)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TorchViT(nn.Module):
    """numpyvit's VisionTransformer for a given ViTConfig."""

    def __init__(self, config):
        super().__init__()
        c = config
        self.pool = c.pool
        N = c.num_patches + 1
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(c.in_channels, c.dim, c.patch_size, stride=c.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.dim))
        if c.pos_embed == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, N, c.dim))
        else:
            from numpyvit.layers.patch_embed import sincos_pos_embed
            grid = c.image_size // c.patch_size
            self.register_buffer("fixed_pos_embed", torch.from_numpy(sincos_pos_embed(c.dim, grid, np.float64)),
                                 persistent=False)
        self.blocks = nn.ModuleList(TorchBlock(c.dim, c.heads, c.mlp_dim, c.norm_eps, c.act) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim, eps=c.norm_eps)
        self.head = nn.Linear(c.dim, c.num_classes)

    def forward(self, images):
        x = self.patch_embed.proj(images).flatten(2).transpose(1, 2)      # (B, N-1, D)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + (self.pos_embed if hasattr(self, "pos_embed") else self.fixed_pos_embed)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return self.head(x[:, 0] if self.pool == "cls" else x[:, 1:].mean(dim=1))


def torch_vit_from_numpyvit(model, dtype=torch.float32):
    """A TorchViT holding exactly the weights of a numpyvit VisionTransformer."""
    ref = TorchViT(model.config).to(dtype)
    ref.load_state_dict({k: torch.from_numpy(v).to(dtype) for k, v in model.state_dict().items()})
    return ref
