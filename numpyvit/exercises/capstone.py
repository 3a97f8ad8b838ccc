"""The capstone: the package's ViT with your functions inside it.

    model = your_vit(functions, config, seed=0)     # functions: name -> your function (globals())
    loss = YourCrossEntropy(functions)

`your_vit` builds the package's VisionTransformer (the same weights as
VisionTransformer(config, seed)) and swaps each of its layers for a subclass that calls your
functions where you wrote one: every backward pass but the patch projection's input gradient
(no exercise asks for it), and the forward passes of the patches and of attention. The
layers' other forward passes, the optimiser and the training loop stay the package's.

    the package's layer    your functions inside it
    Patchify               patchify (forward)
    Linear                 linear_backward
    LayerNorm              layernorm_backward
    GELU                   gelu_backward
    Attention              split_heads, attention_forward, merge_heads (forward), and
                           split_heads, attention_backward (with your softmax_backward), merge_heads
    VisionTransformer      embed_backward (the class token's and position embedding's gradients)
    SoftmaxCrossEntropy    cross_entropy_backward

Shape legend: B batch, N tokens, D width, h heads, Dh head width, K classes.
"""
import numpy as np

from ..layers.activations import GELU
from ..layers.attention import Attention
from ..layers.linear import Linear
from ..layers.loss import SoftmaxCrossEntropy
from ..layers.module import Module
from ..layers.norm import LayerNorm
from ..layers.patch_embed import Patchify
from ..models.vit import VisionTransformer
from . import EXERCISES

# The functions the capstone's model calls (softmax_backward through your attention_backward).
NEEDED = ("patchify", "split_heads", "attention_forward", "merge_heads", "linear_backward",
          "cross_entropy_backward", "softmax_backward", "layernorm_backward", "gelu_backward",
          "attention_backward", "embed_backward")


def missing(functions):
    """The NEEDED functions that are not ready, each with why: [(name, 'not written yet'), ...].
    A function is ready when it passes its check."""
    not_ready = []
    for name in NEEDED:
        fn = functions.get(name)
        if fn is None:
            not_ready.append((name, "not defined"))
            continue
        passed, lines = EXERCISES[name].run(fn)
        if not passed:
            written = not lines[0].startswith("not implemented")
            not_ready.append((name, "does not pass its check yet" if written else "not written yet"))
    return not_ready


def _keeping_dtype(name, fn):
    """fn, raising a clear error when it returns arrays of another dtype than its first argument
    (training runs in float32, the gradient check in float64: neither may change on the way)."""
    def call(*args):
        result = fn(*args)
        for item in result if isinstance(result, (tuple, list)) else (result,):
            if item.dtype != args[0].dtype:
                raise TypeError(f"your {name} returned {item.dtype} for {args[0].dtype} inputs: "
                                f"keep the input's dtype")
        return result
    return call


class YourPatchify(Patchify):
    def forward(self, x):
        self.image_shape = x.shape
        return self.yours["patchify"](x, self.p)             # (B, P, C*p*p)
    # backward: the package's, folding the patches back into images (no exercise asks for it)


class YourLinear(Linear):
    def backward(self, dout):
        self.require_forward("x")
        W = self.params["weight"].reshape(self.out_features, -1)    # (out, in), the patch kernel flat
        dx, dW, db = self.yours["linear_backward"](self.x, W, dout)
        self.grads["weight"] += dW.reshape(self.grads["weight"].shape)
        self.grads["bias"] += db
        return dx


class YourLayerNorm(LayerNorm):
    def forward(self, x):
        self.x = x                                           # your backward recomputes from x
        return super().forward(x)

    def backward(self, dout):
        self.require_forward("x")
        dx, dweight, dbias = self.yours["layernorm_backward"](self.x, self.params["weight"], dout, self.eps)
        self.grads["weight"] += dweight
        self.grads["bias"] += dbias
        return dx


class YourGELU(GELU):
    def backward(self, dout):
        self.require_forward("x")
        return self.yours["gelu_backward"](self.x, dout)


class YourAttention(Attention):
    def forward(self, x):
        split, h = self.yours["split_heads"], self.heads
        qkv = self.qkv.forward(x)                            # (B, N, 3D): q | k | v
        self.q, self.k, self.v = (split(part, h) for part in np.split(qkv, 3, axis=-1))  # (B, h, N, Dh)
        out = self.yours["attention_forward"](self.q, self.k, self.v)                  # (B, h, N, Dh)
        return self.proj.forward(self.yours["merge_heads"](out))                       # (B, N, D)

    def backward(self, dout):
        self.require_forward("q")
        merge = self.yours["merge_heads"]
        # a rearrangement's backward is the inverse rearrangement: a merge's is a split ...
        dout = self.yours["split_heads"](self.proj.backward(dout), self.heads)          # (B, h, N, Dh)
        dq, dk, dv = self.yours["attention_backward"](self.q, self.k, self.v, dout)
        # ... and a split's is a merge
        dqkv = np.concatenate([merge(dq), merge(dk), merge(dv)], axis=-1)               # (B, N, 3D)
        return self.qkv.backward(dqkv)                                                  # (B, N, D)


class YourVisionTransformer(VisionTransformer):
    def backward(self, dlogits):
        # VisionTransformer.backward (models/vit.py) for pool='cls' and a learned position
        # embedding, its last step, the embedding's gradients, yours
        self.require_forward("image_shape")
        dx = np.zeros(self.tokens_shape, dtype=self.dtype)            # (B, N, D)
        dx[:, 0] = self.head.backward(dlogits)                        # the head read the class token
        dx = self.norm.backward(dx)
        for block in reversed(self.blocks):
            dx = block.backward(dx)
        dcls_token, dpos_embed = self.yours["embed_backward"](dx)
        self.grads["cls_token"] += dcls_token
        self.grads["pos_embed"] += dpos_embed
        return self.patch_embed.backward(dx[:, 1:])                   # (B, C, H, W)


YOURS = {Patchify: YourPatchify, Linear: YourLinear, LayerNorm: YourLayerNorm, GELU: YourGELU,
         Attention: YourAttention, VisionTransformer: YourVisionTransformer}


def _swap(module, yours):
    """module re-made as its YOURS subclass, the same object state (weights and settings) with
    your functions attached as `yours`; its children likewise, all the way down."""
    if type(module) in YOURS:
        swapped = object.__new__(YOURS[type(module)])     # no __init__: nothing is drawn again
        vars(swapped).update(vars(module))
        swapped.yours = yours
        module = swapped
    for name, value in vars(module).items():
        if isinstance(value, Module):
            setattr(module, name, _swap(value, yours))
        elif isinstance(value, list) and value and all(isinstance(m, Module) for m in value):
            value[:] = [_swap(m, yours) for m in value]
    return module


def _your_functions(functions):
    """The NEEDED functions from `functions`, each made to keep its input's dtype."""
    absent = [name for name in NEEDED if name not in functions]
    if absent:
        raise KeyError(f"functions lacks {', '.join(absent)}; the capstone needs {', '.join(NEEDED)}")
    return {name: _keeping_dtype(name, functions[name]) for name in NEEDED}


def your_vit(functions, config=None, seed=0, dtype=np.float32):
    """VisionTransformer(config, seed, dtype), its layers calling your functions (a dict
    name -> function with every NEEDED name, e.g. the notebook's globals()). Requires
    pool='cls' and a learned position embedding, the model embed_backward is written for."""
    model = VisionTransformer(config, seed, dtype)
    if model.config.pool != "cls" or model.config.pos_embed != "learned":
        raise ValueError(f"your_vit needs pool='cls' and pos_embed='learned', got "
                         f"pool={model.config.pool!r}, pos_embed={model.config.pos_embed!r}")
    return _swap(model, _your_functions(functions))


class YourCrossEntropy(SoftmaxCrossEntropy):
    """The package's loss (no label smoothing) with your cross_entropy_backward."""

    def __init__(self, functions):
        super().__init__()
        self.yours = _your_functions(functions)
        self.logits = self.labels = None

    def forward(self, logits, labels):
        self.logits, self.labels = logits, labels
        return super().forward(logits, labels)

    def backward(self, dloss=1.0):
        dlogits = self.yours["cross_entropy_backward"](self.logits, self.labels)   # (B, K)
        return dlogits * dlogits.dtype.type(dloss)


class WithLoss(Module):
    """A model and its loss as one module, forward(images, labels) -> the scalar loss, so that
    numpyvit.gradcheck checks the whole chain, loss included. Its parameters are the model's
    ('model.blocks.0.attn.qkv.weight', ...)."""

    def __init__(self, model, loss):
        super().__init__(model.dtype)
        self.model, self.loss = model, loss

    def forward(self, images, labels):
        return self.loss.forward(self.model.forward(images), labels)

    def backward(self, dloss):
        return self.model.backward(self.loss.backward(dloss))
