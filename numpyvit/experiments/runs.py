"""One training run of an experiment: trained once, resumed if interrupted, skipped when done.

Every run is an ordinary run folder (see training/trainer.py), so an experiment stopped at any
point continues where it stopped, and a finished run is read back rather than trained again.
A folder that holds a run with another config is an error, never silently overwritten.
"""
import csv
import json
import time

from ..errors import ConfigError
from ..training.checkpoint import load_checkpoint
from ..training.trainer import train


def total_steps(cfg, n_train):
    """The optimisation steps a TrainConfig asks for on n_train images."""
    per_epoch = (cfg.train_subset or n_train) // cfg.batch_size
    return min(cfg.epochs * per_epoch, cfg.max_steps or float("inf"))


def run_or_resume(kind, model_config, cfg, data, run_dir, progress=True, log=print, workers=None,
                  backend=None, same_config=None):
    """Train (or resume, or just read back) one run; returns its metrics list.

    same_config(stored, wanted) decides whether a folder's stored TrainConfig dict is the
    run asked for (default: equal dicts); the data-scale experiment relaxes it to allow a run
    to be continued for more epochs.
    """
    resume = None
    if (run_dir / "last.npz").exists():
        resume = load_checkpoint(run_dir)
        stored = resume["train"].get("train_config")
        if stored is not None:     # a run stored before a field was added has that field's default
            stored = type(cfg).from_dict(stored).to_dict()
        ok = (same_config or (lambda a, b: a == b))(stored, cfg.to_dict())
        same_model = resume["model"] == kind and resume["config"] == json.loads(json.dumps(model_config))
        if not ok or not same_model:
            raise ConfigError(f"{run_dir} holds a run with another config; move it away or use another --out")
    per_epoch = (cfg.train_subset or len(data[0])) // cfg.batch_size
    steps = total_steps(cfg, len(data[0]))
    done = resume is not None and resume["train"]["epoch"] * per_epoch >= steps
    log(f"{run_dir.name}: {cfg.epochs} epochs, {steps} steps"
        + (" (done)" if done else " (resuming)" if resume else ""))
    if done:
        return resume["train"]["metrics"]
    t0 = time.perf_counter()
    _, metrics = train(kind, model_config, cfg, data, run_dir, resume=resume, progress=progress,
                       log=lambda s: None, workers=workers, backend=backend)
    log(f"  -> test accuracy {metrics[-1]['test_acc']:.4f} ({time.perf_counter() - t0:.0f} s this call)")
    return metrics


def parameters(run_dir):
    """The parameter count train() wrote into the run's config.json."""
    return json.loads((run_dir / "config.json").read_text())["parameters"]


def write_json(path, obj):
    """Write a result file atomically: a reader never sees it half written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    tmp.replace(path)


def write_csv(path, rows, fields):
    """Write rows (dicts) as a CSV with these columns, atomically; keys not in fields are left out."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
