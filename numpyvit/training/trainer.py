"""Training: the loop, evaluation, presets, progress, metrics and checkpoints of a run folder.

A run folder holds config.json, metrics.jsonl (one JSON object per epoch), dynamics.jsonl
(gradient norms, update ratios, clipping and attention entropy per epoch; see dynamics.py) and
last.npz (the checkpoint, rewritten atomically every epoch). The trainer draws nothing: the
command line adds curves.png and dynamics.png from the two .jsonl files.
"""
import json
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, UsageError
from ..layers.loss import SoftmaxCrossEntropy
from ..models.config import Config, check_positive_int
from ..models.registry import build_model
from .augment import augment, cutmix
from .checkpoint import save_checkpoint
from .data import class_balanced_subset, normalize
from .dynamics import TrainingDynamics
from .optim import AdamW, WeightAverage, clip_grad_norm, lr_at
from .parallel import DataParallel, available_cores


@dataclass
class TrainConfig(Config):
    epochs: int = 30              # passes over the training set; the longest lever on accuracy
    batch_size: int = 128         # images per step (64 is slower per image on 2 cores, no better)
    lr: float = 3e-3              # peak learning rate (2e-3..5e-3 is a plateau for this model)
    min_lr: float = 0.0           # the cosine decays to this
    warmup_epochs: float = 0.5    # linear warm-up length, in epochs
    weight_decay: float = 0.05    # AdamW's decoupled decay (not on biases, norms, cls, pos)
    label_smoothing: float = 0.0  # 0.1 did not help on MNIST
    shift: int = 2                # random translation, +-pixels
    rotate: float = 10.0          # random rotation, +-degrees (0 = off)
    scale: float = 0.1            # random zoom, +-fraction (0 = off)
    cutmix: float = 0.0           # share of training images CutMix-ed with another (0 = off)
    clip_grad: float = 1.0        # global gradient-norm clip (0 = off)
    seed: int = 0                 # weights, data order and augmentation
    train_subset: int = 0         # train on a class-balanced subset of this size (0 = all)
    max_steps: int = 0            # stop after this many steps, mid-epoch if need be (0 = no limit)
    cooldown_steps: int = 0       # the last this many steps scale the rate down linearly to ~0
    ema: float = 0.0              # decay of a weight average scored instead of the weights (0 = off)
    eval_batch_size: int = 500    # images per forward pass when evaluating
    eval_every: int = 1           # evaluate on the test set every this many epochs (and the last)
    dynamics_steps: int = 8       # steps per epoch sampled for dynamics.jsonl (0 = no dynamics)

    def __post_init__(self):
        for name in ("epochs", "batch_size", "eval_batch_size", "eval_every"):
            check_positive_int(name, getattr(self, name))
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema={self.ema!r} must be a decay in [0, 1) (0 = no weight average)")
        if not 0 <= self.cutmix <= 1:
            raise ConfigError(f"cutmix={self.cutmix!r} must be a share of the images, in [0, 1]")
        for name in ("lr", "min_lr", "warmup_epochs", "weight_decay", "shift", "rotate", "scale",
                     "clip_grad", "train_subset", "max_steps", "dynamics_steps", "cooldown_steps"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.number)) and value >= 0 and math.isfinite(value)):
                raise ConfigError(f"{name}={value!r} must be a number >= 0")
        for name in ("dynamics_steps", "cooldown_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ConfigError(f"{name}={value!r} must be a whole number of steps >= 0")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing={self.label_smoothing!r} must be in [0, 1)")
        if self.min_lr > self.lr:
            raise ConfigError(f"min_lr={self.min_lr} must not exceed lr={self.lr}")



# Presets: (model config fields, training config fields) on top of the defaults.
PRESETS = {
    "default": ({}, {}),
    # about a minute on a 2-core laptop: the default model, three epochs, shift only
    "quick": ({}, {"epochs": 3, "rotate": 0.0, "scale": 0.0}),
    # half an hour on 2 cores, for >= 99.5%: the default model and augmentation, 100 epochs,
    # evaluated through an average of the weights over about the last 5,000 steps (README)
    "long": ({}, {"epochs": 100, "ema": 0.9998}),
}


PROBE_IMAGES = 128   # test digits whose attention entropy dynamics.jsonl follows


class TrainingDiverged(UsageError, RuntimeError):
    """The loss became NaN or infinite: the recipe (usually the learning rate) does not train."""


class StopRequest:
    """Turns the first Ctrl-C into a request to stop after the current step, so the checkpoint
    never catches an optimiser step half done; a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        try:
            self.previous = signal.signal(signal.SIGINT, self.handle)
        except ValueError:        # not the main thread: Ctrl-C keeps its default behaviour
            self.previous = None
        return self

    def handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def evaluate(model, images, labels, batch_size=500, label_smoothing=0.0, workers=None, backend=None):
    """Mean loss, accuracy and the predicted probabilities (B, K) on normalised images.

    `model` is a Module, split across `workers` cores (default: every core), or a DataParallel.
    """
    net = model if isinstance(model, DataParallel) else DataParallel(model, workers, backend)
    was_training = net.training
    net.eval()
    loss_fn = SoftmaxCrossEntropy(label_smoothing)
    total, probs = 0.0, []
    try:
        for start in range(0, len(images), batch_size):
            xb, yb = images[start:start + batch_size], labels[start:start + batch_size]
            total += loss_fn.forward(net.forward(xb), yb) * len(xb)
            probs.append(loss_fn.probs)
    finally:
        net.train(was_training)
        if net is not model:
            net.close()
    probs = np.concatenate(probs)
    return total / len(images), float(np.mean(probs.argmax(1) == labels)), probs


class Progress:
    """Progress through one epoch's steps, fitted to where the output goes.

    On a terminal, a live bar (tqdm) with the running loss, accuracy and speed. Anywhere else
    (a log file, CI, a notebook's subprocess) a bar's carriage-return redraws would each become
    a line of their own, hundreds per epoch, so it prints one plain line at each quarter of the
    epoch instead; the epoch's summary line is the trainer's log.
    """

    def __init__(self, total, desc, first=0, stream=None):
        self.total, self.desc = total, desc
        self.stream = stream if stream is not None else sys.stderr
        self.bar = None
        if self.stream.isatty():
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, initial=first, desc=desc, unit="step", leave=False,
                                dynamic_ncols=True, file=self.stream)
            except ImportError:       # no tqdm: plain lines on the terminal too
                pass
        self.marks = {total * k // 4 for k in (1, 2, 3)} - {0}

    def update(self, done, stats):
        """`done` steps of this epoch are finished; stats() -> {name: text} for the display."""
        if self.bar is not None:
            self.bar.update(1)
            if done % 10 == 0:
                self.bar.set_postfix(stats())
        elif done in self.marks:
            shown = "  ".join(f"{k} {v}" for k, v in stats().items())
            print(f"{self.desc}: step {done}/{self.total}  {shown}", file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def train(model_kind, model_config, train_config, data, out_dir, resume=None, progress=True,
          log=print, workers=None, backend=None):
    """Train a model, writing the run folder `out_dir`; returns (model, metrics list).

    model_kind: 'vit' (model_config a ViTConfig dict) or 'resnet'.
    data:       (x_train, y_train, x_test, y_test), uint8 images (n, 28, 28) and int labels.
    resume:     a checkpoint dict from load_checkpoint(): weights, optimiser, epoch/step, RNG
                states and metrics are restored, and the run continues exactly where it stopped.
    workers:    workers to split each batch across (default: every core, or on resume the
                stored run's count if this machine has that many; see parallel.py). The result
                depends on it only through float rounding, but a bit-exact resume needs the
                same count as the run it continues.
    backend:    'processes' or 'threads' to run the workers on (default: parallel.py's); both
                give the same results, bit for bit.

    With `ema`, the test metrics are the weight average's (the unaveraged weights' are logged
    beside them) and the returned model holds the averaged weights; the checkpoint keeps both.

    Each epoch's order and augmentation come from a generator seeded by (seed, epoch), so an
    epoch can be replayed bit for bit, and a run stopped mid-epoch skips the steps it did.
    """
    cfg = train_config
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = data
    if cfg.train_subset:
        keep = class_balanced_subset(y_train, cfg.train_subset, cfg.seed)
        x_train, y_train = x_train[keep], y_train[keep]
    n = len(x_train)
    steps_per_epoch = n // cfg.batch_size
    if steps_per_epoch < 1:
        raise ConfigError(f"batch_size={cfg.batch_size} is larger than the training set ({n} images)")
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps:                     # the schedule then ends at max_steps, as does the run
        total_steps = min(total_steps, cfg.max_steps)
    warmup_steps = round(cfg.warmup_epochs * steps_per_epoch)

    model = build_model(model_kind, model_config, seed=cfg.seed)
    stored_workers = resume["train"].get("workers") if resume is not None else None
    if workers is None and stored_workers and stored_workers <= available_cores():
        workers = stored_workers             # continue exactly as the run began
    net = DataParallel(model, workers, backend)   # forward and backward on every core
    if stored_workers and stored_workers != net.workers:
        log(f"note: this run was trained on {stored_workers} workers and continues on {net.workers}: "
            f"it resumes correctly but not bit for bit")
    optimizer = AdamW(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
    average = WeightAverage(model, cfg.ema) if cfg.ema else None
    loss_fn = SoftmaxCrossEntropy(cfg.label_smoothing)
    x_test_n = normalize(x_test)
    dynamics = None                          # gradient norms, update ratios, clipping, attention entropy
    if cfg.dynamics_steps:
        every = max(1, steps_per_epoch // cfg.dynamics_steps)
        dynamics = TrainingDynamics(model, x_test_n[:PROBE_IMAGES], every)
    start_epoch, start_step, metrics, elapsed0 = 0, 0, [], 0.0
    partial = {"loss_sum": 0.0, "correct": 0, "seen": 0, "train_s": 0.0}
    if resume is not None:
        model.load_state_dict(resume["state"])
        optimizer.load_state_dict(resume["optim"])
        if average is not None:
            average.load_state_dict(resume["average"])
        t = resume["train"]
        start_epoch, start_step, metrics = t["epoch"], t["step_in_epoch"], t["metrics"]
        elapsed0 = t.get("elapsed_s", 0.0)
        partial = t.get("partial", partial)
        net.set_rng_states(t.get("model_rng", {}))     # dropout masks, in every replica
        if dynamics is not None and t.get("dynamics"):
            dynamics.load_state_dict(t["dynamics"])
    (out_dir / "config.json").write_text(json.dumps(
        {"model": model_kind, "model_config": model_config, "train_config": cfg.to_dict(),
         "parameters": model.num_parameters()}, indent=2) + "\n")
    ckpt_path = out_dir / "last.npz"
    last_good = ckpt_path if resume is not None or start_epoch > 0 else None

    def save(epoch, step_in_epoch, elapsed, partial_state):
        state = {"epoch": epoch, "step_in_epoch": step_in_epoch, "metrics": metrics,
                 "elapsed_s": elapsed, "partial": partial_state, "model_rng": net.rng_states(),
                 "workers": net.workers, "train_config": cfg.to_dict(),
                 "dynamics": dynamics.state_dict() if dynamics is not None else None}
        return save_checkpoint(ckpt_path, model, optimizer, state, average)

    t_start = time.perf_counter() - elapsed0
    model.train()
    with StopRequest() as stop, net:                  # net's workers stop when the run does, however it ends
        for epoch in range(start_epoch, cfg.epochs):
            end = min(steps_per_epoch, total_steps - epoch * steps_per_epoch)   # steps in this epoch
            if end <= 0:                                                        # max_steps reached
                break
            rng = np.random.default_rng([cfg.seed, epoch])
            order = rng.permutation(n)
            images = augment(x_train[order], rng, shift=cfg.shift, rotate=cfg.rotate, scale=cfg.scale)
            labels = y_train[order]
            if cfg.cutmix:     # mixed target distributions (n, K) stand in for the labels
                images, labels = cutmix(images, labels, model.config.num_classes, rng, cfg.cutmix)
            first = start_step if epoch == start_epoch else 0
            if first == 0:
                partial = {"loss_sum": 0.0, "correct": 0, "seen": 0, "train_s": 0.0}
            bar = Progress(end, f"epoch {epoch + 1}/{cfg.epochs}", first) if progress else None
            for i in range(first, end):
                if stop.requested:
                    if bar is not None:
                        bar.close()
                    save(epoch, i, time.perf_counter() - t_start, partial)
                    log(f"\ninterrupted at epoch {epoch + 1}, step {i}/{end}; saved {ckpt_path}\n"
                        f"resume with: python -m numpyvit train --resume {out_dir}")
                    raise KeyboardInterrupt
                t0 = time.perf_counter()
                sl = slice(i * cfg.batch_size, (i + 1) * cfg.batch_size)
                xb, yb = normalize(images[sl]), labels[sl]
                step = epoch * steps_per_epoch + i
                optimizer.lr = lr_at(step, total_steps, cfg.lr, warmup_steps, cfg.min_lr)
                if cfg.cooldown_steps:          # 1 until the cool-down, then (steps left) / cooldown_steps
                    optimizer.lr *= min(1.0, (total_steps - step) / cfg.cooldown_steps)
                logits = net.forward(xb)
                loss = loss_fn.forward(logits, yb)
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"loss became {loss} at step {step} (epoch {epoch + 1}, batch {i + 1}) with "
                        f"lr={optimizer.lr:.3g}; last good checkpoint: {last_good or 'none yet'}")
                optimizer.zero_grad()
                net.backward(loss_fn.backward())       # the gradients land in model.grads
                if dynamics is not None:
                    dynamics.gradients(step)           # on sampled steps; reads, never writes
                norm = clip_grad_norm(model, cfg.clip_grad) if cfg.clip_grad else None
                optimizer.step()
                if average is not None:
                    average.update()
                if dynamics is not None:
                    dynamics.updated(step, norm, cfg.clip_grad)
                partial["loss_sum"] += loss * len(yb)
                hard = yb if yb.ndim == 1 else yb.argmax(1)    # a mixed image counts as its larger part
                partial["correct"] += int(np.sum(logits.argmax(1) == hard))
                partial["seen"] += len(yb)
                partial["train_s"] += time.perf_counter() - t0
                if bar is not None:
                    bar.update(i + 1, lambda: {
                        "loss": f"{partial['loss_sum'] / partial['seen']:.4f}",
                        "acc": f"{partial['correct'] / partial['seen']:.4f}",
                        "img/s": f"{partial['seen'] / max(partial['train_s'], 1e-9):.0f}"})
            if bar is not None:
                bar.close()

            t_eval = time.perf_counter()
            test_loss = test_acc = None
            last_epoch = epoch + 1 == cfg.epochs or (epoch + 1) * steps_per_epoch >= total_steps
            if (epoch + 1) % cfg.eval_every == 0 or last_epoch:
                test_loss, test_acc, _ = evaluate(net, x_test_n, y_test, cfg.eval_batch_size)
                if average is not None:   # the average is the model reported; its own weights beside it
                    own_loss, own_acc = test_loss, test_acc
                    with average.applied():
                        test_loss, test_acc, _ = evaluate(net, x_test_n, y_test, cfg.eval_batch_size)
            eval_s = time.perf_counter() - t_eval
            elapsed = time.perf_counter() - t_start
            row = {"epoch": epoch + 1,
                   "train_loss": partial["loss_sum"] / partial["seen"],
                   "train_acc": partial["correct"] / partial["seen"],
                   "test_loss": test_loss, "test_acc": test_acc,
                   "lr": optimizer.lr,
                   "epoch_s": partial["train_s"] + eval_s,
                   "elapsed_s": elapsed,
                   "img_per_s": partial["seen"] / max(partial["train_s"], 1e-9)}
            if average is not None:
                row.update(unaveraged_test_loss=own_loss if test_acc is not None else None,
                           unaveraged_test_acc=own_acc if test_acc is not None else None)
            metrics.append(row)
            write_metrics(out_dir / "metrics.jsonl", metrics)
            if dynamics is not None:
                dynamics.end_period(epoch=epoch + 1, step=epoch * steps_per_epoch + end)
                write_metrics(out_dir / "dynamics.jsonl", dynamics.rows)
            save(epoch + 1, 0, elapsed, {"loss_sum": 0.0, "correct": 0, "seen": 0, "train_s": 0.0})
            last_good = ckpt_path
            test = f"test loss {test_loss:.4f} acc {test_acc:.4f}" if test_acc is not None else "(no test)"
            if average is not None and test_acc is not None:
                test += f" (unaveraged {own_acc:.4f})"
            log(f"epoch {epoch + 1:>3}/{cfg.epochs}  train loss {row['train_loss']:.4f} "
                f"acc {row['train_acc']:.4f}  {test}  "
                f"lr {row['lr']:.2e}  {row['epoch_s']:.1f}s  {row['img_per_s']:.0f} img/s")
    if average is not None:           # the model this run reports and load_model() returns
        average.copy_to()
    return model, metrics


def write_metrics(path, rows):
    """Rewrite metrics.jsonl or dynamics.jsonl from the list (one object per epoch), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tmp.replace(path)
