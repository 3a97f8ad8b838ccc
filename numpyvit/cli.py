"""The command line: python -m numpyvit {train, eval, predict, serve, analyze, experiment, bench} ...

Flags map onto the config dataclasses (ViTConfig, TrainConfig); defaults are the tuned
recipe. Bad input ends with one line on stderr and exit status 2, never a traceback.
"""
import argparse
import json
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from .checkpoint import CheckpointError, load_checkpoint, load_model
from .config import check_positive_int
from .train import PRESETS, TrainConfig, TrainingDiverged
from .vit import ViTConfig


class UsageError(Exception):
    """Something the user gave us is wrong: reported as one line, exit status 2."""


def _flag(name):
    return "--" + name.replace("_", "-")


def _field_comments(cls):
    """{field: its '# comment'} read from the dataclass's source, so --help shows the same
    explanation the code does, written once."""
    import inspect
    import re
    source = inspect.getsource(cls)
    return dict(re.findall(r"^\s+(\w+):[^#\n]*#\s*(.+)$", source, flags=re.M))


def _add_dataclass_flags(parser, cls, title):
    group = parser.add_argument_group(title)
    comments = _field_comments(cls)
    for f in fields(cls):
        kind = type(f.default)
        help_text = f"{comments.get(f.name, '')} (default {f.default!r})".strip()
        group.add_argument(_flag(f.name), dest=f.name, type=kind if kind in (int, float) else str,
                           default=None, help=help_text)
    return group


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
                        help="threads to split each batch across (default: every available core)")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m numpyvit",
                                     description="A Vision Transformer in pure NumPy: train, evaluate, inspect.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model on MNIST (downloads it on first use)",
                       description="Train a ViT on MNIST. Defaults are the tuned recipe; --preset quick is a "
                                   "one-minute demo run.")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default", help="a named recipe (default: default)")
    p.add_argument("--model", choices=["vit", "resnet"], default="vit", help="architecture (default: vit)")
    p.add_argument("--data-dir", default=None, help="MNIST directory (default: $NUMPYVIT_DATA or ~/.cache/numpyvit/mnist)")
    p.add_argument("--out", default=None, help="run folder (default: runs/<timestamp>)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR_OR_CKPT",
                   help="continue a stopped run exactly; its stored config is used")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (one line per epoch)")
    _add_workers_flag(p)
    _add_dataclass_flags(p, ViTConfig, "model (ViTConfig)")
    _add_dataclass_flags(p, TrainConfig, "training (TrainConfig)")

    p = sub.add_parser("eval", help="test loss, accuracy and confusion matrix of a checkpoint")
    p.add_argument("checkpoint", help="a .npz checkpoint or a run folder")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--plot", action="store_true", help="write confusion.png and mistakes.png")
    p.add_argument("--out", default=None, help="folder for the plots (default: the checkpoint's folder)")
    _add_workers_flag(p)

    p = sub.add_parser("predict", help="classify digit images (PNG/JPEG)")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--show", default=None, metavar="DIR",
                   help="write, per image, a PNG of the original beside the 28x28 the model saw")

    p = sub.add_parser("serve", help="a web page to draw a digit and watch the ViT read it",
                       description="Serve the drawing page and its JSON API (see README).")
    p.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--data-dir", default=None, help="MNIST directory for 'a random test digit' (never downloaded)")

    p = sub.add_parser("analyze", help="the ViT paper's analysis figures for a trained checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--out", default=None, help="output folder (default: <checkpoint folder>/analysis)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--images", type=int, default=128, help="test images to average over (default 128)")

    p = sub.add_parser("experiment", help="ViT against a ResNet as the training set grows")
    p.add_argument("name", choices=["data-scale"])
    p.add_argument("--out", default="runs/data-scale", help="output folder (default runs/data-scale)")
    p.add_argument("--sizes", default="1000,3000,10000,30000,60000", help="training-set sizes, comma-separated")
    p.add_argument("--models", default="vit,resnet", help="comma-separated: vit, resnet")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--steps", type=int, default=3000, help="optimisation steps per run (default 3000)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--no-progress", action="store_true")
    _add_workers_flag(p)

    # bench's own flags are parsed by benchmarks/bench.py (main() hands it the rest of argv)
    sub.add_parser("bench", add_help=False, help="speed against PyTorch eager (see: bench --help)")
    return parser


# --- train -------------------------------------------------------------------------------
def _config_from_args(cls, args, base):
    values = dict(base)
    values.update({f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name) is not None})
    return values


def cmd_train(args):
    from .data import load_mnist
    from .train import train
    if args.resume:
        ckpt = load_checkpoint(args.resume)
        given = [_flag(f.name) for cls in (ViTConfig, TrainConfig) for f in fields(cls)
                 if getattr(args, f.name) is not None]
        if given:
            print(f"note: --resume continues the stored run; ignoring {' '.join(given)}", file=sys.stderr)
        kind, model_config = ckpt["model"], ckpt["config"]
        train_config = TrainConfig.from_dict(ckpt["train"]["train_config"])
        out = Path(args.out) if args.out else ckpt["path"].parent
        print(f"resuming {ckpt['path']} at epoch {ckpt['train']['epoch'] + 1}, "
              f"step {ckpt['train']['step_in_epoch']}", file=sys.stderr)
    else:
        model_preset, train_preset = PRESETS[args.preset]
        kind = args.model
        if kind == "vit":
            model_config = ViTConfig(**_config_from_args(ViTConfig, args, model_preset)).to_dict()
        else:
            from .resnet import ResNetConfig
            vit_flags = [_flag(f.name) for f in fields(ViTConfig) if getattr(args, f.name) is not None]
            if vit_flags:
                raise UsageError(f"{' '.join(vit_flags)} configure the ViT; --model resnet uses ResNetConfig's defaults")
            model_config = ResNetConfig().to_dict()
        train_config = TrainConfig(**_config_from_args(TrainConfig, args, train_preset))
        out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        if (out / "last.npz").exists():
            raise UsageError(f"{out} already holds a run (last.npz); continue it with --resume {out} "
                             f"or choose another --out")
        ckpt = None
    data = load_mnist(args.data_dir)
    print(f"training {kind} ({json.dumps(model_config)}) -> {out}", file=sys.stderr)
    try:
        _, metrics = train(kind, model_config, train_config, data, out, resume=ckpt,
                           progress=not args.no_progress, workers=args.workers)
    except KeyboardInterrupt:
        return 130
    if metrics:
        last = metrics[-1]
        print(f"done: test accuracy {last['test_acc']:.4f} after {last['epoch']} epochs, "
              f"{last['elapsed_s']:.0f} s; run folder {out}")
    return 0


# --- eval --------------------------------------------------------------------------------
def confusion_matrix(labels, preds, k):
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (labels, preds), 1)          # rows: true class, columns: predicted
    return cm


def format_confusion(cm):
    k = len(cm)
    lines = ["true\\pred " + " ".join(f"{j:>5}" for j in range(k))]
    lines += [f"{i:>9} " + " ".join(f"{v:>5}" for v in row) for i, row in enumerate(cm)]
    return "\n".join(lines)


def cmd_eval(args):
    from .data import load_mnist, normalize
    from .train import evaluate
    model = load_model(args.checkpoint)
    _, _, x_test, y_test = load_mnist(args.data_dir)
    loss, acc, probs = evaluate(model, normalize(x_test), y_test, workers=args.workers)
    preds = probs.argmax(1)
    cm = confusion_matrix(y_test.astype(np.int64), preds, probs.shape[1])
    print(f"test loss {loss:.4f}  accuracy {acc:.4f}  ({int(np.sum(preds != y_test))} mistakes of {len(y_test)})")
    print(format_confusion(cm))
    if args.plot:
        from .plots import plot_confusion, plot_mistakes
        out = Path(args.out) if args.out else _checkpoint_dir(args.checkpoint)
        out.mkdir(parents=True, exist_ok=True)
        plot_confusion(cm).savefig(out / "confusion.png", dpi=120, bbox_inches="tight")
        wrong = np.flatnonzero(preds != y_test)
        worst = wrong[np.argsort(-probs[wrong, preds[wrong]])]   # most confident mistakes first
        plot_mistakes(x_test[worst], y_test[worst], preds[worst], probs[worst, preds[worst]]).savefig(
            out / "mistakes.png", dpi=120, bbox_inches="tight")
        print(f"wrote {out / 'confusion.png'} and {out / 'mistakes.png'}")
    return 0


def _checkpoint_dir(path):
    path = Path(path)
    return path if path.is_dir() else path.parent


# --- predict -----------------------------------------------------------------------------
def cmd_predict(args):
    from .app.preprocess import ImageError, preprocess_digit, read_image, side_by_side
    from .attention import softmax
    from .data import normalize
    model = load_model(args.checkpoint)
    originals, digits = [], []
    for path in args.images:
        try:
            original = read_image(path)
            digits.append(preprocess_digit(original, model.config.image_size))
        except ImageError as e:
            raise UsageError(str(e) if str(path) in str(e) else f"image {path}: {e}") from None
        originals.append(original)
    probs = softmax(model.forward(normalize(np.stack(digits))))   # (B, K)
    for path, p in zip(args.images, probs):
        top = np.argsort(-p)[:3]
        print(f"{path}: " + "  ".join(f"{k} ({p[k]:.3f})" for k in top))
    if args.show:
        out = Path(args.show)
        out.mkdir(parents=True, exist_ok=True)
        for i, (path, original, digit) in enumerate(zip(args.images, originals, digits)):
            # the index keeps two inputs with the same name (a/1.png, b/1.png) apart
            target = out / f"{i:02d}_{Path(path).stem}_seen.png"
            side_by_side(original, digit).save(target)
        print(f"wrote {len(digits)} side-by-side image(s) (original | what the model saw) to {out}")
    return 0


# --- serve -------------------------------------------------------------------------------
def cmd_serve(args):
    from .app.server import load_reader, make_server, run
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port={args.port} must be between 0 and 65535 (0 picks a free port)")
    reader = load_reader(args.checkpoint, data_dir=args.data_dir)
    try:
        server = make_server(reader, args.host, args.port, verbose=True)
    except OSError as e:              # port taken, address not on this machine, ...
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    return run(server)


# --- analyze -----------------------------------------------------------------------------
def cmd_analyze(args):
    from .data import load_mnist
    from .plots import save_analysis
    model = load_model(args.checkpoint)
    if getattr(model, "kind", "vit") != "vit":
        raise UsageError("analyze needs a ViT checkpoint")
    if args.images < 1:
        raise UsageError(f"--images={args.images} must be at least 1")
    _, _, x_test, y_test = load_mnist(args.data_dir)
    out = Path(args.out) if args.out else _checkpoint_dir(args.checkpoint) / "analysis"
    summary = save_analysis(model, x_test[:args.images], y_test[:args.images], out)
    print(summary)
    print(f"figures and numbers in {out}")
    return 0


# --- experiment --------------------------------------------------------------------------
def _int_list(text, flag):
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"{flag}={text!r} must be comma-separated integers") from None


def cmd_experiment(args):
    from .data import load_mnist
    from .experiment import data_scale, summarize
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    bad = [m for m in models if m not in ("vit", "resnet")]
    if bad or not models:
        raise UsageError(f"--models={args.models!r}: expected a comma-separated list of vit, resnet")
    if args.steps < 1:
        raise UsageError(f"--steps={args.steps} must be at least 1")
    data = load_mnist(args.data_dir)
    t0 = time.perf_counter()
    rows = data_scale(data, args.out, sizes=_int_list(args.sizes, "--sizes"), models=models,
                      seeds=_int_list(args.seeds, "--seeds"), steps=args.steps, progress=not args.no_progress,
                      workers=args.workers)
    print(f"\ntest accuracy (mean over seeds) after {args.steps} steps; {time.perf_counter() - t0:.0f} s this call")
    table = summarize(rows)
    sizes = sorted({r["train_size"] for r in rows})
    print(f"{'train size':>10} " + " ".join(f"{m:>8}" for m in table))
    for n in sizes:
        print(f"{n:>10} " + " ".join(f"{100 * (1 - table[m][n][0]):>7.2f}%" for m in table))
    print(f"results in {Path(args.out) / 'results.csv'} and {Path(args.out) / 'data_scale.png'}")
    return 0


# --- bench -------------------------------------------------------------------------------
def cmd_bench(bench_argv):
    """Run benchmarks/bench.py from the source checkout: the benchmark may import torch, which
    the package itself never does, so it lives beside the package, not inside it."""
    import runpy
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
    if not script.exists():
        raise UsageError(f"the benchmark is not here ({script}); it ships with the source checkout")
    module = runpy.run_path(str(script), run_name="numpyvit_bench")
    return module["main"](bench_argv)


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "analyze": cmd_analyze,
            "experiment": cmd_experiment, "serve": cmd_serve}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        try:
            return cmd_bench(argv[1:])
        except UsageError as e:
            print(f"numpyvit bench: error: {e}", file=sys.stderr)
            return 2
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (UsageError, CheckpointError, ValueError, TrainingDiverged, FileNotFoundError) as e:
        print(f"numpyvit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:         # e.g. MNIST could not be fetched from any source
        print(f"numpyvit {args.command}: error: {e}", file=sys.stderr)
        return 1
