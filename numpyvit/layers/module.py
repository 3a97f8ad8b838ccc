"""The module protocol every numpyvit layer follows, and the weight initialisers.

A layer is a `Module`:
- `params` and `grads` are dicts with the same keys and shapes; grads start at zero.
- `forward(x)` computes the output and stores what `backward` needs as named attributes.
- `backward(dout)` returns the gradient with respect to the input and *adds* (`+=`) the
  parameter gradients into `grads`, so a parameter used twice collects both contributions.
- `buffers` holds state that is saved but not trained (BatchNorm's running statistics).

Child modules are found by looking at the attributes: a `Module`, or a list of them
(`blocks`), becomes part of the tree, named by its attribute (`blocks.3.attn.qkv`).
"""
import numpy as np


class Module:
    def __init__(self, dtype=np.float32):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype={self.dtype} is not supported: use np.float32 or np.float64")
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.training = True

    def add_param(self, name, value):
        """Register a parameter (cast to the module's dtype) and its zeroed gradient."""
        self.params[name] = np.ascontiguousarray(value, dtype=self.dtype)
        self.grads[name] = np.zeros_like(self.params[name])

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    def require_forward(self, *names):
        """Raise a clear error when backward runs before the forward pass saved its inputs."""
        for name in names:
            if getattr(self, name, None) is None:
                raise RuntimeError(
                    f"{type(self).__name__}.backward() called before forward(): "
                    f"nothing saved in self.{name}")

    # --- the module tree ---------------------------------------------------------------
    def children(self):
        """Yield (name, module) for direct children, in the order they were assigned."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)) and value and all(isinstance(m, Module) for m in value):
                for i, m in enumerate(value):
                    yield f"{name}.{i}", m

    def modules(self, prefix=""):
        """Yield (dotted_name, module) for this module and every descendant."""
        yield prefix, self
        for name, child in self.children():
            yield from child.modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self):
        """Yield (dotted_name, value, grad) over the whole tree, e.g. 'blocks.0.attn.qkv.weight'."""
        for prefix, m in self.modules():
            for key, value in m.params.items():
                yield (f"{prefix}.{key}" if prefix else key), value, m.grads[key]

    def named_buffers(self):
        """Yield (dotted_name, value) for every buffer in the tree."""
        for prefix, m in self.modules():
            for key, value in m.buffers.items():
                yield (f"{prefix}.{key}" if prefix else key), value

    def num_parameters(self):
        return sum(value.size for _, value, _ in self.named_parameters())

    def zero_grad(self):
        for _, _, grad in self.named_parameters():
            grad.fill(0)

    def train(self, mode=True):
        for _, m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    # --- saving and loading ------------------------------------------------------------
    def state_dict(self):
        """Copies of every parameter and buffer, keyed by its dotted name (timm's names)."""
        state = {name: value.copy() for name, value, _ in self.named_parameters()}
        state.update((name, value.copy()) for name, value in self.named_buffers())
        return state

    def load_state_dict(self, state):
        """Copy `state` into the parameters in place (so optimisers keep their references).

        Strict: a missing key, an unexpected key or a wrong shape raises an error naming it.
        """
        own = {name: value for name, value, _ in self.named_parameters()}
        own.update(self.named_buffers())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if missing or unexpected:
            raise KeyError(f"state_dict does not match the model: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        for name, value in own.items():
            new = np.asarray(state[name])
            if new.shape != value.shape:
                raise ValueError(f"state_dict['{name}'] has shape {new.shape}, "
                                 f"the model expects {value.shape}")
            value[...] = new  # casts to the model's dtype


def as_generator(rng, layer):
    """The np.random.Generator a layer draws its initial weights from.

    `rng` is an int seed (a new generator, np.random.default_rng(seed)) or a Generator, used
    as it is: a composite layer converts once and hands the same generator to its sub-layers
    in order, so each draws the values after the previous one's and no two start alike.
    There is no default: a fallback seed would give every sub-layer built without a generator
    the same numbers. `layer` names the caller in the error.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    raise TypeError(f"{layer} got rng={rng!r}: pass rng=<int seed or np.random.Generator>, "
                    f"the generator its initial weights are drawn from")


def trunc_normal(rng, shape, std=0.02, cutoff=2.0):
    """Normal(0, std) samples redrawn until they lie within +-cutoff*std (timm's default init)."""
    x = rng.standard_normal(shape)
    bad = np.abs(x) > cutoff
    while bad.any():
        x[bad] = rng.standard_normal(bad.sum())
        bad = np.abs(x) > cutoff
    return x * std
