"""The ViT paper's "ViT needs more data" experiment (section 4.3, Figures 3-4), at MNIST scale.

Two ViTs (patch 7, the default, and patch 4) and a ResNet of about the same size train on
class-balanced training subsets of growing size, each until its training loss plateaus, and
are scored on the full 10k test set and on their own (un-augmented) training subset.

The plateau rule. Equal steps for every run left the ViT undertrained (its training loss was
still falling when the ResNet's was ~0), so each run trains instead in blocks of at least
BLOCK_STEPS steps (whole epochs) at a constant learning rate after a short warm-up, and stops
after the first block whose mean training loss is less than PLATEAU (10%) or less than
PLATEAU_ABS (0.02) below the block before's, or after MAX_BLOCKS blocks (the run is then
marked as not plateaued). The absolute floor is what stops a loss that keeps shrinking by a
steady share on its way to 0, which a relative rule alone would follow for ever. Then one more
block cools down: the rate falls linearly to ~0, as every good schedule ends, so that the score
is the model's and not the noise of a constant rate. (The steps before the cool-down are
exactly those of the plateau search, so a run continues from where the search stopped.) A constant
rate makes "the loss stopped falling" a property of the model and the data, not of a schedule
that decays to zero by a fixed step. The training loss here is the one the trainer reports:
on augmented images (shift, rotation, zoom), the same for every model.

Each run is an ordinary run folder (out/<model>-n<size>-s<seed>/), continued block by block;
finished runs are read back, so the whole experiment resumes where it stopped.
"""
import csv
import json
import math
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..models.registry import build_model, config_class
from ..data.prepare import class_balanced_subset, normalize
from ..training.trainer import TrainConfig, evaluate, presets_for
from ..files import write_csv
from .runs import parameters, run_or_resume, whole_model

DEFAULT_SIZES = (1000, 4000, 15000, 60000)
# name -> (model kind, config fields over that kind's defaults)
MODELS = {"vit": ("vit", {}), "vit-p4": ("vit", {"patch_size": 4}), "resnet": ("resnet", {})}
DEFAULT_MODELS = tuple(MODELS)
BLOCK_STEPS = 300       # a block is the fewest whole epochs holding at least this many steps
PLATEAU = 0.10          # stop when a block lowers the mean training loss by less than this share
PLATEAU_ABS = 0.02      # ... or by less than this much (in nats)
MIN_BLOCKS = 2
MAX_BLOCKS = 6
WARMUP_STEPS = 100
FIELDS = ["model", "train_size", "seed", "blocks", "steps", "cooldown_steps", "epochs", "plateaued", "parameters",
          "test_acc_at_plateau", "test_acc", "test_error", "test_loss", "train_acc", "train_error", "train_loss",
          "train_loss_augmented", "block_losses", "wall_s"]


def block_epochs(train_size, batch_size, block_steps=BLOCK_STEPS):
    """(epochs per block, steps per epoch) on a subset of train_size images."""
    steps_per_epoch = train_size // batch_size
    if steps_per_epoch < 1:
        raise ConfigError(f"train size {train_size} is smaller than batch_size={batch_size}")
    return math.ceil(block_steps / steps_per_epoch), steps_per_epoch


def run_config(train_size, blocks, batch_size, seed, base, block_steps=BLOCK_STEPS, cooldown=False):
    """The TrainConfig of a run after `blocks` blocks: constant lr after WARMUP_STEPS, the test
    set scored at the end of every block; with cooldown, the last block's rate falls to ~0."""
    per_block, steps_per_epoch = block_epochs(train_size, batch_size, block_steps)
    lr = base.get("lr", TrainConfig.lr)
    return TrainConfig(**{**base, "epochs": blocks * per_block, "batch_size": batch_size, "seed": seed,
                          "train_subset": train_size, "lr": lr, "min_lr": lr,
                          "warmup_epochs": WARMUP_STEPS / steps_per_epoch, "eval_every": per_block,
                          "cooldown_steps": per_block * steps_per_epoch if cooldown else 0})


def _same_but_longer(stored, wanted):
    """A stored run is this run, or its continuation, when only its length differs."""
    length = ("epochs", "cooldown_steps")
    return (stored is not None and {k: v for k, v in stored.items() if k not in length}
            == {k: v for k, v in wanted.items() if k not in length})


def block_losses(metrics, per_block):
    """Mean training loss of every complete block of `per_block` epochs."""
    losses = [m["train_loss"] for m in metrics]
    return [float(np.mean(losses[i:i + per_block])) for i in range(0, len(losses) - per_block + 1, per_block)]


def plateaued(losses):
    """Whether the last block lowered the mean training loss by less than PLATEAU (a share)
    or PLATEAU_ABS (an amount)."""
    return len(losses) >= MIN_BLOCKS and (losses[-1] > (1 - PLATEAU) * losses[-2]
                                          or losses[-1] > losses[-2] - PLATEAU_ABS)



def check_request(sizes, models, n_train):
    """Refuse, in one line, a train size outside 10..n_train or a model not in MODELS."""
    for size in sizes:
        if not 10 <= size <= n_train:
            raise ConfigError(f"train size {size} must lie between 10 and the {n_train} training images")
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise ConfigError(f"models {list(models)}: expected some of {', '.join(MODELS)}")


def base_training(dataset, train_overrides=None):
    """The TrainConfig fields every run of either protocol shares: the dataset's default recipe's
    augmentation (so the models see the same images), the dataset, and any overrides."""
    recipe = presets_for(dataset)["default"][1]
    augmentation = {k: recipe.get(k, getattr(TrainConfig, k)) for k in ("shift", "rotate", "scale", "flip")}
    return {**augmentation, "dataset": dataset, **(train_overrides or {})}

def data_scale(data, out_dir, sizes=DEFAULT_SIZES, models=DEFAULT_MODELS, seeds=(0, 1), batch_size=128,
               model_configs=None, train_overrides=None, progress=True, log=print, make_net=whole_model,
               block_steps=None, dataset="mnist"):
    """Run (or resume) the experiment, adding each run to results.csv as it ends; return this
    call's rows.
    The figure is drawn by the caller (insight.plots.plot_data_scale of summarize(rows)).
    model_configs: {name: model config dict} in place of MODELS' (the tests' tiny models).
    make_net:    model -> the net to train it on, a context manager (a DataParallel, or the
                 default: the model run whole).
    block_steps: the block's length in steps (default BLOCK_STEPS; the tests use a few).
    dataset:     what `data` is; the runs use its default recipe's augmentation."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_request(sizes, models, len(data[0]))
    base = base_training(dataset, train_overrides)
    rows = []
    for seed in seeds:
        for size in sizes:
            for name in models:
                run_dir = out_dir / f"{name}-n{size}-s{seed}"
                rows.append(_run_until_plateau(name, size, seed, batch_size, base, data, run_dir, progress, log,
                                               make_net, block_steps or BLOCK_STEPS,
                                               (model_configs or {}).get(name)))
                write_results(out_dir / "results.csv", rows)
    return rows


def _run_until_plateau(name, size, seed, batch_size, base, data, run_dir, progress, log, make_net,
                       block_steps, model_config=None):
    """One run, lengthened block by block in memory until its loss plateaus, then cooled down."""
    kind, fields = MODELS[name]
    model_config = model_config or {**config_class(kind)().to_dict(), **fields}
    per_block, _ = block_epochs(size, batch_size, block_steps)
    t0 = time.perf_counter()
    model = build_model(kind, model_config, seed=seed)        # seeded as the run's TrainConfig.seed
    with make_net(model) as net:
        state, blocks = None, 0
        while True:
            blocks += 1
            cfg = run_config(size, blocks, batch_size, seed, base, block_steps)
            state = run_or_resume(net, cfg, data, run_dir, state, progress=progress, log=lambda s: None,
                                  same_config=_same_but_longer)
            losses = block_losses(state.metrics[:cfg.epochs], per_block)   # a finished run is read back block by block
            if plateaued(losses) or blocks >= MAX_BLOCKS:
                break
        at_plateau = state.metrics[cfg.epochs - 1]["test_acc"]
        cfg = run_config(size, blocks + 1, batch_size, seed, base, block_steps, cooldown=True)
        state = run_or_resume(net, cfg, data, run_dir, state, progress=progress, log=lambda s: None,
                              same_config=_same_but_longer)
        if state.epoch > cfg.epochs:
            raise ConfigError(f"{run_dir} holds a longer run ({state.epoch} epochs) than the plateau rule stops at "
                              f"({cfg.epochs}); move it away or use another --out")
        x_train, y_train, x_test, y_test = data
        keep = class_balanced_subset(y_train, size, seed)
        train_loss, train_acc, _ = evaluate(net, normalize(x_train[keep], cfg.dataset), y_train[keep])
    metrics = state.metrics
    last = metrics[-1]
    row = {"model": name, "train_size": size, "seed": seed, "blocks": blocks,
           "steps": cfg.epochs * (size // batch_size), "cooldown_steps": cfg.cooldown_steps, "epochs": cfg.epochs,
           "plateaued": plateaued(losses), "parameters": parameters(run_dir), "test_acc_at_plateau": at_plateau,
           "test_acc": last["test_acc"], "test_error": 1 - last["test_acc"],
           "test_loss": last["test_loss"], "train_acc": train_acc, "train_error": 1 - train_acc,
           "train_loss": train_loss, "train_loss_augmented": last["train_loss"],
           "block_losses": json.dumps([round(v, 5) for v in losses]), "wall_s": last["elapsed_s"]}
    log(f"{run_dir.name}: {blocks} blocks{'' if row['plateaued'] else ' (no plateau)'} and a cool-down, "
        f"{row['steps']} steps: test {at_plateau:.4f} -> {row['test_acc']:.4f}, train {train_acc:.4f} loss {train_loss:.4f} "
        f"({time.perf_counter() - t0:.0f} s this call)")
    return row


def read_results(path):
    """The rows of a results.csv (as strings, one dict per run), [] when there is none; rows
    written by an older version without today's columns are left out."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if set(FIELDS) <= set(r)]


def write_results(path, rows):
    """Write results.csv: the rows of this call, and those of earlier calls into the same folder
    that this call did not redo (keyed by model, size and seed), so that calls with other seeds
    or sizes add up to one table. Replaced atomically."""
    key = lambda r: (str(r["model"]), int(r["train_size"]), int(r["seed"]))
    table = {key(r): r for r in read_results(path)}
    table.update({key(r): r for r in rows})
    order = lambda k: (k[2], k[1], list(MODELS).index(k[0]) if k[0] in MODELS else 99)
    write_csv(path, [table[k] for k in sorted(table, key=order)], FIELDS)


def summarize(rows, key="test_error"):
    """{model: {size: (mean, min, max, seeds)}} of `key` over seeds."""
    out = {}
    for r in rows:
        out.setdefault(r["model"], {}).setdefault(int(r["train_size"]), []).append(float(r[key]))
    return {m: {n: (float(np.mean(e)), float(np.min(e)), float(np.max(e)), len(e)) for n, e in sorted(d.items())}
            for m, d in out.items()}


def error_ratios(rows):
    """{size: ViT test error / ResNet test error} for each ViT, from the seed means."""
    table = summarize(rows)
    return {m: {n: table[m][n][0] / table["resnet"][n][0] for n in table[m] if n in table.get("resnet", {})}
            for m in table if m != "resnet"}
