"""Where a training step's time goes, layer by layer, forward and backward separately.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_step.py [--batch 128] [--steps 30] [--workers 2]

Every layer's forward/backward (and attention's softmax, the loss and the optimiser) is
wrapped with a timer; the table gives the mean milliseconds per step of each category.
A child's time is subtracted from its parent, so each row is the layer's own work.

By default the model runs whole (one worker; BLAS threaded). With --workers W the step runs
as the trainer runs it, the batch split across W threads (numpyvit.DataParallel): the timers
then see the first chunk, in the calling thread, while the other workers run theirs alongside,
and "(untimed ...)" includes the wait for them and the gradient reduction.
"""
import argparse
import collections
import threading
import time

import numpy as np

import numpyvit.layers.attention as attention_mod
from numpyvit import AdamW, DataParallel, SoftmaxCrossEntropy, ViTConfig, VisionTransformer
from numpyvit.training.optim import clip_grad_norm


def category(name, module):
    kind = type(module).__name__
    if kind == "Linear":
        leaf = name.split(".")[-1]
        return {"proj": "patch embed" if name.startswith("patch_embed") else "attn proj",
                "qkv": "qkv", "fc1": "MLP matmuls", "fc2": "MLP matmuls", "head": "head"}[leaf]
    return {"LayerNorm": "LayerNorm", "GELU": "GELU", "Attention": "attention core",
            "Patchify": "patch embed", "VisionTransformer": "model glue (cls, pos, pool)",
            "Block": "residual adds", "Mlp": "residual adds", "PatchEmbed": "patch embed",
            "Dropout": "dropout"}.get(kind, kind)


class Timers:
    def __init__(self):
        self.totals = collections.defaultdict(float)
        self.stack = []
        self.thread = threading.get_ident()       # only this thread's calls are timed

    def wrap(self, obj, attr, label):
        original = getattr(obj, attr)

        def timed(*args, **kw):
            if threading.get_ident() != self.thread:   # another worker's chunk (the softmax is shared)
                return original(*args, **kw)
            self.stack.append(0.0)                    # time spent in children
            t0 = time.perf_counter()
            out = original(*args, **kw)
            elapsed = time.perf_counter() - t0
            children = self.stack.pop()
            self.totals[label] += elapsed - children
            if self.stack:
                self.stack[-1] += elapsed
            return out
        setattr(obj, attr, timed)


def profile(batch=128, steps=30, seed=0, workers=1):
    model = VisionTransformer(ViTConfig(), seed=seed)
    net = DataParallel(model, workers)          # replicas are copied before the timers go in
    loss_fn, opt = SoftmaxCrossEntropy(), AdamW(model, lr=1e-3)
    timers = Timers()
    for name, m in model.modules():
        cat = category(name, m)
        timers.wrap(m, "forward", f"{cat} | forward")
        timers.wrap(m, "backward", f"{cat} | backward")
    if hasattr(attention_mod, "softmax"):            # older versions kept it inside Attention
        timers.wrap(attention_mod, "softmax", "softmax | forward")
        timers.wrap(attention_mod, "softmax_backward", "softmax | backward")
    timers.wrap(loss_fn, "forward", "loss | forward")
    timers.wrap(loss_fn, "backward", "loss | backward")
    timers.wrap(opt, "step", "optimizer (AdamW) | step")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    per_step, walls = [], []
    for i in range(steps + 5):
        timers.totals.clear()
        t0 = time.perf_counter()
        loss_fn.forward(net.forward(x), y)
        opt.zero_grad()
        net.backward(loss_fn.backward())
        clip_grad_norm(model, 1.0)
        opt.step()
        if i >= 5:                                      # after warm-up
            walls.append(time.perf_counter() - t0)
            per_step.append(dict(timers.totals))
    # means, not medians, so that the rows add up to the wall time
    labels = sorted(per_step[0], key=lambda k: -np.mean([s[k] for s in per_step]))
    wall = np.mean(walls) * 1e3
    rows = [(k, np.mean([s[k] for s in per_step]) * 1e3) for k in labels]
    return rows, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--workers", type=int, default=1, help="workers to split the batch across (default 1)")
    args = ap.parse_args()
    rows, wall = profile(args.batch, args.steps, workers=args.workers)
    print(f"training step, batch {args.batch}, {args.workers} worker(s): {wall:.1f} ms mean wall "
          f"({args.batch / wall * 1e3:.0f} img/s)")
    print(f"{'layer | pass':<38} {'ms/step':>8} {'share':>6}")
    for label, ms in rows:
        print(f"{label:<38} {ms:>8.2f} {ms / wall:>6.1%}")
    print(f"{'(untimed: zero_grad, clip, threads, Python)':<38} {wall - sum(ms for _, ms in rows):>8.2f}")


if __name__ == "__main__":
    main()
