"""The command line: python -m numpyvit {train, eval, predict, serve, analyze, experiment} ...

The one place that orchestrates: it reads flags into the config dataclasses (ViTConfig,
TrainConfig; defaults are the tuned recipe), calls training, insight and the experiments,
and writes their files and figures. What the user got wrong (a flag, a file, a config) is a
`numpyvit.UsageError`: one line on stderr and exit status 2. Anything else is a bug and
keeps its traceback.
"""
import argparse
import inspect
import json
import re
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from .errors import UsageError
from .models.config import check_positive_int
from .files import read_jsonl
from .models.registry import MODEL_KINDS, build_model, config_class
from .models.vit import ViTConfig
from .training.checkpoint import load_checkpoint, load_model, trained_on
from .data.datasets import DATASETS
from .training.trainer import PRESETS, TrainConfig, presets_for


def flag(name):
    """The command-line flag of a config field: patch_size -> --patch-size."""
    return "--" + name.replace("_", "-")


def _field_comments(cls):
    """{field: its '# comment'} read from the dataclass's source, so --help shows the same
    explanation the code does, written once."""
    source = inspect.getsource(cls)
    return dict(re.findall(r"^\s+(\w+):[^#\n]*#\s*(.+)$", source, flags=re.M))


def add_config_flags(parser, cls, title):
    """One flag per int, float or str field of a config dataclass, default None (= keep the
    config's default), with the field's comment as its help. Used here and by the benchmark."""
    group = parser.add_argument_group(title)
    comments = _field_comments(cls)
    for f in fields(cls):
        kind = type(f.default)
        if kind not in (int, float, str):       # tuples (ResNetConfig.widths) have no flag
            continue
        help_text = f"{comments.get(f.name, '')} (default {f.default!r})".strip()
        group.add_argument(flag(f.name), dest=f.name, type=kind, default=None, help=help_text)
    return group


def config_from_args(cls, args, base=None):
    """The field values of `cls` given on the command line, over `base` (a preset's dict)."""
    values = dict(base or {})
    values.update({f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None})
    return values


def positive_int(text):
    """argparse type: a positive integer, or a one-line usage error naming the text."""
    try:
        value = int(text)
        check_positive_int("value", value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer") from None
    return value


def _add_workers_flag(parser):
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="worker processes (cores) to split each batch across (default: every available core)")


def parallel(model, workers=None, checkpoint=None):
    """The net a command runs `model` on: a DataParallel over `workers` cores (default: every
    core, or for a resumed run the count it began with, if this machine has that many, so
    that it continues bit for bit)."""
    from .parallel.data_parallel import DataParallel, available_cores
    stored = checkpoint["train"].get("workers") if checkpoint is not None else None
    if workers is None and stored and stored <= available_cores():
        workers = stored
    return DataParallel(model, workers)


def dataset_for(args, checkpoint):
    """The dataset a command on `checkpoint` uses: the one its model was trained on. A
    --dataset that names another is refused (its pixel statistics and classes would not fit)."""
    stored = trained_on(checkpoint)
    if args.dataset is not None and args.dataset != stored:
        raise UsageError(f"{checkpoint['path']} holds a model trained on {stored}; --dataset {args.dataset} "
                         f"does not match (leave --dataset out to use {stored})")
    return DATASETS[stored]


def _add_dataset_flag(parser, what):
    parser.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                        help=f"{what} (default: the one the checkpoint was trained on)")


def _add_data_dir_flag(parser, extra=""):
    parser.add_argument("--data-dir", default=None,
                        help=f"the dataset's folder{extra} (default: $NUMPYVIT_DATA for MNIST, "
                             f"$NUMPYVIT_FASHION_MNIST_DATA for Fashion-MNIST, else ~/.cache/numpyvit/<dataset>)")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m numpyvit",
                                     description="A Vision Transformer in pure NumPy: train, evaluate, inspect.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model on MNIST or Fashion-MNIST (fetched on first use)",
                       description="Train a ViT on MNIST (or --dataset fashion-mnist). Defaults are the tuned "
                                   "recipe of each dataset; --preset quick is a few-minute demo run; --preset "
                                   "long trains 100 epochs through a weight average.")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="a named recipe of the dataset (default: default)")
    p.add_argument("--model", choices=MODEL_KINDS, default="vit", help="architecture (default: vit)")
    _add_data_dir_flag(p)
    p.add_argument("--out", default=None, help="run folder (default: runs/<timestamp>)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR_OR_CKPT",
                   help="continue a stopped run exactly; its stored config is used")
    p.add_argument("--no-progress", action="store_true", help="no progress display (one line per epoch)")
    _add_workers_flag(p)
    add_config_flags(p, ViTConfig, "model (ViTConfig)")
    add_config_flags(p, TrainConfig, "training (TrainConfig)")

    p = sub.add_parser("eval", help="test loss, accuracy and confusion matrix of a checkpoint")
    p.add_argument("checkpoint", help="a .npz checkpoint or a run folder")
    _add_dataset_flag(p, "the test set")
    _add_data_dir_flag(p)
    p.add_argument("--plot", action="store_true", help="write confusion.png and mistakes.png")
    p.add_argument("--out", default=None, help="folder for the plots (default: the checkpoint's folder)")
    _add_workers_flag(p)

    p = sub.add_parser("predict", help="classify photos of digits or garments (PNG/JPEG)",
                       description="Classify each IMAGE: one line apiece, its three likeliest classes. "
                                   "An image that cannot be read or shows no digit is named with the "
                                   "reason, the others are still classified, and the exit status is 2 "
                                   "if any failed.")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    _add_dataset_flag(p, "what the images show")
    p.add_argument("--show", default=None, metavar="DIR",
                   help="write, per image, a PNG of the original beside the 28x28 the model saw")

    p = sub.add_parser("serve", help="a web page to draw a digit and watch the ViT read it",
                       description="Serve the drawing page and its JSON API (see docs/app.md).")
    p.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    _add_data_dir_flag(p, " for 'a random test digit' (never downloaded)")

    p = sub.add_parser("analyze", help="the ViT paper's analysis figures for a trained checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--out", default=None, help="output folder (default: <checkpoint folder>/analysis)")
    _add_dataset_flag(p, "the test images")
    _add_data_dir_flag(p)
    p.add_argument("--images", type=positive_int, default=128, help="test images to average over (default 128)")

    p = sub.add_parser("experiment", help="test the ViT paper's claims: data-scale, attention-distance, rollout")
    p.add_argument("name", choices=["data-scale", "attention-distance", "rollout"])
    p.add_argument("--out", default=None, help="output folder (default runs/<name>)")
    p.add_argument("--quick", action="store_true",
                   help="tiny budgets (a few steps on a few hundred images): checks that it runs, nothing more")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="mnist", help="what the runs train on (default mnist)")
    _add_data_dir_flag(p)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--images", type=positive_int, default=None,
                   help="test images measured (default: attention-distance 500, rollout 5000)")
    g = p.add_argument_group("data-scale")
    g.add_argument("--sizes", default="1000,4000,15000,60000", help="training-set sizes, comma-separated")
    g.add_argument("--models", default=None, help="comma-separated model names (default: all of them)")
    g.add_argument("--seeds", default="0,1", help="comma-separated seeds (default 0,1)")
    g.add_argument("--protocol", choices=["plateau", "validation"], default=None,
                   help="what stops a run: 'plateau' of the training loss (default, docs/figures/"
                        "data_scale_results.csv), or 'validation': early stopping on a validation split held "
                        "out of each subset, the best block cooled down and scored (results_validation.csv)")
    g.add_argument("--max-blocks", type=positive_int, default=None,
                   help="--protocol validation: the cap in blocks (default 40); raising it continues capped runs")
    g = p.add_argument_group("attention-distance")
    g.add_argument("--patches", default="7,4,2", help="patch sizes, comma-separated (default 7,4,2)")
    g.add_argument("--epochs", type=positive_int, default=None,
                   help="passes over the training set per run, the same for every run (default 2)")
    g.add_argument("--longer", default="",
                   help="comma-separated run folders of further ViTs measured the same way (e.g. runs/default, "
                        "trained longer than the budget, to see whether the budget decided the result)")
    g = p.add_argument_group("rollout")
    g.add_argument("--checkpoints", default=None,
                   help="comma-separated checkpoints or run folders (default: runs/default and the "
                        "attention-distance experiment's patch-4 run)")
    _add_workers_flag(p)
    return parser


def _save(fig, path):
    from .insight.plots import save_figure      # matplotlib only where a command draws
    return save_figure(fig, path)


# --- train -------------------------------------------------------------------------------
def cmd_train(args):
    from .data.datasets import load_dataset
    from .training.trainer import train
    if args.resume:
        ckpt = load_checkpoint(args.resume)
        given = [flag(f.name) for cls in (ViTConfig, TrainConfig) for f in fields(cls)
                 if getattr(args, f.name, None) is not None]
        if given:
            print(f"note: --resume continues the stored run; ignoring {' '.join(given)}", file=sys.stderr)
        kind, model_config = ckpt["model"], ckpt["config"]
        train_config = TrainConfig.from_dict(ckpt["train"]["train_config"])
        out = Path(args.out) if args.out else ckpt["path"].parent
        print(f"resuming {ckpt['path']} at epoch {ckpt['train']['epoch'] + 1}, "
              f"step {ckpt['train']['step_in_epoch']}", file=sys.stderr)
    else:
        presets = presets_for(args.dataset or "mnist")
        if args.preset not in presets:
            raise UsageError(f"--preset {args.preset} is not a recipe for {args.dataset} yet; its presets are "
                             f"{', '.join(sorted(presets))} (docs/fashion-mnist.md says why)")
        model_preset, train_preset = presets[args.preset]
        kind = args.model
        if kind == "vit":
            model_config = ViTConfig(**config_from_args(ViTConfig, args, model_preset)).to_dict()
        else:
            vit_flags = [flag(f.name) for f in fields(ViTConfig) if getattr(args, f.name, None) is not None]
            if vit_flags:
                raise UsageError(f"{' '.join(vit_flags)} configure the ViT; --model {kind} uses "
                                 f"{config_class(kind).__name__}'s defaults")
            model_config = config_class(kind)().to_dict()
        train_config = TrainConfig(**config_from_args(TrainConfig, args, train_preset))
        out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        if (out / "last.npz").exists():
            raise UsageError(f"{out} already holds a run (last.npz); continue it with --resume {out} "
                             f"or choose another --out")
        ckpt = None
    data = load_dataset(train_config.dataset, args.data_dir)
    print(f"training {kind} on {DATASETS[train_config.dataset].title} ({json.dumps(model_config)}) -> {out}",
          file=sys.stderr)
    model = build_model(kind, model_config, seed=train_config.seed)
    with parallel(model, args.workers, ckpt) as net:     # the workers stop however the run ends
        metrics = train(net, train_config, data, out, resume=ckpt, progress=not args.no_progress).metrics
    if metrics:
        from .insight.plots import plot_curves, plot_dynamics
        _save(plot_curves(metrics), out / "curves.png")
        if (out / "dynamics.jsonl").exists():       # not with --dynamics-steps 0
            _save(plot_dynamics(read_jsonl(out / "dynamics.jsonl")), out / "dynamics.png")
        last = metrics[-1]
        print(f"done: test accuracy {last['test_acc']:.4f} after {last['epoch']} epochs, "
              f"{last['elapsed_s']:.0f} s; run folder {out}")
    return 0


# --- eval --------------------------------------------------------------------------------
def format_confusion(cm, classes=None):
    """The confusion matrix as text: one row per true class, one column per prediction,
    labelled by class number; with class names, each row also names its class."""
    k = len(cm)
    names = [f"  {classes[i]}" if classes is not None and classes[i] != str(i) else "" for i in range(k)]
    lines = ["true\\pred " + " ".join(f"{j:>5}" for j in range(k))]
    lines += [f"{i:>9} " + " ".join(f"{v:>5}" for v in row) + names[i] for i, row in enumerate(cm)]
    return "\n".join(lines)


def cmd_eval(args):
    from .insight.analysis import confusion_matrix
    from .data.prepare import normalize
    from .data.datasets import load_dataset
    from .training.trainer import evaluate
    ckpt = load_checkpoint(args.checkpoint)
    model = load_model(ckpt)
    dataset = dataset_for(args, ckpt)
    _, _, x_test, y_test = load_dataset(dataset.name, args.data_dir)
    with parallel(model, args.workers) as net:
        loss, acc, probs = evaluate(net, normalize(x_test, dataset), y_test)
    preds = probs.argmax(1)
    cm = confusion_matrix(y_test, preds, probs.shape[1])
    print(f"test loss {loss:.4f}  accuracy {acc:.4f}  ({int(np.sum(preds != y_test))} mistakes of {len(y_test)})")
    print(format_confusion(cm, dataset.classes))
    if args.plot:
        from .insight.plots import plot_confusion, plot_mistakes
        out = Path(args.out) if args.out else _checkpoint_dir(args.checkpoint)
        out.mkdir(parents=True, exist_ok=True)
        _save(plot_confusion(cm, dataset.classes), out / "confusion.png")
        wrong = np.flatnonzero(preds != y_test)
        worst = wrong[np.argsort(-probs[wrong, preds[wrong]])]   # most confident mistakes first
        _save(plot_mistakes(x_test[worst], y_test[worst], preds[worst], probs[worst, preds[worst]],
                            classes=dataset.classes), out / "mistakes.png")
        print(f"wrote {out / 'confusion.png'} and {out / 'mistakes.png'}")
    return 0


def _checkpoint_dir(path):
    path = Path(path)
    return path if path.is_dir() else path.parent


# --- predict -----------------------------------------------------------------------------
def cmd_predict(args):
    from .app.preprocess import ImageError, preprocess_digit, preprocess_garment, read_image, side_by_side
    from .layers.attention import softmax
    from .data.prepare import normalize
    ckpt = load_checkpoint(args.checkpoint)
    model = load_model(ckpt)
    dataset = dataset_for(args, ckpt)
    # each dataset's own recipe: MNIST's for a digit, Fashion-MNIST's for a product photo
    prepare = preprocess_garment if dataset.kind == "garments" else preprocess_digit
    # every image that can be read is classified; each one that cannot gets its own line
    read, failed = [], []                          # (index, path, original, input), messages
    for i, path in enumerate(args.images):
        try:
            original = read_image(path)
            read.append((i, path, original, prepare(original, model.config.image_size)))
        except ImageError as e:
            failed.append(str(e) if str(path) in str(e) else f"image {path}: {e}")
    if read:
        probs = softmax(model.forward(normalize(np.stack([r[3] for r in read]), dataset)))   # (B, K)
        for (_, path, _, _), p in zip(read, probs):
            top = np.argsort(-p)[:3]
            print(f"{path}: " + "  ".join(f"{dataset.classes[k]} ({p[k]:.3f})" for k in top))
    if args.show and read:
        out = Path(args.show)
        out.mkdir(parents=True, exist_ok=True)
        for i, path, original, seen in read:
            # the index keeps two inputs with the same name (a/1.png, b/1.png) apart
            side_by_side(original, seen).save(out / f"{i:02d}_{Path(path).stem}_seen.png")
        print(f"wrote {len(read)} side-by-side image(s) (original | what the model saw) to {out}")
    if failed:
        for message in failed[:-1]:
            print(f"numpyvit predict: error: {message}", file=sys.stderr)
        raise UsageError(failed[-1])              # the last one through main's one line, exit code 2
    return 0


# --- serve -------------------------------------------------------------------------------
def cmd_serve(args):
    from .app.server import load_reader, make_server, run
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port={args.port} must be between 0 and 65535 (0 picks a free port)")
    dataset = trained_on(load_checkpoint(args.checkpoint))
    if dataset != "mnist":
        raise UsageError(f"the page is for drawing digits; {args.checkpoint} holds a model trained on "
                         f"{DATASETS[dataset].title}: classify photos with 'python -m numpyvit predict "
                         f"{args.checkpoint} IMAGE --show DIR' instead")
    reader = load_reader(args.checkpoint, data_dir=args.data_dir)
    try:
        server = make_server(reader, args.host, args.port, verbose=True)
    except OSError as e:              # port taken, address not on this machine, ...
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    return run(server)


# --- analyze -----------------------------------------------------------------------------
def cmd_analyze(args):
    from .data.datasets import load_dataset
    from .insight.report import write_analysis
    ckpt = load_checkpoint(args.checkpoint)
    model = load_model(ckpt)
    if model.kind != "vit":
        raise UsageError(f"analyze needs a ViT checkpoint; {args.checkpoint} holds a {model.kind}")
    dataset = dataset_for(args, ckpt)
    _, _, x_test, y_test = load_dataset(dataset.name, args.data_dir)
    out = Path(args.out) if args.out else _checkpoint_dir(args.checkpoint) / "analysis"
    metrics = ckpt["train"].get("metrics") or [{}]
    about = {"checkpoint": str(args.checkpoint), "epochs": metrics[-1].get("epoch"),
             "test_acc": metrics[-1].get("test_acc")}          # the run's own final score, if it has one
    summary = write_analysis(model, x_test[:args.images], y_test[:args.images], out, about=about, dataset=dataset)
    print(summary)
    print(f"figures and numbers in {out}")
    return 0


# --- experiment --------------------------------------------------------------------------
def _int_list(text, flag_name):
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values:
        raise UsageError(f"{flag_name}={text!r} must be comma-separated integers")
    return values


def cmd_experiment(args):
    from .data.datasets import load_dataset
    if args.name != "data-scale" and (args.protocol is not None or args.max_blocks is not None):
        raise UsageError(f"--protocol and --max-blocks are data-scale's flags, not {args.name}'s")
    out = Path(args.out or f"runs/{args.name}")
    data = load_dataset(args.dataset, args.data_dir)
    if args.quick:       # a few hundred images and test digits: it runs end to end, it proves nothing
        data = (data[0], data[1], data[2][:200], data[3][:200])
    t0 = time.perf_counter()
    run = {"data-scale": _experiment_data_scale, "attention-distance": _experiment_attention_distance,
           "rollout": _experiment_rollout}[args.name]
    run(args, data, out)
    print(f"{time.perf_counter() - t0:.0f} s this call; results in {out}")
    return 0


def _experiment_data_scale(args, data, out):
    from .experiments.data_scale import DEFAULT_MODELS, MODELS, data_scale, error_ratios, read_results, summarize
    from .insight.plots import plot_data_scale
    models = tuple(m.strip() for m in (args.models or ",".join(DEFAULT_MODELS)).split(",") if m.strip())
    bad = [m for m in models if m not in MODELS]
    if bad or not models:
        raise UsageError(f"--models={args.models!r}: expected a comma-separated list of {', '.join(MODELS)}")
    sizes, seeds = _int_list(args.sizes, "--sizes"), _int_list(args.seeds, "--seeds")
    if args.protocol == "validation":
        return _experiment_data_scale_validation(args, data, out, models, sizes, seeds)
    if args.max_blocks is not None:
        raise UsageError("--max-blocks is the validation protocol's cap: it needs --protocol validation")
    if args.quick:
        sizes, seeds = tuple(min(s, 256) for s in sizes[:2]), seeds[:1]
    data_scale(data, out, sizes=sorted(set(sizes)), models=models, seeds=seeds, progress=not args.no_progress,
               make_net=lambda model: parallel(model, args.workers), block_steps=4 if args.quick else None,
               dataset=args.dataset)
    rows = read_results(out / "results.csv")     # every run in the folder, this call's and earlier ones
    table = summarize(rows)
    _save(plot_data_scale(table, summarize(rows, "train_error"),
                          DATASETS[args.dataset].title), out / "data_scale.png")
    print(f"\ntest accuracy (mean over seeds) of the {len(rows)} runs in {out / 'results.csv'}, each trained "
          f"until its training loss plateaued")
    print(f"{'train size':>10} " + " ".join(f"{m:>8}" for m in table))
    for n in sorted({int(r["train_size"]) for r in rows}):
        print(f"{n:>10} " + " ".join(f"{100 * (1 - table[m][n][0]):>7.2f}%" for m in table))
    for m, ratios in error_ratios(rows).items():
        print(f"{m} error / resnet error: " + ", ".join(f"{r:.2f} at {n}" for n, r in ratios.items()))


def _experiment_data_scale_validation(args, data, out, models, sizes, seeds):
    from .experiments import data_scale_validation as dv
    from .experiments.data_scale import error_ratios, summarize
    from .insight.plots import plot_data_scale
    cap = args.max_blocks or dv.MAX_BLOCKS
    if args.quick:       # subsets large enough to hold out the validation split and leave a batch
        sizes, seeds, cap = tuple(min(s, 600, len(data[0])) for s in sizes[:2]), seeds[:1], min(cap, 5)
    dv.data_scale_validation(data, out, sizes=sorted(set(sizes)), models=models, seeds=seeds,
                             progress=not args.no_progress, make_net=lambda model: parallel(model, args.workers),
                             block_steps=4 if args.quick else None, dataset=args.dataset, max_blocks=cap)
    rows = dv.read_results(out / dv.RESULTS)     # every run in the folder, this call's and earlier ones
    good = dv.converged_rows(rows)
    capped = [r for r in rows if r not in good]
    print(f"\n{len(good)} of the {len(rows)} runs in {out / dv.RESULTS} converged by the validation rule "
          f"(patience {dv.PATIENCE} blocks, margin {dv.MARGIN:.0%}, cap {cap} blocks)")
    for r in capped:
        print(f"  not converged: {r['model']} n={r['train_size']} seed {r['seed']}, stopped by the cap at "
              f"{r['blocks']} blocks (best block {r['best_block']}): no verdict is drawn from it")
    if not good:
        return
    table = summarize(good)
    _save(plot_data_scale(table, summarize(good, "train_error"),
                          DATASETS[args.dataset].title), out / "data_scale_validation.png")
    print(f"test accuracy (mean over the converged seeds) of the best block, cooled down")
    print(f"{'train size':>10} " + " ".join(f"{m:>8}" for m in table))
    for n in sorted({int(r["train_size"]) for r in good}):
        print(f"{n:>10} " + " ".join(f"{100 * (1 - table[m][n][0]):>7.2f}%" if n in table[m] else f"{'-':>8}"
                                     for m in table))
    if "resnet" in table:
        for m, ratios in error_ratios(good).items():
            print(f"{m} error / resnet error: " + ", ".join(f"{r:.2f} at {n}" for n, r in ratios.items()))


def _experiment_attention_distance(args, data, out):
    import csv
    from .experiments.attention_distance import EPOCHS, analyze_runs, train_runs
    from .insight.plots import plot_distance_grids
    patches = _int_list(args.patches, "--patches")
    epochs = args.epochs or (1 if args.quick else EPOCHS)
    train_runs(data, out, patches=patches, epochs=epochs, train_size=256 if args.quick else 0,
               progress=not args.no_progress, make_net=lambda model: parallel(model, args.workers),
               dataset=args.dataset)
    longer = [c.strip() for c in args.longer.split(",") if c.strip()]
    result = analyze_runs(data, out, patches=patches, images=args.images or (20 if args.quick else 500),
                          longer=longer)
    with open(out / "attention_distance.csv", newline="") as f:
        per_head = list(csv.DictReader(f))
    _save(plot_distance_grids(result, per_head), out / "attention_distance.png")
    print(f"\n{'run':>40} {'acc':>7} {'growth':>7} {'room':>5} {'local':>5} {'wide':>4} {'offset':>6}  "
          f"layer means as a share of uniform")
    for r in result["runs"] + result["longer_runs"]:
        name = r.get("checkpoint") or f"{r['grid']}x{r['grid']} {r['augmentation']}"
        print(f"{name[-40:]:>40} {100 * r['test_acc']:>6.2f}% {r['trend']:>7} {r['room_px']:>5.1f} "
              f"{r['local_heads']:>5} {r['wide_heads']:>4} {r['offset_heads']:>6}  "
              + " ".join(f"{v:.2f}" for v in r["layer_mean_share_of_uniform"])
              + f"   (uniform {r['baselines_px']['uniform']:.1f} px, ink {r['baselines_px']['ink']:.1f} px)")


def _experiment_rollout(args, data, out):
    from .experiments.rollout import rollout_experiment
    from .insight.plots import plot_deletion_controls, plot_deletion_curves, plot_rollout_controls
    checkpoints = [c.strip() for c in (args.checkpoints or "runs/default,runs/attention-distance/p4-none").split(",")
                   if c.strip()]
    result, details = rollout_experiment(data, checkpoints, out, images=args.images or (100 if args.quick else 5000),
                                         dataset=args.dataset)
    _save(plot_deletion_curves(result["models"]), out / "deletion_curves.png")
    _save(plot_deletion_controls(result["models"]), out / "deletion_controls.png")
    for m, (maps, controls) in zip(result["models"], details):
        _save(plot_rollout_controls(data[2][:8], maps[:8], controls["template"], data[3][:8],
                                    title=f"patch {m['patch']}: rollout against its template"),
              out / f"rollout_controls_p{m['patch']}.png")


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "analyze": cmd_analyze,
            "experiment": cmd_experiment, "serve": cmd_serve}


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        return COMMANDS[args.command](args)
    except UsageError as e:           # the user's to fix: one line; anything else is a bug
        print(f"numpyvit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:         # Ctrl-C: what was written is complete (files are replaced atomically)
        print(f"numpyvit {args.command}: interrupted", file=sys.stderr)
        return 130
