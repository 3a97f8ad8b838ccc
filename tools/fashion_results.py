"""Summarise the Fashion-MNIST runs for docs/fashion-mnist.md: docs/figures/fashion_mnist.json.

    python tools/fashion_results.py --search runs/recipes/results.jsonl --cost p4-e12:p7-e40 \\
        "default=runs/fashion-default" "resnet=runs/fashion-resnet" "mnist-default=runs/mnist-default"

--search is the file benchmarks/recipe_search.py writes: each candidate recipe scored at its
final epoch on the 5,000 validation images held out of the training set (never the test set).
Each further argument is label=run folder of a real `python -m numpyvit train` run, scored at
its final epoch on the 10,000 test images. A run folder may hold `command.txt` (the command as
run), `wall_s.txt` (the whole command's wall time in seconds, measured around it) and
`cpu.txt` (`lscpu`'s output on the machine it ran on); their contents are carried over.
docs/fashion-mnist.md quotes the JSON (`fm.default.test_acc`), and tests/test_readme_numbers.py
holds it to that.
"""
import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from long_recipe import finished_run  # noqa: E402  (tools/, beside this script)
from machine import cpu_name  # noqa: E402

from numpyvit.files import read_jsonl, write_json  # noqa: E402

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
TEST_IMAGES = 10_000    # both datasets' test sets



def recipe(model_config, train_config):
    """The fields a reader compares recipes by."""
    return {"patch": model_config.get("patch_size"), "dim": model_config.get("dim"),
            "epochs": train_config["epochs"], "lr": train_config["lr"], "shift": train_config["shift"],
            "flip": train_config.get("flip", 0.0), "rotate": train_config["rotate"],
            "scale": train_config["scale"], "ema": train_config.get("ema", 0.0),
            "label_smoothing": train_config["label_smoothing"]}


def summarize_search(row, run_dir):
    """One candidate: its recipe, final validation scores, the validation loss per epoch, its
    median epoch time and the standard error of its validation accuracy."""
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    n = row.get("val_images", 5000)
    acc = row["val_acc"]
    return {"name": row["name"], "model": row["model"], **recipe(row["model_config"], row["train_config"]),
            "val_acc": acc, "val_loss": row["val_loss"], "train_loss": row["train_loss"],
            "val_images": n, "val_standard_error": (acc * (1 - acc) / n) ** 0.5,
            "val_losses": [m["test_loss"] for m in metrics],
            "epoch_s": statistics.median(m["epoch_s"] for m in metrics)}


def summarize_run(label, run_dir):
    run_dir = Path(run_dir)
    config, metrics = finished_run(run_dir)
    cfg = config["train_config"]
    last = metrics[-1]
    extra = {name: (run_dir / f"{name}.txt").read_text().strip()
             for name in ("command", "wall_s", "cpu") if (run_dir / f"{name}.txt").exists()}
    return {"label": label, "run": run_dir.name, "model": config["model"], "dataset": cfg.get("dataset", "mnist"),
            "parameters": config["parameters"], **recipe(config["model_config"], cfg), "seed": cfg["seed"],
            "test_acc": last["test_acc"], "test_error": 1 - last["test_acc"],
            "test_standard_error": (last["test_acc"] * (1 - last["test_acc"]) / TEST_IMAGES) ** 0.5,
            "best_test_acc": max(m["test_acc"] for m in metrics if m.get("test_acc") is not None),
            "train_loop_s": last["elapsed_s"], "epoch_s": statistics.median(m["epoch_s"] for m in metrics),
            "command": extra.get("command"),
            "wall_s": float(extra["wall_s"]) if "wall_s" in extra else None,
            "cpu": cpu_name(extra["cpu"]) if "cpu" in extra else None}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--search", required=True, help="benchmarks/recipe_search.py's results.jsonl")
    p.add_argument("runs", nargs="+", help="label=run folder")
    p.add_argument("--cost", dest="cost_pairs", action="append", default=[], type=lambda t: tuple(t.split(":")),
                   metavar="NAME:BESIDE", help="record NAME's epoch time over BESIDE's, the run beside it")
    p.add_argument("--out", default=str(FIGURES / "fashion_mnist.json"))
    args = p.parse_args(argv)
    search_file = Path(args.search)
    search = [summarize_search(r, search_file.parent / r["name"]) for r in read_jsonl(search_file)]
    # cost per epoch against the candidate it ran beside (two at a time, one core each)
    by_name = {r["name"]: r for r in search}
    for name, beside in args.cost_pairs:
        by_name[name]["epoch_cost_vs_beside"] = by_name[name]["epoch_s"] / by_name[beside]["epoch_s"]
        by_name[name]["ran_beside"] = beside
    runs = []
    for spec in args.runs:
        label, sep, folder = spec.partition("=")
        if not sep:
            raise SystemExit(f"{spec!r}: expected label=run folder")
        runs.append(summarize_run(label, folder))
    write_json(args.out, {"search": search, "runs": runs})
    for r in search:
        print(f"search {r['name']:<22} val {r['val_acc']:.4f}")
    for r in runs:
        print(f"{r['label']:<16} {r['model']:<6} {r['dataset']:<13} test {r['test_acc']:.4f}  wall {r['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
