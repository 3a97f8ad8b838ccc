"""The data-scale experiment under a validation stopping rule: no verdict from a run that has not
converged by a stated rule, and no decision taken on the test set.

The first protocol (data_scale.py) stopped a run when its *training* loss plateaued, with a cap
of 6 blocks; most ViT runs reached the cap with the loss still falling, so its verdicts rest on
runs that had not converged. This protocol keeps the models, the optimiser, the augmentation,
the constant rate and the block length, and changes what decides when a run ends:

1. The split. From the class-balanced subset of n training images (the first protocol's, same
   seed) a class-balanced validation split of val_size(n) = max(VAL_SHARE n, VAL_MIN) images is
   held out (rounded down to whole images per class); the model trains on the other n - val_size
   images (n = 1,000: 200 for validation, 800 to train on). The test set is never handed to the
   trainer: its per-block scores are the validation split's.
2. The blocks. Training runs in blocks of at least BLOCK_STEPS steps (whole epochs of the
   images trained on) at a constant rate after WARMUP_STEPS of warm-up; the validation loss and
   accuracy are measured after every block.
3. The rule (early stopping, `early_stop`). A block is an improvement when its validation loss
   is below (1 - MARGIN) times the best so far; the best block is the last improvement. The run
   stops when PATIENCE blocks in a row have not improved: it has converged. It also stops after
   MAX_BLOCKS blocks, the cap, and is then marked converged=False: still improving, or not yet
   PATIENCE blocks past its best. No verdict is to be drawn from such a row.
4. The score. The best block's weights (and optimiser state) are restored, not the last
   block's: the PATIENCE blocks after the best are by the rule no better on held-out images and
   may be worse (overfitting, at the small sizes), so scoring the last block would charge a run
   for the patience the rule needs to see that it has stopped. From the best block one more
   block cools the rate down linearly to ~0 (as in the first protocol: the score is then the
   model's, not the noise of a constant rate), and only that model is scored on the test set.
   The test accuracy of the best block's weights before the cool-down is recorded beside it.

The cap. MAX_BLOCKS = 40 blocks is 12,000 steps at the small sizes and 40 epochs (about 16,800
steps) at 60,000 images: more than the default recipe's 30 epochs (14,040 steps, cosine), which
takes the ViT to 99.3%, and about 7 times the first protocol's cap, which stopped 15 of 16 ViT
runs. Whether it is rarely what stops a run can only be known from the runs: the converged
column says, and a cap raised later continues the capped runs where they stopped (the search
only lengthens a run; a converged run's rule has fired and does not change).

Training compute per run: steps and images for the model scored (best block + cool-down) and
for all the training done (to the stop + cool-down), and FLOPs of the latter (the analytic count
of models/flops.py for the ViT, of `resnet_forward_flops` for the ResNet; 3x the forward per
training image), so that runs can be compared at equal compute. The validation passes are not
counted (forward only, on val_size images per block).

Each run is a folder out/val-<model>-n<size>-s<seed>/: the search (last.npz, best.npz: the best
block so far, split.json: which images were held out) and cooldown-from-block<b>/, the cool-down
from best block b. Both resume block by block; finished runs are read back.
"""
import csv
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

from ..data.prepare import class_balanced_subset, normalize
from ..errors import ConfigError
from ..files import write_csv, write_json
from ..models.flops import flops
from ..models.registry import build_model, config_class
from ..models.resnet import ResNetConfig
from ..training.checkpoint import load_checkpoint
from ..training.trainer import TrainConfig, evaluate
from .data_scale import (BLOCK_STEPS, DEFAULT_SIZES, MODELS, WARMUP_STEPS, _same_but_longer, base_training,
                         block_epochs, check_request)
from .runs import parameters, run_or_resume, whole_model

VAL_SHARE = 0.1       # the validation split's share of the n training images ...
VAL_MIN = 200         # ... but at least this many (n = 1,000: 200 held out, 800 trained on)
MARGIN = 0.01         # an improvement lowers the best validation loss by at least this share of it
PATIENCE = 3          # stop after this many blocks in a row without an improvement
MAX_BLOCKS = 40       # the cap: a run still going after this many blocks is marked not converged
RESULTS = "results_validation.csv"
FIELDS = ["model", "train_size", "fit_size", "val_size", "seed", "converged", "stopped_by", "blocks", "best_block",
          "block_steps", "steps", "steps_spent", "cooldown_steps", "images_seen", "train_flops",
          "train_flops_per_image", "parameters", "val_losses", "val_accs", "val_loss_best", "val_acc_best",
          "val_loss", "val_acc", "test_acc_best_block", "test_acc", "test_error", "test_loss", "train_acc",
          "train_error", "train_loss", "patience", "margin", "max_blocks", "wall_s"]


# --- the split --------------------------------------------------------------------------------
def val_size(n, classes=10):
    """Images held out of a subset of n for validation: max(VAL_SHARE n, VAL_MIN), rounded down
    to a whole number per class."""
    per_class = max(round(VAL_SHARE * n), VAL_MIN) // classes
    if per_class < 1 or n - per_class * classes < classes:
        raise ConfigError(f"train size {n} is too small to hold out a validation split of "
                          f"{per_class * classes} images (at least one image per class must remain)")
    return per_class * classes


def validation_split(labels, n, seed):
    """(fit, val): indices into `labels` (the training set's) of the images trained on and the
    class-balanced validation split, together the class-balanced subset of n of data_scale's
    protocol (same seed); disjoint, sorted. The test set plays no part."""
    labels = np.asarray(labels)
    subset = class_balanced_subset(labels, n, seed)
    classes = np.unique(labels[subset])
    per_class = val_size(len(subset), len(classes)) // len(classes)
    rng = np.random.default_rng([seed, 271828])          # a stream of its own: the subset's is untouched
    val = np.sort(np.concatenate([rng.choice(subset[labels[subset] == c], per_class, replace=False)
                                  for c in classes]))
    fit = np.setdiff1d(subset, val)
    return fit, val


def _digest(indices):
    return hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()


def _check_split(run_dir, record):
    """Write split.json the first time; afterwards the run must be on the same split."""
    path = run_dir / "split.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored != record:
            raise ConfigError(f"{run_dir} holds a run on another split ({path}: {stored['fit']} trained on, "
                              f"{stored['validation']} held out, seed {stored['seed']}; this run: {record['fit']}, "
                              f"{record['validation']}, seed {record['seed']}); move it away or use another --out")
    else:
        write_json(path, record)


# --- the rule ---------------------------------------------------------------------------------
def early_stop(val_losses, patience=PATIENCE, margin=MARGIN, max_blocks=MAX_BLOCKS):
    """The stopping rule after the blocks whose validation losses are `val_losses` (one per
    block, in order): {"stop", "converged", "best" (1-based block), "since" (blocks since it)}.

    A block improves when its loss < (1 - margin) * the best loss so far (the first block always
    does); the best block is the last that improved. converged: `patience` blocks in a row have
    not improved. stop: converged, or max_blocks blocks are done (the cap).
    """
    if not val_losses:
        raise ValueError("early_stop: no validation losses yet (expected one per finished block)")
    bad = [v for v in val_losses if not math.isfinite(v)]
    if bad:
        raise ValueError(f"early_stop: validation losses {bad} are not finite")
    best, since = 0, 0
    for i in range(1, len(val_losses)):
        if val_losses[i] < (1 - margin) * val_losses[best]:
            best, since = i, 0
        else:
            since += 1
    converged = since >= patience
    return {"stop": converged or len(val_losses) >= max_blocks, "converged": converged, "best": best + 1,
            "since": since}


def stopping_block(val_losses, **rule):
    """The block after which the rule stops a run whose validation curve would be `val_losses`,
    and the rule's verdict there; None if the curve ends before the rule stops it."""
    for blocks in range(1, len(val_losses) + 1):
        verdict = early_stop(val_losses[:blocks], **rule)
        if verdict["stop"]:
            return blocks, verdict
    return None


# --- compute ----------------------------------------------------------------------------------
def resnet_forward_flops(config):
    """FLOPs per image of a ResNet's forward pass, 2 per multiply-add, convolutions and the
    classifier only (as models/flops.py counts the ViT's matrix products): 11 MFLOP for the
    default config."""
    c = config if isinstance(config, ResNetConfig) else ResNetConfig.from_dict(config)
    side = lambda h, k, s, pad: (h + 2 * pad - k) // s + 1           # a convolution's output side
    conv = lambda c_in, c_out, k, h_out: 2 * c_in * k * k * c_out * h_out * h_out
    h = side(c.image_size, 3, c.stem_stride, 1)
    total = conv(c.in_channels, c.widths[0], 3, h)
    c_in = c.widths[0]
    for i, (width, depth) in enumerate(zip(c.widths, c.blocks_per_stage)):
        for j in range(depth):
            stride = 2 if i > 0 and j == 0 else 1
            h_out = side(h, 3, stride, 1)
            total += conv(c_in, width, 3, h_out) + conv(width, width, 3, h_out)
            if stride != 1 or c_in != width:                         # the 1x1 projection shortcut
                total += conv(c_in, width, 1, h_out)
            h, c_in = h_out, width
    return total + 2 * c_in * c.num_classes


def train_flops_per_image(kind, model_config):
    """FLOPs of one training image (forward + backward, 3x the forward)."""
    if kind == "vit":
        return flops(config_class("vit").from_dict(model_config))["train_step"]
    return 3 * resnet_forward_flops(model_config)


# --- the runs ---------------------------------------------------------------------------------
def search_config(fit_size, blocks, batch_size, seed, base, block_steps=BLOCK_STEPS, cooldown=False):
    """The TrainConfig after `blocks` blocks on fit_size images (handed to the trainer whole, so
    train_subset stays 0): constant rate after WARMUP_STEPS, the validation split scored at the
    end of every block; with cooldown, the last block's rate falls linearly to ~0."""
    per_block, steps_per_epoch = block_epochs(fit_size, batch_size, block_steps)
    lr = base.get("lr", TrainConfig.lr)
    return TrainConfig(**{**base, "epochs": blocks * per_block, "batch_size": batch_size, "seed": seed,
                          "train_subset": 0, "lr": lr, "min_lr": lr,
                          "warmup_epochs": WARMUP_STEPS / steps_per_epoch, "eval_every": per_block,
                          "cooldown_steps": per_block * steps_per_epoch if cooldown else 0})


def block_curve(metrics, per_block):
    """(validation losses, validation accuracies) at the end of every complete block: the
    trainer's test_* columns, which in this protocol are the validation split's."""
    ends = [metrics[i] for i in range(per_block - 1, len(metrics), per_block)]
    return [float(m["test_loss"]) for m in ends], [float(m["test_acc"]) for m in ends]


def data_scale_validation(data, out_dir, sizes=DEFAULT_SIZES, models=tuple(MODELS), seeds=(0, 1), batch_size=128,
                          model_configs=None, train_overrides=None, progress=True, log=print, make_net=whole_model,
                          block_steps=None, dataset="mnist", patience=PATIENCE, margin=MARGIN,
                          max_blocks=MAX_BLOCKS):
    """Run (or resume) the experiment under the validation rule, adding each run to
    results_validation.csv as it ends; return this call's rows. Arguments as data_scale's;
    patience, margin, max_blocks: the rule (the tests use small ones)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_request(sizes, models, len(data[0]))
    for name, value in (("patience", patience), ("max_blocks", max_blocks)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}={value!r} must be a whole number of blocks >= 1")
    if not 0 <= margin < 1:
        raise ConfigError(f"margin={margin!r} must be a share of the best validation loss, in [0, 1)")
    base = base_training(dataset, train_overrides)
    rule = {"patience": patience, "margin": margin, "max_blocks": max_blocks}
    rows = []
    for seed in seeds:
        for size in sizes:
            for name in models:
                run_dir = out_dir / f"val-{name}-n{size}-s{seed}"
                rows.append(_run_until_stopped(name, size, seed, batch_size, base, data, run_dir, progress, log,
                                               make_net, block_steps or BLOCK_STEPS, rule,
                                               (model_configs or {}).get(name)))
                write_results(out_dir / RESULTS, rows)
    return rows


def _run_until_stopped(name, size, seed, batch_size, base, data, run_dir, progress, log, make_net, block_steps,
                       rule, model_config=None):
    """One run: blocks until the rule stops it, the best block restored and cooled down, scored."""
    kind, fields = MODELS[name]
    model_config = model_config or {**config_class(kind)().to_dict(), **fields}
    x_train, y_train, x_test, y_test = data
    fit, val = validation_split(y_train, size, seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_split(run_dir, {"train_size": size, "seed": seed, "dataset": base["dataset"], "fit": len(fit),
                           "validation": len(val), "fit_sha256": _digest(fit), "validation_sha256": _digest(val)})
    # the trainer sees the images it trains on and the validation split, never the test set
    held_out = (x_train[fit], y_train[fit], x_train[val], y_train[val])
    per_block, steps_per_epoch = block_epochs(len(fit), batch_size, block_steps)
    best_path = run_dir / "best.npz"
    t0 = time.perf_counter()
    model = build_model(kind, model_config, seed=seed)
    with make_net(model) as net:
        state, blocks = None, 0
        while True:
            blocks += 1
            cfg = search_config(len(fit), blocks, batch_size, seed, base, block_steps)
            state = run_or_resume(net, cfg, held_out, run_dir, state, progress=progress, log=lambda s: None,
                                  same_config=_same_but_longer)
            losses, accs = block_curve(state.metrics[:cfg.epochs], per_block)
            verdict = early_stop(losses, **rule)
            if verdict["best"] == blocks:
                _keep_best(state, model, cfg, net, best_path, cfg.epochs)
            if verdict["stop"]:
                break
        search_s = state.metrics[cfg.epochs - 1]["elapsed_s"]
        best = verdict["best"]
        best_ckpt = load_checkpoint(best_path)
        if best_ckpt["train"]["epoch"] != best * per_block:
            raise ConfigError(f"{best_path} holds epoch {best_ckpt['train']['epoch']}, not the end of the best block "
                              f"{best} (epoch {best * per_block}): the folder holds a longer search than this rule "
                              f"stops at; move it away or use another --out")
        model.load_state_dict(best_ckpt["state"])
        x_test_n = normalize(x_test, base["dataset"])
        _, test_acc_best, _ = evaluate(net, x_test_n, y_test)
        cfg = search_config(len(fit), best + 1, batch_size, seed, base, block_steps, cooldown=True)
        cool_dir = run_dir / f"cooldown-from-block{best}"
        state = run_or_resume(net, cfg, held_out, cool_dir, None, progress=progress, log=lambda s: None,
                              same_config=_same_but_longer, start=best_ckpt)
        test_loss, test_acc, _ = evaluate(net, x_test_n, y_test)
        train_loss, train_acc, _ = evaluate(net, normalize(x_train[fit], base["dataset"]), y_train[fit])
    last = state.metrics[-1]
    cool_s = last["elapsed_s"] - best_ckpt["train"]["elapsed_s"]
    block = per_block * steps_per_epoch
    steps_spent = (blocks + 1) * block
    per_image = train_flops_per_image(kind, model_config)
    row = {"model": name, "train_size": size, "fit_size": len(fit), "val_size": len(val), "seed": seed,
           "converged": verdict["converged"], "stopped_by": "patience" if verdict["converged"] else "cap",
           "blocks": blocks, "best_block": best, "block_steps": block, "steps": (best + 1) * block,
           "steps_spent": steps_spent, "cooldown_steps": cfg.cooldown_steps, "images_seen": steps_spent * batch_size,
           "train_flops": float(steps_spent * batch_size * per_image), "train_flops_per_image": per_image,
           "parameters": parameters(run_dir), "val_losses": json.dumps([round(v, 5) for v in losses]),
           "val_accs": json.dumps([round(v, 5) for v in accs]), "val_loss_best": losses[best - 1],
           "val_acc_best": accs[best - 1], "val_loss": last["test_loss"], "val_acc": last["test_acc"],
           "test_acc_best_block": test_acc_best, "test_acc": test_acc, "test_error": 1 - test_acc,
           "test_loss": test_loss, "train_acc": train_acc, "train_error": 1 - train_acc, "train_loss": train_loss,
           **rule, "wall_s": search_s + cool_s}
    log(f"{run_dir.name}: {'converged' if row['converged'] else 'STOPPED BY THE CAP (not converged)'} after "
        f"{blocks} blocks, best block {best} (validation loss {losses[best - 1]:.4f}, acc {accs[best - 1]:.4f}); "
        f"cooled down, test {test_acc_best:.4f} -> {test_acc:.4f} ({time.perf_counter() - t0:.0f} s this call)")
    return row


def _keep_best(state, model, cfg, net, best_path, epoch):
    """Make best.npz hold the run at the end of this block (epoch `epoch`), the best so far, when
    the state in memory is there. A state read back from further on passes: best.npz was written
    when the block ended, or a later best replaced it, and the caller checks the final best's."""
    if state.epoch != epoch:
        return
    if best_path.exists() and load_checkpoint(best_path)["train"]["epoch"] == epoch:
        return
    state.save(best_path, model, cfg, getattr(net, "workers", 1))


def read_results(path):
    """The rows of a results_validation.csv (as strings, one dict per run), [] when there is none."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if set(FIELDS) <= set(r)]


def write_results(path, rows):
    """results_validation.csv: this call's rows over earlier calls' (keyed by model, size and
    seed), as data_scale.write_results does for its own table. Replaced atomically."""
    key = lambda r: (str(r["model"]), int(r["train_size"]), int(r["seed"]))
    table = {key(r): r for r in read_results(path)}
    table.update({key(r): r for r in rows})
    order = lambda k: (k[2], k[1], list(MODELS).index(k[0]) if k[0] in MODELS else 99)
    write_csv(path, [table[k] for k in sorted(table, key=order)], FIELDS)


def converged_rows(rows):
    """The rows a verdict may rest on: those the rule stopped, not the cap."""
    return [r for r in rows if str(r["converged"]) == "True"]
