"""How far notebook 2's scaled-vs-unscaled training comparison moves from seed to seed.

    OPENBLAS_NUM_THREADS=1 python tools/nb02_spread.py --seeds 8  # seeds 0-7, both arms
    python tools/nb02_spread.py --seeds 3 --out /tmp/spread.json   # fewer seeds, elsewhere
    python tools/nb02_spread.py --resummarize docs/figures/nb02_scaling_spread.json

Notebook 2 trains a 2-block, 1-head ViT (d_k = 64) with and without attention's 1/sqrt(d_k)
and compares them: test accuracy, and per block the attention entropy and the share of a
random upstream gradient its softmax lets through. A notebook can afford two seeds live; this
script runs the same recipe (train_small below is the notebook's, line for line) for several
seeds of both arms, once, and writes every run's numbers with the CPU they were measured on to
docs/figures/nb02_scaling_spread.json. The notebook reads that file to judge its own runs: a
difference smaller than the seeds' spread is no difference.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from numpyvit import (AdamW, SoftmaxCrossEntropy, ViTConfig, VisionTransformer, class_balanced_subset,
                      clip_grad_norm, load_mnist, lr_at, normalize, softmax_backward)
from numpyvit.files import write_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import this_cpu  # noqa: E402  (tools/, beside this script)

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
RECIPE = {"depth": 2, "heads": 1, "n_train": 10000, "steps": 1500, "batch": 64, "peak_lr": 3e-3,
          "weight_decay": 0.05, "warmup_steps": 150, "clip": 1.0, "n_test": 10000}



def train_small(scaled, seed, x_small, y_small, steps):
    """The notebook's recipe: d_k = D = 64, AdamW, warm-up then cosine, clipping at 1."""
    n_train = len(x_small)
    model = VisionTransformer(ViTConfig(depth=2, heads=1), seed=seed)   # d_k = D = 64
    if not scaled:
        for blk in model.blocks:
            blk.attn.scale = model.dtype.type(1.0)   # scores = q k^T; forward and backward read attn.scale
    loss_fn, opt = SoftmaxCrossEntropy(), AdamW(model, lr=3e-3, weight_decay=0.05)
    order = np.random.default_rng(seed + 100)        # which digits each step sees
    for step in range(steps):
        batch = order.choice(n_train, 64, replace=False)
        opt.lr = lr_at(step, steps, peak_lr=3e-3, warmup_steps=steps // 10)
        loss_fn.forward(model.forward(x_small[batch]), y_small[batch])
        model.zero_grad()
        model.backward(loss_fn.backward())
        clip_grad_norm(model, 1.0)
        opt.step()
    model.eval()
    return model


def attention_report(model, x_eval, y_eval, rng):
    """Test accuracy; per block, the attention rows' mean entropy (nats) and the share of a
    random upstream gradient the softmax lets through to the scores."""
    correct, entropy, share = 0, [], []
    for i in range(0, len(x_eval), 1000):
        correct += int(np.sum(model.forward(x_eval[i:i + 1000]).argmax(axis=1) == y_eval[i:i + 1000]))
        atts = [blk.attn.att for blk in model.blocks]                  # each (B, h, N, N)
        # a weight that underflowed to 0 contributes 0 * ln(tiny) = 0, as 0 ln 0 should
        entropy.append([-(a * np.log(np.maximum(a, np.finfo(a.dtype).tiny))).sum(-1).mean() for a in atts])
        datts = [rng.standard_normal(a.shape).astype(a.dtype) for a in atts]
        share.append([np.linalg.norm(softmax_backward(a, d)) / np.linalg.norm(d) for a, d in zip(atts, datts)])
    return {"accuracy": correct / len(x_eval),
            "entropy": [float(e) for e in np.mean(entropy, axis=0)],
            "share": [float(s) for s in np.mean(share, axis=0)]}


def summary(runs):
    """Per arm the range of each number over the seeds, and the accuracy gap (unscaled minus
    scaled) seed by seed, with the spread a comparison of the two arms must beat: two standard
    deviations of the per-seed gap for one run of each, that over sqrt(seeds) for the means."""
    seeds = sorted({r["seed"] for r in runs})
    arm = {name: [next(r for r in runs if r["arm"] == name and r["seed"] == s) for s in seeds]
           for name in ("scaled", "unscaled")}
    acc = {name: np.array([r["accuracy"] for r in rows]) for name, rows in arm.items()}
    gaps = acc["unscaled"] - acc["scaled"]
    gap_sd = float(gaps.std(ddof=1))
    ent = {name: np.array([r["entropy"] for r in rows]) for name, rows in arm.items()}   # (seeds, blocks)
    share = {name: np.array([r["share"] for r in rows]) for name, rows in arm.items()}
    return {
        "seeds": seeds,
        "accuracy": {name: {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean()),
                            "range": float(np.ptp(a))} for name, a in acc.items()},
        "gap_unscaled_minus_scaled": {"per_seed": [float(g) for g in gaps], "min": float(gaps.min()),
                                      "max": float(gaps.max()), "mean": float(gaps.mean()),
                                      "sd": gap_sd},
        "spread_one_run_each": 2 * gap_sd,
        "spread_of_the_means": 2 * gap_sd / len(seeds) ** 0.5,
        "entropy": {name: {"min": e.min(axis=0).tolist(), "max": e.max(axis=0).tolist()}
                    for name, e in ent.items()},
        "share": {name: {"min": s.min(axis=0).tolist(), "max": s.max(axis=0).tolist()}
                  for name, s in share.items()},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. SEEDS-1 of both arms")
    parser.add_argument("--out", type=Path, default=FIGURES / "nb02_scaling_spread.json")
    parser.add_argument("--resummarize", type=Path, metavar="JSON",
                        help="recompute the summary of a result file's runs in place, training nothing")
    args = parser.parse_args(argv)
    if args.resummarize:
        result = json.loads(args.resummarize.read_text())
        result["summary"] = summary(result["runs"])
        write_json(args.resummarize, result)
        print(f"rewrote the summary of {args.resummarize}")
        return 0
    steps, n_train, n_test = RECIPE["steps"], RECIPE["n_train"], RECIPE["n_test"]
    x_train, y_train, x_test, y_test = load_mnist()
    subset = class_balanced_subset(y_train, n_train, seed=0)
    x_small, y_small = normalize(x_train[subset]), y_train[subset]
    x_eval, y_eval = normalize(x_test[:n_test]), y_test[:n_test]
    runs = []
    for seed in range(args.seeds):
        for name in ("scaled", "unscaled"):
            t0 = time.perf_counter()
            model = train_small(name == "scaled", seed, x_small, y_small, steps)
            row = {"arm": name, "seed": seed,
                   **attention_report(model, x_eval, y_eval, np.random.default_rng(1000 + seed)),
                   "seconds": round(time.perf_counter() - t0, 1)}
            runs.append(row)
            print(f"{name:>8} seed {seed}: {row['accuracy']:.2%}, entropy {row['entropy'][0]:.2f} "
                  f"{row['entropy'][1]:.2f}, share {row['share'][0]:.3f} {row['share'][1]:.3f} "
                  f"({row['seconds']:.0f} s)", flush=True)
    result = {"what": "notebook 2's training with and without the 1/sqrt(d_k) scaling, over seeds",
              "command": "python tools/nb02_spread.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "cpu": this_cpu(), "numpy": np.__version__, "recipe": RECIPE, "runs": runs,
              "summary": summary(runs)}
    write_json(args.out, result)
    s = result["summary"]
    print(f"gap unscaled - scaled from {s['gap_unscaled_minus_scaled']['min']:+.2%} to "
          f"{s['gap_unscaled_minus_scaled']['max']:+.2%}; spread of one run each "
          f"{s['spread_one_run_each']:.2%}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
