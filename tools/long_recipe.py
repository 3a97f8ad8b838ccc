"""Summarise long training runs for docs/long-recipe.md: docs/figures/long_recipe.json and .png.

    python tools/long_recipe.py "long, seed 0=runs/long-s0" "long, seed 1=runs/long-s1" \\
        "long, seed 2=runs/long-s2" "no average, the same augmentation=runs/e100-plain" \\
        "no average, stronger augmentation and label smoothing=runs/e100-strong"

Each argument is label=run folder. The JSON holds, per run, its recipe (epochs, weight-average
decay, augmentation, label smoothing, seed), the final epoch's test accuracy (the average's
and, with a weight average, the optimiser's own weights'), the first epoch at or above the
target, the best epoch (reported, never chosen: the recipe is scored at its final epoch), the
scores at a few earlier epochs (--at) and the training loop's time. The figure is the test
error against epoch of every run (numpyvit.insight.plots.plot_test_error). docs/long-recipe.md's
long-recipe section quotes the JSON by run folder name (`lr.long-s0.test_acc`), and
tests/test_readme_numbers.py holds it to that.
"""
import argparse
import json
import sys
from pathlib import Path

from numpyvit.files import read_jsonl, write_json
from numpyvit.insight.plots import plot_test_error

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
TARGET = 0.995          # the accuracy the long preset is for


def finished_run(run_dir):
    """(config.json, metrics.jsonl's rows) of a run folder that trained all its epochs; a run
    stopped early is refused with the command that finishes it."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    cfg = config["train_config"]
    if metrics[-1]["epoch"] != cfg["epochs"]:
        raise SystemExit(f"{run_dir} stopped at epoch {metrics[-1]['epoch']} of {cfg['epochs']}: finish it "
                         f"first (python -m numpyvit train --resume {run_dir})")
    return config, metrics


def summarize(label, run_dir, at=(30,)):
    """The recipe and the results of one run folder, from config.json and metrics.jsonl;
    `at`: epochs whose test accuracies are kept too."""
    run_dir = Path(run_dir)
    config, metrics = finished_run(run_dir)
    cfg = config["train_config"]
    last = metrics[-1]
    tested = [m for m in metrics if m.get("test_acc") is not None]
    reached = [m["epoch"] for m in tested if m["test_acc"] >= TARGET]
    best = max(tested, key=lambda m: m["test_acc"])
    by_epoch = {m["epoch"]: m for m in tested}
    return {
        "label": label, "run": run_dir.name, "seed": cfg["seed"], "epochs": cfg["epochs"],
        "ema": cfg.get("ema", 0.0), "dropout": config["model_config"].get("dropout", 0.0),
        "shift": cfg["shift"], "rotate": cfg["rotate"], "scale": cfg["scale"],
        "label_smoothing": cfg["label_smoothing"], "parameters": config["parameters"],
        "test_acc": last["test_acc"], "unaveraged_test_acc": last.get("unaveraged_test_acc"),
        "first_epoch_at_target": reached[0] if reached else None,
        "best_test_acc": best["test_acc"], "best_epoch": best["epoch"],
        "at_epoch": {str(e): {"test_acc": by_epoch[e]["test_acc"],
                              "unaveraged_test_acc": by_epoch[e].get("unaveraged_test_acc")}
                     for e in at if e in by_epoch},
        "elapsed_s": last["elapsed_s"],
    }, metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="label=run folder")
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder for long_recipe.json and .png")
    parser.add_argument("--at", type=int, nargs="*", default=[30], help="epochs whose scores to keep too")
    args = parser.parse_args(argv)
    summaries, curves = [], {}
    for item in args.runs:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            parser.error(f"{item!r} is not label=run folder")
        summary, metrics = summarize(label, path, args.at)
        summaries.append(summary)
        curves[label] = metrics
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"target": TARGET, "runs": summaries}
    write_json(args.out / "long_recipe.json", result)
    plot_test_error(curves, TARGET).savefig(args.out / "long_recipe.png", dpi=110)
    for s in summaries:
        own = f" (own weights {s['unaveraged_test_acc']:.2%})" if s["unaveraged_test_acc"] is not None else ""
        print(f"{s['label']}: {s['test_acc']:.2%}{own} after {s['epochs']} epochs, "
              f"{s['elapsed_s'] / 60:.1f} min; {TARGET:.1%} first at epoch {s['first_epoch_at_target']}")
    print(f"wrote {args.out / 'long_recipe.json'} and long_recipe.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
