"""Choose a recipe without looking at the test set: train on the training set minus a held-out
validation split, score the final epoch on that split.

    python benchmarks/recipe_search.py --dataset fashion-mnist --name p7-e40 --out runs/recipes \
        --epochs 40                                        # the dataset's default recipe, 40 epochs
    python benchmarks/recipe_search.py --dataset fashion-mnist --name p4-e12 --out runs/recipes \
        --epochs 12 --patch-size 4

Every option of `python -m numpyvit train` that sets the model or the recipe is accepted as
there (--patch-size, --dim, --epochs, --lr, --flip, ...); the dataset's default preset fills
the rest. The validation split is `--val` images (default 5,000) drawn once, class-balanced,
with its own seed, from the 60,000 training images; the run trains on the other 55,000 and
its "test" columns in metrics.jsonl are the validation split's. One result line per run is
kept in <out>/results.jsonl (a rerun replaces its line). Runs are resumable: run the same command again.
Timing is not the point here (several searches may share the cores); the wall time of a
recipe is measured by the real command.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numpyvit.cli import add_config_flags, config_from_args            # noqa: E402
from numpyvit.data.datasets import load_dataset                       # noqa: E402
from numpyvit.data.prepare import class_balanced_subset               # noqa: E402
from numpyvit.files import read_jsonl, write_jsonl                    # noqa: E402
from numpyvit.models.registry import build_model, config_class        # noqa: E402
from numpyvit.models.vit import ViTConfig                             # noqa: E402
from numpyvit.training.checkpoint import load_checkpoint             # noqa: E402
from numpyvit.training.trainer import TrainConfig, presets_for, train  # noqa: E402


def split(x, y, val, seed=12345):
    """(x_fit, y_fit, x_val, y_val): `val` class-balanced images held out of (x, y)."""
    held = class_balanced_subset(y, val, seed)
    keep = np.setdiff1d(np.arange(len(y)), held)
    return x[keep], y[keep], x[held], y[held]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="default")
    p.add_argument("--model", default="vit")
    p.add_argument("--name", required=True, help="the run's folder under --out")
    p.add_argument("--out", default="runs/recipes")
    p.add_argument("--val", type=int, default=5000, help="validation images held out (default 5000)")
    add_config_flags(p, ViTConfig, "model")
    add_config_flags(p, TrainConfig, "training")
    args = p.parse_args(argv)
    dataset = args.dataset or "fashion-mnist"
    model_preset, train_preset = presets_for(dataset)[args.preset]
    if args.model == "vit":
        model_config = ViTConfig(**config_from_args(ViTConfig, args, model_preset)).to_dict()
    else:
        model_config = config_class(args.model)().to_dict()
    cfg = TrainConfig(**{**config_from_args(TrainConfig, args, train_preset), "dataset": dataset})
    x, y, _, _ = load_dataset(dataset)
    data = split(x, y, args.val)
    out = Path(args.out) / args.name
    resume = load_checkpoint(out) if (out / "last.npz").exists() else None
    model = build_model(args.model, model_config, seed=cfg.seed)
    start = time.perf_counter()
    metrics = train(model, cfg, data, out, resume=resume, progress=False).metrics
    last = metrics[-1]
    row = {"name": args.name, "dataset": dataset, "model": args.model, "model_config": model_config,
           "train_config": cfg.to_dict(), "epochs": last["epoch"], "val_acc": last["test_acc"],
           "val_loss": last["test_loss"], "train_loss": last["train_loss"], "val_images": args.val,
           "best_val_acc": max(m["test_acc"] for m in metrics), "wall_s_this_call": time.perf_counter() - start}
    results = Path(args.out) / "results.jsonl"
    earlier = [r for r in read_jsonl(results) if r["name"] != args.name] if results.exists() else []
    write_jsonl(results, earlier + [row])
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
