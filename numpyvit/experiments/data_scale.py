"""The ViT paper's "ViT needs more data" experiment (section 4.3, Figures 3-4), at MNIST scale.

ViT and a ResNet of about the same size train on class-balanced training subsets of growing
size, each for the same number of optimisation steps, and are scored on the full 10k test set.

Why the same number of steps, not the same epochs: it gives every run the same compute and
the same learning-rate schedule, so the only thing that changes along the x-axis is how much
distinct data the steps see. (The same epochs would give a 1k-image run 60x fewer updates
than a 60k one, confounding "less data" with "less training".) Small subsets are then seen
for many epochs, which is exactly where an architecture's inductive bias should matter.

Each run is an ordinary run folder (out/<model>-n<size>-s<seed>/); finished runs are
skipped and interrupted ones resumed, so the whole experiment resumes where it stopped.
"""
import csv
import json
import math
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..models.registry import MODEL_KINDS, config_class
from ..training.checkpoint import load_checkpoint
from ..training.trainer import TrainConfig, train

DEFAULT_SIZES = (1000, 3000, 10000, 30000, 60000)
DEFAULT_MODELS = MODEL_KINDS
FIELDS = ["model", "train_size", "seed", "steps", "epochs", "parameters", "test_acc", "test_error",
          "train_loss", "wall_s"]


def run_config(train_size, steps, batch_size, seed, base):
    """The TrainConfig of one run: as many epochs over the subset as make `steps` steps."""
    steps_per_epoch = train_size // batch_size
    if steps_per_epoch < 1:
        raise ConfigError(f"train size {train_size} is smaller than batch_size={batch_size}")
    epochs = max(1, math.ceil(steps / steps_per_epoch))
    # the same warm-up in steps for every run (5% of them), not in epochs of unequal length;
    # test-set evaluation ~10 times per run at most: at 1k images an epoch is only 7 steps
    return TrainConfig(**{**base, "epochs": epochs, "max_steps": steps, "batch_size": batch_size,
                          "seed": seed, "train_subset": train_size,
                          "warmup_epochs": 0.05 * steps / steps_per_epoch, "eval_every": max(1, epochs // 10)})


def data_scale(data, out_dir, sizes=DEFAULT_SIZES, models=DEFAULT_MODELS, seeds=(0,), steps=3000,
               batch_size=128, model_configs=None, train_overrides=None, progress=True, log=print,
               workers=None, backend=None):
    """Run (or resume) the experiment, writing results.csv as each run ends; return the rows.
    The figure is drawn by the caller (insight.plots.plot_data_scale of summarize(rows))."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_train = len(data[0])
    for size in sizes:
        if not 10 <= size <= n_train:
            raise ConfigError(f"train size {size} must lie between 10 and the {n_train} training images")
    base = {"shift": 2, "rotate": 10.0, "scale": 0.1, **(train_overrides or {})}
    rows = []
    for seed in seeds:
        for size in sizes:
            for kind in models:
                cfg = run_config(size, steps, batch_size, seed, base)
                model_config = (model_configs or {}).get(kind) or config_class(kind)().to_dict()
                run_dir = out_dir / f"{kind}-n{size}-s{seed}"
                rows.append(_run_one(kind, model_config, cfg, data, run_dir, progress, log, workers, backend))
                write_results(out_dir / "results.csv", rows)
    return rows


def _run_one(kind, model_config, cfg, data, run_dir, progress, log, workers=None, backend=None):
    resume = None
    if (run_dir / "last.npz").exists():
        resume = load_checkpoint(run_dir)
        if resume["train"].get("train_config") != cfg.to_dict():
            raise ConfigError(f"{run_dir} holds a run with another config; move it away or use another --out")
    steps = min(cfg.epochs * (cfg.train_subset // cfg.batch_size), cfg.max_steps or float("inf"))
    done = resume is not None and resume["train"]["epoch"] * (cfg.train_subset // cfg.batch_size) >= steps
    log(f"{kind} on {cfg.train_subset} images, seed {cfg.seed}: {cfg.epochs} epochs, {steps} steps"
        + (" (done)" if done else " (resuming)" if resume else ""))
    t0 = time.perf_counter()
    if done:
        metrics = resume["train"]["metrics"]
    else:
        _, metrics = train(kind, model_config, cfg, data, run_dir, resume=resume, progress=progress,
                           log=lambda s: None, workers=workers, backend=backend)
    params = json.loads((run_dir / "config.json").read_text())["parameters"]   # train() wrote it
    last = metrics[-1]
    row = {"model": kind, "train_size": cfg.train_subset, "seed": cfg.seed, "steps": steps,
           "epochs": cfg.epochs, "parameters": params, "test_acc": last["test_acc"],
           "test_error": 1 - last["test_acc"], "train_loss": last["train_loss"],
           "wall_s": last["elapsed_s"]}
    log(f"  -> test accuracy {row['test_acc']:.4f} ({time.perf_counter() - t0:.0f} s this call)")
    return row


def write_results(path, rows):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def summarize(rows):
    """{model: {size: (mean error, min error, max error, seeds)}} over seeds."""
    out = {}
    for r in rows:
        out.setdefault(r["model"], {}).setdefault(r["train_size"], []).append(r["test_error"])
    return {m: {n: (float(np.mean(e)), float(np.min(e)), float(np.max(e)), len(e)) for n, e in sorted(d.items())}
            for m, d in out.items()}
