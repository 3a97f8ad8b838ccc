"""The runs behind notebook 9, "The paper's missing pieces", and the one file it reads.

    OPENBLAS_NUM_THREADS=1 python tools/paper_pieces.py        # 28 min of training on one core
    python tools/paper_pieces.py --tiny --out /tmp/pieces       # seconds: fake digits, tiny models

Three pieces of the ViT paper (Dosovitskiy et al. 2020) a reader expects to see measured:

  interpolation  a ViT trained on 28x28 digits at patch 7 (a 4x4 grid) reads the same digits
                 drawn at 56x56 (every pixel a 2x2 block: an 8x8 grid) with its position
                 embedding interpolated in 2-D (section 3.2), before and after a short
                 fine-tune; two controls start from a position embedding that is tiled 2x2
                 (right values, wrong places) or drawn afresh (no positions at all)
  pooling        the class token against the average of the patch tokens (Appendix D.3), the
                 same recipe and budget, three seeds each, and average pooling once more at
                 a third of the learning rate and at 5/3 of it (the paper's needed another rate)
  shift          "inductive bias" (section 3.1): a digit shifted by one cell of the model's
                 grid, the ResNet's feature maps against the ViT's tokens, and the accuracy of
                 both, trained with and without shift augmentation, on shifted test digits

Runs live in runs/paper_pieces/ (gitignored), each an ordinary run folder: an interrupted run
resumes, a finished one is read back. Each piece's results are kept in the JSON as it
finishes, so a second call redoes only what is missing (--redo PIECE to force one).
"""
import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from numpyvit import load_mnist, normalize
from numpyvit.data.prepare import class_balanced_subset
from numpyvit.data.augment import shift_images
from numpyvit.data.resample import upsample
from numpyvit.data.synthetic import synthetic_digits
from numpyvit.experiments.runs import run_or_resume, total_steps
from numpyvit.files import write_json
from numpyvit.insight.equivariance import map_strides, resnet_shift_errors, room_to_shift, vit_shift_errors
from numpyvit.layers.module import trunc_normal
from numpyvit.models.registry import build_model
from numpyvit.models.resize import at_resolution
from numpyvit.training.trainer import TrainConfig, evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import this_cpu  # noqa: E402  (tools/, beside this script)

ROOT = Path(__file__).resolve().parents[1]
PIECES = ("interpolation", "shift", "pooling")
SEEDS = (0, 1, 2)
MEAN_LRS = (1e-3, 5e-3)              # average pooling once more at a third of the base rate (3e-3), and above it

# The base recipe: the quick preset (the default model, shift +-2 px, no rotation or zoom)
# shortened to 2 epochs, so that its thirteen runs, the two ResNets' and the three fine-tunes fit
# a budget of about half an hour on one core.
BASE = {"epochs": 2, "rotate": 0.0, "scale": 0.0, "dynamics_steps": 0}
# The fine-tune at 56x56: 100 steps of 128 images (12,800 of the training digits, class-balanced,
# upsampled), AdamW at a tenth of the base rate, 10 warm-up steps, cosine to 0, shift +-4 px
# (the base's +-2 px at the doubled scale).
FINE_TUNE = {"epochs": 1, "lr": 3e-4, "warmup_epochs": 0.1, "shift": 4, "rotate": 0.0, "scale": 0.0,
             "dynamics_steps": 0}
FINE_TUNE_STEPS = 100
SHIFTS_PX = tuple(range(8))          # test digits shifted by 0..7 px, in each of the four directions
SHIFT_IMAGES = 1000                  # the first 1,000 test digits, for the accuracy under shifts
EQUIVARIANCE_IMAGES = 200            # digits with room to move, for the feature maps
CANVAS = 112                         # the ResNet's maps are measured with the digit on a 112x112 canvas



class Setting:
    """What a call runs on: the real digits and models, or (tiny) fake digits and tiny models."""

    def __init__(self, tiny, run_root):
        self.tiny, self.run_root = tiny, Path(run_root)
        if tiny:
            x, y = synthetic_digits(700, seed=0)
            x[x < 60] = 0              # a blank background, as MNIST's, so that digits have room to move
            self.data = (x[:512], y[:512], x[512:], y[512:])
            self.vit = {"dim": 16, "depth": 1, "heads": 2, "mlp_dim": 32}
            self.resnet = {"widths": [4, 8, 8], "blocks_per_stage": [1, 1, 1]}
            self.base = {**BASE, "epochs": 1, "batch_size": 64}
            self.fine_tune, self.fine_tune_steps = {**FINE_TUNE, "batch_size": 30}, 2
            self.resnet_steps, self.seeds = 4, (0, 1)
            self.shift_images, self.equivariance_images = 64, 32
        else:
            self.data = load_mnist()
            self.vit, self.resnet = {}, {}
            self.base, self.fine_tune, self.fine_tune_steps = BASE, FINE_TUNE, FINE_TUNE_STEPS
            self.resnet_steps, self.seeds = 300, SEEDS
            self.shift_images, self.equivariance_images = SHIFT_IMAGES, EQUIVARIANCE_IMAGES

    def runs(self):
        """name -> (kind, model config, train config): every run trained from scratch."""
        runs = {}
        for seed in self.seeds:
            for pool in ("cls", "mean"):
                runs[f"vit-{pool}-s{seed}"] = ("vit", {**self.vit, "pool": pool}, {**self.base, "seed": seed})
            # the paper's Figure 9: average pooling wanted another learning rate than the class token
            for lr in MEAN_LRS:
                runs[f"vit-mean-lr{lr:g}-s{seed}"] = ("vit", {**self.vit, "pool": "mean"},
                                                    {**self.base, "lr": lr, "seed": seed})
        runs["vit-noshift-s0"] = ("vit", self.vit, {**self.base, "shift": 0, "seed": 0})
        # the ResNet for part of one epoch (it reaches the ViT's accuracy in fewer steps, notebook
        # 8): the schedule is 300 steps long, its warm-up the same quarter of them as the ViT's
        # (half an epoch of two): 75 of the 468 steps of an epoch
        resnet = {**self.base, "epochs": 1, "max_steps": self.resnet_steps, "warmup_epochs": 0.16, "seed": 0}
        runs["resnet-s0"] = ("resnet", self.resnet, resnet)
        runs["resnet-noshift-s0"] = ("resnet", self.resnet, {**resnet, "shift": 0})
        return runs


def trained(setting, name, log):
    """The trained model of run `name` (trained now, resumed or read back) and its summary."""
    kind, model_config, train_config = setting.runs()[name]
    cfg = TrainConfig(**train_config)
    model = build_model(kind, model_config, seed=cfg.seed)
    state = run_or_resume(model, cfg, setting.data, setting.run_root / name, progress=False, log=log)
    last = state.metrics[-1]
    return model, {"kind": kind, "model_config": model.config.to_dict(), "train_config": cfg.to_dict(),
                   "seed": cfg.seed, "test_acc": last["test_acc"], "train_acc": last["train_acc"],
                   "epochs": last["epoch"], "steps": total_steps(cfg, len(setting.data[0])),
                   "train_s": last["elapsed_s"]}


def accuracy(model, images, labels, batch_size=500):
    """Test accuracy of `model` on raw images (B, H, W) uint8."""
    return evaluate(model, normalize(images), labels, batch_size)[1]


# --- interpolation --------------------------------------------------------------------------
def with_grid(model, grid):
    """A copy of `model` at 2x the resolution whose position embedding's patch rows are `grid`
    (G, G, D); the class token's row is kept."""
    new = at_resolution(model, 2 * model.config.image_size)
    pos = new.params["pos_embed"]
    pos[0, 1:] = grid.reshape(-1, pos.shape[2]).astype(pos.dtype)
    return new


def starts(base, seed=0):
    """The three ways to give the 56x56 model its 8x8 position grid, from the 28x28 base."""
    g, D = base.patch_embed.grid, base.config.dim
    old = base.params["pos_embed"][0, 1:].reshape(g, g, D)
    fresh = trunc_normal(np.random.default_rng(seed), (2 * g, 2 * g, D))
    return {"interpolated": at_resolution(base, 2 * base.config.image_size),   # section 3.2
            "tiled": with_grid(base, np.tile(old, (2, 2, 1))),   # cell (i, j) gets (i mod g, j mod g)
            "re-initialised": with_grid(base, fresh)}             # the 28x28 model's init, drawn afresh


def piece_interpolation(setting, log):
    x_train, y_train, x_test, y_test = setting.data
    base, base_run = trained(setting, "vit-cls-s0", log)
    n = setting.fine_tune_steps * setting.fine_tune.get("batch_size", TrainConfig.batch_size)
    keep = class_balanced_subset(y_train, n, 0)
    data56 = (upsample(x_train[keep], 2), y_train[keep], upsample(x_test, 2), y_test)
    result = {"base_run": "vit-cls-s0", "base_test_acc_28": base_run["test_acc"],
              "upsampling": "every pixel repeated 2x2 (nearest neighbour), 28x28 -> 56x56",
              "grid": [base.patch_embed.grid, 2 * base.patch_embed.grid],
              "fine_tune": {**setting.fine_tune, "steps": setting.fine_tune_steps, "train_images": n},
              "starts": {}}
    for name, model in starts(base).items():
        before = accuracy(model, data56[2], y_test)
        cfg = TrainConfig(**setting.fine_tune)
        state = run_or_resume(model, cfg, data56, setting.run_root / f"finetune56-{name}", progress=False, log=log)
        result["starts"][name] = {"before": before, "after": state.metrics[-1]["test_acc"],
                                  "train_s": state.metrics[-1]["elapsed_s"]}
        log(f"  {name}: {before:.4f} before, {result['starts'][name]['after']:.4f} after the fine-tune")
        if name == "interpolated":     # for the notebook's similarity pictures, before and after
            result["pos_embed_fine_tuned"] = rounded(model.params["pos_embed"][0])
    result["pos_embed_base"] = rounded(base.params["pos_embed"][0])
    return result


def rounded(array, decimals=5):
    """An array as nested lists of floats with `decimals` places, for the JSON."""
    return np.round(np.asarray(array, dtype=np.float64), decimals).tolist()


# --- pooling --------------------------------------------------------------------------------
def piece_pooling(setting, log):
    names = {"cls": "vit-cls-s{}", "mean": "vit-mean-s{}",
             **{f"mean, lr {lr:g}": f"vit-mean-lr{lr:g}-s{{}}" for lr in MEAN_LRS}}
    per_seed = {variant: {} for variant in names}
    for seed in setting.seeds:
        for variant, name in names.items():
            _, run = trained(setting, name.format(seed), log)
            per_seed[variant][str(seed)] = run["test_acc"]
    return {"test_acc": per_seed, "runs": {variant: name.format("<seed>") for variant, name in names.items()},
            "recipe": setting.base, "lr": {"cls": TrainConfig.lr, "mean": TrainConfig.lr, **{f"mean, lr {lr:g}": lr for lr in MEAN_LRS}},
            "note": "pool='mean' classifies the mean of the patch tokens; the class token is still "
                    "in the sequence (attended to, never read), unlike the paper's GAP model"}


# --- shift ----------------------------------------------------------------------------------
def accuracy_under_shifts(model, images, labels, shifts):
    """Accuracy at each shift k px, the mean over the four directions (right, left, down, up)."""
    out = []
    for k in shifts:
        accs = [accuracy(model, shift_images(images, dy, dx), labels)
                for dy, dx in ((0, k), (0, -k), (k, 0), (-k, 0))]
        out.append(float(np.mean(accs)))
    return out


def piece_shift(setting, log):
    x_train, y_train, x_test, y_test = setting.data
    names = ("vit-cls-s0", "vit-noshift-s0", "resnet-s0", "resnet-noshift-s0")
    # the same ViT recipe on the other seeds (the pooling piece's class-token runs): the spread
    # of reruns against which the ViT with and without shifts are compared
    reruns = tuple(f"vit-cls-s{seed}" for seed in setting.seeds[1:])
    models, runs = {}, {}
    for name in names + reruns:
        models[name], runs[name] = trained(setting, name, log)
    p = models["vit-cls-s0"].config.patch_size
    last = map_strides(models["resnet-s0"])[-1]          # one cell of the ResNet's last map: 8 px
    room = room_to_shift(x_test, max(p, last))
    digits = x_test[room][:setting.equivariance_images]
    equivariance = {"digits": int(len(digits)), "room_px": int(max(p, last)), "vit_shift_px": p,
                    "resnet_shift_px": last, "canvas": CANVAS, "models": {}}
    for name in names + reruns:
        if name.startswith("vit"):
            equivariance["models"][name] = {"tokens": vit_shift_errors(models[name], digits)}
        else:
            equivariance["models"][name] = {
                "canvas": resnet_shift_errors(models[name], digits, last, CANVAS),
                "no_canvas": resnet_shift_errors(models[name], digits, last, None)}
    xs, ys = x_test[:setting.shift_images], y_test[:setting.shift_images]
    room_p = room_to_shift(x_test, p)
    one_patch = {"digits": int(room_p.sum()), "shift_px": p, "models": {}}
    curves = {}
    for name, model in models.items():
        curves[name] = accuracy_under_shifts(model, xs, ys, SHIFTS_PX)
        one_patch["models"][name] = {
            "unshifted": accuracy(model, x_test[room_p], y_test[room_p]),
            "shifted": accuracy(model, shift_images(x_test[room_p], 0, p), y_test[room_p])}
        log(f"  {name}: accuracy at 0..7 px " + " ".join(f"{a:.3f}" for a in curves[name]))
    return {"runs": names, "reruns": reruns, "equivariance": equivariance,
            "accuracy_under_shift": {"shifts_px": list(SHIFTS_PX), "images": int(len(xs)),
                                     "directions": "mean over right, left, down, up", "models": curves},
            "one_patch": one_patch}


PIECE_FUNCTIONS = {"interpolation": piece_interpolation, "pooling": piece_pooling, "shift": piece_shift}


def run(out, tiny=False, run_root=None, redo=(), log=print):
    """Compute every piece not yet in `out` (or named in redo) and write `out` after each."""
    out = Path(out)
    run_root = Path(run_root) if run_root else (out.parent / "runs" if tiny else ROOT / "runs" / "paper_pieces")
    result = json.loads(out.read_text()) if out.exists() else {}
    if result and result.get("tiny", False) != tiny:
        raise SystemExit(f"{out} holds a {'tiny' if result.get('tiny') else 'full'} result; use another --out")
    setting = Setting(tiny, run_root)
    result.update({"tiny": tiny, "cpu": this_cpu(), "numpy": np.__version__, "python": platform.python_version(),
                   "threads": "OPENBLAS_NUM_THREADS=1, one process (see the module docstring)"})
    result.setdefault("pieces", {})
    for piece in PIECES:
        if piece in result["pieces"] and piece not in redo:
            log(f"{piece}: done before")
            continue
        t0 = time.perf_counter()
        log(f"{piece}:")
        result["pieces"][piece] = PIECE_FUNCTIONS[piece](setting, log)
        result["pieces"][piece]["wall_s"] = time.perf_counter() - t0
        result["runs"] = {name: trained(setting, name, lambda s: None)[1]
                          for name in setting.runs() if (run_root / name / "last.npz").exists()}
        result["training_s"] = (sum(r["train_s"] for r in result["runs"].values())
                                + sum(s["train_s"] for s in result["pieces"].get("interpolation", {})
                                      .get("starts", {}).values()))
        write_json(out, result)
        log(f"{piece}: {time.perf_counter() - t0:.0f} s; wrote {out}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "figures" / "paper_pieces.json"))
    parser.add_argument("--tiny", action="store_true", help="fake digits and tiny models: seconds, for the tests")
    parser.add_argument("--runs", default=None, help="where the run folders go (default runs/paper_pieces/)")
    parser.add_argument("--redo", nargs="*", default=(), choices=PIECES, help="recompute these pieces")
    args = parser.parse_args(argv)
    run(args.out, tiny=args.tiny, run_root=args.runs, redo=tuple(args.redo))


if __name__ == "__main__":
    sys.exit(main())
