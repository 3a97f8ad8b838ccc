"""Training: the recipe (TrainConfig, PRESETS), the loop (train) and evaluation.

    net = DataParallel(model)                     # or the model itself: anything with forward/backward
    state = train(net, TrainConfig(), (x_train, y_train, x_test, y_test), "runs/mine")

A run folder holds config.json, metrics.jsonl (one JSON object per epoch), dynamics.jsonl
(gradient norms, update ratios, clipping and attention entropy per epoch; see dynamics.py) and
last.npz (the checkpoint, rewritten atomically every epoch; see run.py). The trainer draws
nothing and builds nothing: the caller gives it the net to run, and the command line draws
curves.png and dynamics.png from the two .jsonl files.
"""
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.augment import augment, cutmix
from ..data.datasets import DATASETS, get_dataset
from ..data.prepare import class_balanced_subset, normalize
from ..errors import ConfigError, UsageError
from ..files import write_json, write_jsonl
from ..layers.loss import SoftmaxCrossEntropy
from ..models.config import Config, check_positive_int
from ..models.registry import model_kind
from .optim import clip_grad_norm, lr_at
from .run import Progress, RunState, StopRequest


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
    flip: float = 0.0             # share of images mirrored left to right (garments, not digits)
    cutmix: float = 0.0           # share of training images CutMix-ed with another (0 = off)
    clip_grad: float = 1.0        # global gradient-norm clip (0 = off)
    seed: int = 0                 # weights, data order and augmentation
    dataset: str = "mnist"        # what it trains on: its pixel statistics normalise every input
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
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset={self.dataset!r} must be one of {', '.join(DATASETS)}")
        for name in ("cutmix", "flip"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be a share of the images, in [0, 1]")
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
    # evaluated through an average of the weights over about the last 5,000 steps (docs/long-recipe.md)
    "long": ({}, {"epochs": 100, "ema": 0.9998}),
}

# Fashion-MNIST's recipes, chosen on a validation split held out of the training set (the
# search: docs/fashion-mnist.md). A garment's mirror image is the same garment and its outline
# fills the frame: flips and one-pixel shifts, no rotations or zooms. The default model; patch
# 4 and width 128 did no better per unit of compute, training longer did. No long preset yet:
# none was measured to reach further.
_CLOTHES = {"dataset": "fashion-mnist", "flip": 0.5, "shift": 1, "rotate": 0.0, "scale": 0.0}
FASHION_PRESETS = {
    "default": ({}, {**_CLOTHES, "epochs": 60}),
    "quick": ({}, {**_CLOTHES, "epochs": 3}),
}


PRESETS_BY_DATASET = {"mnist": PRESETS, "fashion-mnist": FASHION_PRESETS}


def presets_for(dataset):
    """The named recipes for `dataset`: {name: (model fields, training fields)}."""
    return PRESETS_BY_DATASET[get_dataset(dataset).name]     # an unknown name: a one-line error


class TrainingDiverged(UsageError, RuntimeError):
    """The loss became NaN or infinite: the recipe (usually the learning rate) does not train."""


def train(net, train_config, data, out_dir, resume=None, state=None, progress=True, log=print):
    """Train `net` on `data`, writing the run folder `out_dir`; returns the run's RunState.

    net:     the model, or a DataParallel of it (anything with forward, backward, train, eval;
             a wrapper's `.model` is the model). The model's weights are trained in place.
    data:    (x_train, y_train, x_test, y_test), uint8 images (n, H, W) and int labels.
    resume:  a checkpoint dict from load_checkpoint(): the run continues exactly where it stopped.
    state:   the RunState a previous call returned: the run continues in memory, for as many
             epochs as this call's config has (an experiment lengthening a run).

    With `ema`, the test metrics are the weight average's (the unaveraged weights' are logged
    beside them); the model keeps the optimiser's own weights, `state.average.copy_to()` puts
    the average in. Each epoch's order and augmentation come from a generator seeded by
    (seed, epoch), so an epoch replays bit for bit, and a run stopped mid-epoch skips the
    steps it did.
    """
    cfg, out_dir = train_config, Path(out_dir)
    model = getattr(net, "model", net)
    x_train, y_train = training_set(data[0], data[1], cfg)
    x_test, y_test = normalize(data[2], cfg.dataset), data[3]
    steps_per_epoch, total_steps, warmup_steps = schedule(len(x_train), cfg)
    if state is None:
        state = RunState.start(model, cfg, x_test, steps_per_epoch)
        if resume is not None:
            state.restore(model, resume)
            note_worker_change(resume, net, log)
    if state.epoch * steps_per_epoch >= total_steps:      # nothing left to train: read back as it is
        return state
    write_json(out_dir / "config.json", {"model": model_kind(model), "model_config": model.config.to_dict(),
                                         "train_config": cfg.to_dict(), "parameters": model.num_parameters()})
    checkpoint = out_dir / "last.npz"
    loss_fn = SoftmaxCrossEntropy(cfg.label_smoothing)
    t_start = time.perf_counter() - state.elapsed_s
    model.train()
    with StopRequest() as stop:
        for epoch in range(state.epoch, cfg.epochs):
            end = min(steps_per_epoch, total_steps - epoch * steps_per_epoch)     # steps in this epoch
            if end <= 0:                                                          # max_steps reached
                break
            images, labels = epoch_data(x_train, y_train, epoch, cfg, model.config.num_classes)
            bar = Progress(end, f"epoch {epoch + 1}/{cfg.epochs}", state.step_in_epoch, enabled=progress)
            for i in range(state.step_in_epoch, end):
                if stop.requested:
                    bar.close()
                    state.elapsed_s = time.perf_counter() - t_start
                    state.save(checkpoint, model, cfg, getattr(net, "workers", 1))
                    log(f"\ninterrupted at epoch {epoch + 1}, step {i}/{end}; saved {checkpoint}\n"
                        f"resume with: python -m numpyvit train --resume {out_dir}")
                    raise KeyboardInterrupt
                t0 = time.perf_counter()
                batch = slice(i * cfg.batch_size, (i + 1) * cfg.batch_size)
                xb, yb = normalize(images[batch], cfg.dataset), labels[batch]
                step = epoch * steps_per_epoch + i
                state.optimizer.lr = learning_rate(step, total_steps, warmup_steps, cfg)
                loss, logits = train_step(net, model, loss_fn, state, xb, yb, step, cfg.clip_grad)
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"loss became {loss} at step {step} (epoch {epoch + 1}, batch {i + 1}) with "
                        f"lr={state.optimizer.lr:.3g}; last good checkpoint: "
                        f"{checkpoint if checkpoint.exists() else 'none yet'}")
                hard = yb if yb.ndim == 1 else yb.argmax(1)     # a mixed image counts as its larger part
                state.stats.add(loss, int(np.sum(logits.argmax(1) == hard)), len(yb), time.perf_counter() - t0)
                state.step_in_epoch = i + 1
                bar.update(i + 1, state.stats.shown)
            bar.close()

            last = epoch + 1 == cfg.epochs or (epoch + 1) * steps_per_epoch >= total_steps
            t_eval = time.perf_counter()
            scores = test_scores(net, state.average, x_test, y_test, cfg) \
                if (epoch + 1) % cfg.eval_every == 0 or last else {"test_loss": None, "test_acc": None}
            finish_epoch(state, scores, time.perf_counter() - t_eval, time.perf_counter() - t_start,
                         epoch * steps_per_epoch + end)
            write_jsonl(out_dir / "metrics.jsonl", state.metrics)
            if state.dynamics is not None:
                write_jsonl(out_dir / "dynamics.jsonl", state.dynamics.rows)
            state.save(checkpoint, model, cfg, getattr(net, "workers", 1))
            log(epoch_line(state.metrics[-1], cfg.epochs))
    return state


def train_step(net, model, loss_fn, state, xb, yb, step, clip):
    """One optimisation step: forward, loss, backward, gradient clipping, AdamW, the weight
    average, and the dynamics recorder's two looks. Returns (loss, logits); a loss that is not
    finite returns at once, before anything is changed."""
    logits = net.forward(xb)
    loss = loss_fn.forward(logits, yb)
    if not math.isfinite(loss):
        return loss, logits
    state.optimizer.zero_grad()
    net.backward(loss_fn.backward())                     # the gradients land in model.grads
    if state.dynamics is not None:
        state.dynamics.gradients(step)                   # on sampled steps; reads, never writes
    norm = clip_grad_norm(model, clip) if clip else None
    state.optimizer.step()
    if state.average is not None:
        state.average.update()
    if state.dynamics is not None:
        state.dynamics.updated(step, norm, clip)
    return loss, logits


def training_set(x_train, y_train, cfg):
    """The images the run trains on: all of them, or a class-balanced subset of cfg.train_subset."""
    if not cfg.train_subset:
        return x_train, y_train
    keep = class_balanced_subset(y_train, cfg.train_subset, cfg.seed)
    return x_train[keep], y_train[keep]


def schedule(n, cfg):
    """(steps per epoch, total steps, warm-up steps) on n training images."""
    steps_per_epoch = n // cfg.batch_size
    if steps_per_epoch < 1:
        raise ConfigError(f"batch_size={cfg.batch_size} is larger than the training set ({n} images)")
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps:                     # the schedule then ends at max_steps, as does the run
        total_steps = min(total_steps, cfg.max_steps)
    return steps_per_epoch, total_steps, round(cfg.warmup_epochs * steps_per_epoch)


def learning_rate(step, total_steps, warmup_steps, cfg):
    """Warm-up then cosine (lr_at); during a cool-down, scaled by (steps left) / cooldown_steps."""
    lr = lr_at(step, total_steps, cfg.lr, warmup_steps, cfg.min_lr)
    if cfg.cooldown_steps:
        lr *= min(1.0, (total_steps - step) / cfg.cooldown_steps)
    return lr


def epoch_data(x_train, y_train, epoch, cfg, num_classes):
    """The epoch's images in its order, augmented, and their labels (target distributions (n, K)
    with CutMix), all drawn from a generator seeded by (seed, epoch)."""
    rng = np.random.default_rng([cfg.seed, epoch])
    order = rng.permutation(len(x_train))
    images = augment(x_train[order], rng, shift=cfg.shift, rotate=cfg.rotate, scale=cfg.scale, flip=cfg.flip)
    labels = y_train[order]
    if cfg.cutmix:
        images, labels = cutmix(images, labels, num_classes, rng, cfg.cutmix)
    return images, labels


def test_scores(net, average, x_test, y_test, cfg):
    """The test loss and accuracy reported for the epoch: the weight average's when the run
    keeps one, with the optimiser's own weights' beside them."""
    loss, acc, _ = evaluate(net, x_test, y_test, cfg.eval_batch_size)
    if average is None:
        return {"test_loss": loss, "test_acc": acc}
    with average.applied():
        avg_loss, avg_acc, _ = evaluate(net, x_test, y_test, cfg.eval_batch_size)
    return {"test_loss": avg_loss, "test_acc": avg_acc, "unaveraged_test_loss": loss, "unaveraged_test_acc": acc}


def finish_epoch(state, scores, eval_s, elapsed_s, steps_done):
    """Close the epoch in `state`: its metrics row, its dynamics row, the count moved on."""
    stats = state.stats
    row = {"epoch": state.epoch + 1, "train_loss": stats.loss, "train_acc": stats.acc,
           "test_loss": scores["test_loss"], "test_acc": scores["test_acc"], "lr": state.optimizer.lr,
           "epoch_s": stats.train_s + eval_s, "elapsed_s": elapsed_s, "img_per_s": stats.img_per_s}
    if state.average is not None:
        row.update(unaveraged_test_loss=scores.get("unaveraged_test_loss"),
                   unaveraged_test_acc=scores.get("unaveraged_test_acc"))
    state.metrics.append(row)
    if state.dynamics is not None:
        state.dynamics.end_period(epoch=state.epoch + 1, step=steps_done)
    state.epoch, state.step_in_epoch, state.elapsed_s = state.epoch + 1, 0, elapsed_s
    state.stats = type(stats)()


def epoch_line(row, epochs):
    """The log line of a finished epoch."""
    test = "(no test)"
    if row["test_acc"] is not None:
        test = f"test loss {row['test_loss']:.4f} acc {row['test_acc']:.4f}"
        if row.get("unaveraged_test_acc") is not None:
            test += f" (unaveraged {row['unaveraged_test_acc']:.4f})"
    return (f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
            f"{test}  lr {row['lr']:.2e}  {row['epoch_s']:.1f}s  {row['img_per_s']:.0f} img/s")


def note_worker_change(checkpoint, net, log):
    """A bit-exact resume needs the worker count the run began with (float rounding depends on
    how the batch is split): say so when it differs."""
    stored, now = checkpoint["train"].get("workers"), getattr(net, "workers", 1)
    if stored and stored != now:
        log(f"note: this run was trained on {stored} workers and continues on {now}: "
            f"it resumes correctly but not bit for bit")


def evaluate(net, images, labels, batch_size=500, label_smoothing=0.0):
    """Mean loss, accuracy and the predicted probabilities (B, K) of `net` (a model or a
    DataParallel) on normalised images, in eval mode (the mode it had is restored)."""
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
    probs = np.concatenate(probs)
    return total / len(images), float(np.mean(probs.argmax(1) == labels)), probs
