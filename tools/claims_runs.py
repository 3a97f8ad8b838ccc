"""The runs behind notebook 8, "Testing the paper's claims", and the result files it reads.

    python tools/claims_runs.py --dataset mnist          # one dataset's runs, one core
    python tools/claims_runs.py --dataset fashion-mnist  # the other's, beside it on the second core
    python tools/claims_runs.py --collect                # copy both into docs/figures/claims/

Per dataset, in this order (each step is an `experiment` command of the package, run in a
subprocess with one BLAS thread; every run resumes where it stopped and a finished one is read
back, so a second call does only what is missing):

  data-scale     the validation protocol (--protocol validation: early stopping on a held-out
                 split, best block cooled down and scored) for the ViT at patch 7 and 4 and the
                 ResNet, on 1,000, 60,000, 4,000 and 15,000 training images (STEPS: the ends
                 first, they carry the verdicts), seed 0; then seed 1 on 1,000 and 4,000, where
                 the seeds' spread is largest
  cutmix         the patch-4 ViT on all 60,000 images under the same protocol with CutMix on
                 every image, so that attention distance is read on converged models with and
                 without it (skipped with --no-cutmix)
  attention      the attention-distance experiment on the 7x7 grid (patch 4) at its equal
                 3-epoch budget, with and without CutMix, and the converged models above read
                 the same way (--longer); on Fashion-MNIST also the same 3-epoch run started
                 from mimetic initialisation of the attention (models/mimetic.py)
  rollout        rollout and its controls on the converged 60,000-image ViTs (patch 7 and 4),
                 each in its own folder, merged into one rollout.json by --collect

Runs live in runs/claims/ (gitignored). --collect copies the result files and figures into
docs/figures/claims/<dataset>/ with the CPU they were made on. A data-scale step whose rows are
all in the run folder's table is not run again, so when runs/ is lost (a new machine),
--restore puts the committed table back and only the missing rows are trained; --data-scale-only
stops after them, since the later steps need the trained models, not their rows.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.machine import this_cpu                                      # noqa: E402

DATASETS = ("mnist", "fashion-mnist")
RUNS = ROOT / "runs" / "claims"
OUT = ROOT / "docs" / "figures" / "claims"
# (size, seed, models): the ends first, since they carry the verdicts, and at 60,000 the patch-4
# ViT last (it costs about three times the others per step); then 4,000, the third size a trend
# needs, seed 1 at 1,000, where the seeds' spread is largest, 15,000, and seed 1 at 4,000
STEPS = [(1000, 0, None), (60000, 0, "vit,resnet"), (60000, 0, "vit-p4"), (4000, 0, None), (1000, 1, None),
         (15000, 0, None), (4000, 1, None)]
COLLECTED = {"data-scale": ["results_validation.csv", "data_scale_validation.png"],
             "cutmix": ["results_validation.csv"],
             "attention": ["attention_distance.json", "attention_distance.csv", "attention_distance.png"],
             "rollout-p7": ["deletion_controls.png"], "rollout-p4": ["deletion_controls.png"]}
ROLLOUTS = ("rollout-p7", "rollout-p4")     # merged into one rollout.json, patch 7's model first


def folder(dataset, step):
    return RUNS / f"{step}-{dataset}"


ONE_CORE = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}   # one BLAS thread a step


def experiment(*args):
    """One `python -m numpyvit experiment ...` on one core; stops the script if it fails."""
    cmd = [sys.executable, "-m", "numpyvit", "experiment", *map(str, args), "--workers", "1", "--no-progress"]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, env=ONE_CORE, cwd=ROOT, check=True)


def converged_model(dataset, step, model, size=60000, seed=0):
    """The run folder of the scored model (best block, cooled down) of a finished validation run."""
    with open(folder(dataset, step) / "results_validation.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f)
                   if r["model"] == model and int(r["train_size"]) == size and int(r["seed"]) == seed)
    return folder(dataset, step) / f"val-{model}-n{size}-s{seed}" / f"cooldown-from-block{row['best_block']}"


def cutmix_run(dataset):
    """The patch-4 ViT on all images, the validation protocol, CutMix on every image."""
    from numpyvit.data.datasets import load_dataset
    from numpyvit.experiments import data_scale_validation as dv
    data = load_dataset(dataset)
    dv.data_scale_validation(data, folder(dataset, "cutmix"), sizes=(60000,), models=("vit-p4",), seeds=(0,),
                             train_overrides={"cutmix": 1.0}, progress=False, dataset=dataset)


def mimetic_run(dataset):
    """The attention-distance experiment's patch-4 run without CutMix, the same 3 epochs, with
    mimetic initialisation of the attention (models/mimetic.py): a known way to start the
    attention local, to see whether local low-layer heads survive training."""
    from numpyvit.data.datasets import load_dataset
    from numpyvit.experiments.attention_distance import EPOCHS, run_config
    from numpyvit.experiments.runs import run_or_resume, whole_model
    from numpyvit.models.registry import build_model
    from numpyvit.models.vit import ViTConfig
    cfg = run_config("none", EPOCHS, dataset=dataset)
    model = build_model("vit", ViTConfig(patch_size=4, attn_init="mimetic").to_dict(), seed=cfg.seed)
    with whole_model(model) as net:
        run_or_resume(net, cfg, load_dataset(dataset), mimetic_folder(dataset), progress=False)


def mimetic_folder(dataset):
    return folder(dataset, "attention") / "p4-none-mimetic"


def finished(table, n, seed, models):
    """Whether every row of one data-scale step is in the table already."""
    from numpyvit.experiments.data_scale_validation import MODELS, read_results
    have = {(r["model"], int(r["train_size"]), int(r["seed"])) for r in read_results(table)}
    return all((m, n, seed) in have for m in (models.split(",") if models else MODELS))


def restore(dataset):
    """Put the committed results table back into an empty run folder (see the docstring)."""
    src, dst = OUT / dataset / "results_validation.csv", folder(dataset, "data-scale") / "results_validation.csv"
    if src.exists() and not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        print(f"{src.relative_to(ROOT)} -> {dst.relative_to(ROOT)}")


def run(dataset, cutmix=True, data_scale_only=False):
    ds = folder(dataset, "data-scale")
    for n, seed, models in STEPS:
        if finished(ds / "results_validation.csv", n, seed, models):
            print(f"data-scale {n:,} images, seed {seed}, {models or 'every model'}: in the table already")
            continue
        experiment("data-scale", "--protocol", "validation", "--dataset", dataset, "--sizes", n, "--seeds", seed,
                   "--out", ds, *(("--models", models) if models else ()))
    if data_scale_only:
        return
    longer = [converged_model(dataset, "data-scale", "vit-p4")]
    if cutmix:
        subprocess.run([sys.executable, __file__, "--dataset", dataset, "--only-cutmix"], env=ONE_CORE, check=True)
        longer.append(converged_model(dataset, "cutmix", "vit-p4"))
    if dataset == "fashion-mnist":
        subprocess.run([sys.executable, __file__, "--dataset", dataset, "--only-mimetic"], env=ONE_CORE, check=True)
        longer.append(mimetic_folder(dataset))
    experiment("attention-distance", "--patches", 4, "--dataset", dataset, "--out", folder(dataset, "attention"),
               "--longer", ",".join(map(str, longer)))
    for model, patch in (("vit", 7), ("vit-p4", 4)):       # one folder each: patch 7 is ready hours earlier
        experiment("rollout", "--dataset", dataset, "--out", folder(dataset, f"rollout-p{patch}"),
                   "--checkpoints", converged_model(dataset, "data-scale", model))


def destination(step, name):
    """A result file's name in docs/figures/claims/<dataset>/: the CutMix run's table and each
    rollout folder's figure get their step's name, so no step's file overwrites another's."""
    if step == "cutmix":
        return f"cutmix_{name}"
    if step in ROLLOUTS:
        return f"{name[:-len('.png')]}_{step.split('-')[1]}.png"     # deletion_controls_p7.png
    return name


def collect():
    """Copy every finished result into docs/figures/claims/<dataset>/, with the CPU."""
    for dataset in DATASETS:
        out = OUT / dataset
        out.mkdir(parents=True, exist_ok=True)
        for step, names in COLLECTED.items():
            for name in names:
                src = folder(dataset, step) / name
                if src.exists():
                    dst = out / destination(step, name)
                    shutil.copyfile(src, dst)
                    print(f"{src.relative_to(ROOT)} -> {dst.relative_to(ROOT)}")
        parts = [json.loads((folder(dataset, step) / "rollout.json").read_text()) for step in ROLLOUTS
                 if (folder(dataset, step) / "rollout.json").exists()]
        if parts:
            merged = {**parts[0], "models": [m for part in parts for m in part["models"]]}
            (out / "rollout.json").write_text(json.dumps(merged, indent=1) + "\n")
            print(f"{len(merged['models'])} rollout models -> {(out / 'rollout.json').relative_to(ROOT)}")
    (OUT / "machine.json").write_text(json.dumps({"cpu": this_cpu()}, indent=1) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=DATASETS)
    ap.add_argument("--collect", action="store_true", help="copy the results into docs/figures/claims/")
    ap.add_argument("--no-cutmix", action="store_true", help="skip the converged CutMix run")
    ap.add_argument("--data-scale-only", action="store_true", help="stop after the data-scale runs")
    ap.add_argument("--restore", action="store_true",
                    help="put the committed results table into an empty run folder first")
    ap.add_argument("--only-cutmix", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--only-mimetic", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.collect:
        return collect()
    if not args.dataset:
        ap.error("give --dataset or --collect")
    if args.only_cutmix:
        return cutmix_run(args.dataset)
    if args.only_mimetic:
        return mimetic_run(args.dataset)
    if args.restore:
        restore(args.dataset)
    run(args.dataset, cutmix=not args.no_cutmix, data_scale_only=args.data_scale_only)


if __name__ == "__main__":
    main()
