"""Does attention distance grow with depth? The ViT paper's Figures 7 (right) and 11, on MNIST
and Fashion-MNIST.

The paper (section 4.5) finds that the mean attention distance, the analogue of a CNN's
receptive field, grows with depth, while some heads of the lowest layers already attend across
the whole image and others stay local. Its models see a 14x14 grid of patches (224 px images,
patch 16). MNIST's 28 px digits give the same grids: patch 7 a 4x4 grid (16 patches), patch 4
a 7x7 grid (49, ViT-B/32's), patch 2 a 14x14 grid (196, ViT-B/16's). Each grid is trained with
and without CutMix, which a study of ViTs trained from scratch on small data (Santiago Toledo &
Martinez 2026, arXiv 2605.16390) found to decide whether early layers become local.

The claim has three parts, each judged by its rule (RULES): some low-layer heads attend
globally, some locally, and the distance grows with depth. Every reference (self, uniform,
ink, the ResNet's receptive fields) is averaged over the same query patches of the same grid
as the heads, and each head's distance is also given as a share of uniform, beside its self
share and its strongest fixed offset; growth that the grid leaves no room for is reported as
'no room', not as 'flat'.

The budget rule: every run sees the same training images, the same number of times
(`epochs` passes over the 60k training set, the default recipe otherwise), so the grids differ
only in how the image is cut. A patch-2 epoch costs about 19x the FLOPs of a patch-7 one
(models/flops.py), which is what sets `epochs` low.

Each run is a run folder (<out>/p<patch>-<augmentation>/) that resumes where it stopped; the
analysis reads the finished checkpoints.

Shape legend: L layers, h heads, B images, P patches, g grid side (P = g*g), p patch size.
"""
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..insight.analysis import (INK_LEVEL, LOCAL_SHARE, attention_maps, distance_baselines, field_distance,
                                ink_patches, mean_attention_distance, offset_attention, strongest_offset)
from ..models.registry import build_model
from ..models.resnet import ResNetConfig, receptive_fields
from ..models.vit import ViTConfig
from ..training.checkpoint import load_checkpoint, load_model, trained_on
from ..data.prepare import normalize
from ..training.trainer import TrainConfig, evaluate, presets_for
from ..files import write_csv, write_json
from .runs import run_or_resume, whole_model

PATCHES = (7, 4, 2)                   # 4x4, 7x7 and 14x14 grids
AUGMENTATIONS = ("none", "cutmix")
EPOCHS = 3                            # the budget every run gets: 3 x 60k training images
WIDE = 0.9                            # a head looks across the image when at 90% or more of uniform's
OFFSET_SHARE = 0.5                    # an offset head gives half its attention or more to one fixed offset
LOW_LAYERS = 2                        # "low layers": the first two of the six
RULES = {
    "ink_patch": f"mean raw intensity > {INK_LEVEL:g} of 255",
    "local_head": f"distance < {LOCAL_SHARE} x uniform on its grid",
    "wide_head": f"distance >= {WIDE} x uniform on its grid",
    "offset_head": f"{OFFSET_SHARE:.0%} or more of its attention on one fixed offset other than itself",
    "low_layers": f"layers 1 to {LOW_LAYERS}",
    "global_low_heads": "the part 'some low-layer heads attend globally' holds when a low-layer head is wide",
    "local_low_heads": "the part 'some low-layer heads attend locally' holds when a low-layer head is local",
    "growth": "Spearman rho of layer means with depth >= 0.6 (<= -0.6) and last - first > 1.4 px (< -1.4 px), "
              "i.e. 5% of the image width; a flat trend with less than 1.4 px of room between layer 1's mean "
              "and uniform is 'no room' (a ceiling), not 'flat'",
    "references": "self, uniform, ink and the ResNet's fields all averaged over the same query patches of the "
                  "same grid as the heads",
}


def run_config(augmentation, epochs, seed=0, dataset="mnist"):
    """The TrainConfig of one run: the dataset's default recipe, `epochs` passes, CutMix on
    every image or off."""
    if augmentation not in AUGMENTATIONS:
        raise ConfigError(f"augmentation={augmentation!r}, expected one of {AUGMENTATIONS}")
    recipe = {**presets_for(dataset)["default"][1], "dataset": dataset}
    return TrainConfig(**{**recipe, "epochs": epochs, "seed": seed, "cutmix": 1.0 if augmentation == "cutmix" else 0.0})


def run_name(patch, augmentation):
    return f"p{patch}-{augmentation}"


def train_runs(data, out_dir, patches=PATCHES, augmentations=AUGMENTATIONS, epochs=EPOCHS,
               train_size=0, progress=True, log=print, make_net=whole_model, dataset="mnist"):
    """Train (or resume) every run; returns {(patch, augmentation): metrics list}.
    train_size > 0 trains on a class-balanced subset (the tests' quick mode); make_net(model)
    is the net each model trains on (a DataParallel, or by default the model run whole)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for p in patches:
        if 28 % p:
            raise ConfigError(f"patch size {p} does not divide the 28 px image")
    runs = {}
    for p in patches:                 # the cheap grids first
        for aug in augmentations:
            cfg = run_config(aug, epochs, dataset=dataset)
            if train_size:
                cfg = TrainConfig(**{**cfg.to_dict(), "train_subset": train_size})
            model_config = ViTConfig(patch_size=p).to_dict()
            with make_net(build_model("vit", model_config, seed=cfg.seed)) as net:
                state = run_or_resume(net, cfg, data, out_dir / run_name(p, aug), progress=progress, log=log)
            runs[p, aug] = state.metrics
    return runs


def uniform_square_distance(side):
    """Mean distance from the centre of a square of `side` px to a point spread uniformly over
    it: 0.3826 side (continuous, from the centre only; kept for comparison: the experiment's
    ResNet reference is resnet_reference's, measured on the heads' grid)."""
    return side * (np.sqrt(2) + np.log(1 + np.sqrt(2))) / 6


def resnet_reference(grid, patch_size, image_size=28):
    """Per ResNet stage: its receptive field side (px) and the distance a unit looking evenly
    over that field would score, measured as the heads are: on the same grid of patches, from
    every query position (analysis.field_distance), and as a share of uniform attention's
    distance on that grid. A stage is not a layer: the reference says how far a stage's unit
    reaches, to be read beside the heads, not at a layer of its own."""
    uniform = field_distance(grid, patch_size, 4 * image_size)
    out = []
    for i, r in enumerate(receptive_fields(ResNetConfig(image_size=image_size))):
        px = field_distance(grid, patch_size, r)
        out.append({"stage": i + 1, "receptive_field_px": r, "uniform_over_field_px": px,
                    "share_of_uniform": px / uniform})
    return out


def depth_trend(layer_means, min_change):
    """'grows', 'falls' or 'flat': the sign of the Spearman correlation of the per-layer mean
    distance with depth when |rho| >= 0.6 and the last layer differs from the first by more
    than `min_change` px in the same direction; otherwise 'flat'. Returns (verdict, rho)."""
    m = np.asarray(layer_means, dtype=np.float64)
    # Spearman's rho: the correlation of ranks, tied values sharing their mean rank
    ranks = np.array([np.mean(np.nonzero(np.sort(m) == v)[0]) for v in m])
    depth = np.arange(len(m), dtype=np.float64)
    rho = float(np.corrcoef(depth, ranks)[0, 1]) if len(m) > 1 and ranks.std() > 0 else 0.0
    change = m[-1] - m[0]
    if rho >= 0.6 and change > min_change:
        return "grows", rho
    if rho <= -0.6 and change < -min_change:
        return "falls", rho
    return "flat", rho


def growth_verdict(layer_means, uniform, min_change):
    """The growth part of the claim, with its ceiling. Growth is judged by depth_trend; but a
    head's distance can grow toward uniform attention only by the room layer 1 leaves below
    it (uniform - layer 1's mean). When that room is smaller than `min_change`, a flat trend
    says nothing: 'no room' (a ceiling, not a finding). Returns (verdict, rho, room px)."""
    trend, rho = depth_trend(layer_means, min_change)
    room = float(uniform - layer_means[0])
    if trend == "flat" and room < min_change:
        return "no room", rho, room
    return trend, rho, room


def analyze_run(model, raw_images, image_size=28, dataset="mnist"):
    """Per-head distances (L, h) and the run's summary on raw test images (B, 28, 28) uint8
    of the dataset the model was trained on: per head its distance as a share of uniform, its
    self share and its strongest fixed offset; the references (self, uniform, ink, the ResNet's
    stages), all over the same query positions of the same grid; and the claim's three parts
    by their rules (RULES)."""
    p, g = model.config.patch_size, model.patch_embed.grid
    att = attention_maps(model, normalize(raw_images, dataset), batch_size=100)   # (L, B, h, N, N)
    dist = mean_attention_distance(att, p, g)                         # (L, h)
    offsets = offset_attention(att, g)                                # (L, h, 2g-1, 2g-1)
    own = offsets[:, :, g - 1, g - 1]                                 # (L, h): the self share, offset (0, 0)
    where, share = strongest_offset(offsets)                          # (L, h, 2), (L, h)
    del att
    base = distance_baselines(ink_patches(raw_images, p), p, g)
    layer_means = dist.mean(axis=1)
    min_change = 0.05 * image_size
    trend, rho, room = growth_verdict(layer_means, base["uniform"], min_change)
    of_uniform = dist / base["uniform"]
    local = of_uniform < LOCAL_SHARE
    wide = of_uniform >= WIDE
    offset = share >= OFFSET_SHARE
    low = slice(0, LOW_LAYERS)
    summary = {
        "baselines_px": base,
        "resnet": resnet_reference(g, p, image_size),
        "layer_mean_px": layer_means.tolist(),
        "layer_mean_share_of_uniform": (layer_means / base["uniform"]).tolist(),
        "share_of_uniform": of_uniform.tolist(),
        "self_share": own.tolist(),
        "strongest_offset": where.tolist(), "strongest_offset_share": share.tolist(),
        "trend": trend, "spearman_rho": rho, "room_px": room, "min_change_px": min_change,
        "local_heads": int(local.sum()), "local_heads_by_layer": local.sum(axis=1).tolist(),
        "wide_heads": int(wide.sum()), "wide_heads_by_layer": wide.sum(axis=1).tolist(),
        "offset_heads": int(offset.sum()), "offset_heads_by_layer": offset.sum(axis=1).tolist(),
        "heads_below_ink": int((dist < base["ink"]).sum()),
        "first_layer_mixed": bool(local[0].any() and wide[0].any()),
        "parts": {"global_low_heads": int(wide[low].sum()), "local_low_heads": int(local[low].sum()),
                  "low_heads": int(dist[low].size), "growth": trend},
        "min_px": float(dist.min()), "max_px": float(dist.max()),
    }
    return dist, summary


def _measure(run_dir, data):
    """(the run's model, its per-head distances, its summary with accuracy and budget). The
    test accuracy is measured here, on the whole test set, so that runs whose trainer scored a
    validation split (the data-scale experiment's) are read the same way as the others."""
    if not (Path(run_dir) / "last.npz").exists():
        raise ConfigError(f"{run_dir} has no trained run: train it first")
    ckpt = load_checkpoint(run_dir)
    model = load_model(ckpt)
    dataset = trained_on(ckpt)
    dist, summary = analyze_run(model, data[2][:data[4]], dataset=dataset)
    _, test_acc, _ = evaluate(model, normalize(data[2], dataset), data[3])
    last = ckpt["train"]["metrics"][-1]
    return model, dist, {"patch": model.config.patch_size, "grid": model.patch_embed.grid,
                         "epochs": last["epoch"], "test_acc": float(test_acc),
                         "train_wall_s": last["elapsed_s"], **summary}


def _head_rows(name, p, aug, dist, summary):
    """One CSV row per head of a measured run."""
    rows = []
    for l in range(dist.shape[0]):
        for k in range(dist.shape[1]):
            dr, dc = summary["strongest_offset"][l][k]
            rows.append({"run": name, "patch": p, "augmentation": aug, "layer": l + 1, "head": k + 1,
                         "distance_px": round(float(dist[l, k]), 4),
                         "fraction_of_width": round(float(dist[l, k]) / 28, 4),
                         "share_of_uniform": round(summary["share_of_uniform"][l][k], 4),
                         "self_share": round(summary["self_share"][l][k], 4),
                         "offset_drow": dr, "offset_dcol": dc,
                         "offset_share": round(summary["strongest_offset_share"][l][k], 4)})
    return rows


def analyze_runs(data, out_dir, patches=PATCHES, augmentations=AUGMENTATIONS, images=500, longer=(),
                 log=print):
    """Read every finished run, measure it and write attention_distance.csv (one row per head)
    and attention_distance.json (per run: accuracy, budget, baselines, trend, local and wide
    heads, self shares, offsets; the ResNet reference on its grid; the rules). `longer`: further
    run folders measured the same way into the JSON's "longer_runs": ViTs trained longer than
    the budget (e.g. the default run, or converged ones), to see whether the budget decided the
    result, or started otherwise. Returns the JSON's dict."""
    out_dir = Path(out_dir)
    measured = (*data[:4], min(images, len(data[2])))      # the test images the heads are measured on
    rows, runs = [], []
    for p in patches:
        for aug in augmentations:
            run_dir = out_dir / run_name(p, aug)
            t0 = time.perf_counter()
            _, dist, summary = _measure(run_dir, measured)
            runs.append({"augmentation": aug, **summary})
            rows += _head_rows(run_dir.name, p, aug, dist, summary)
            log(f"{run_dir.name}: acc {summary['test_acc']:.4f}, {summary['trend']} with depth, "
                f"{summary['local_heads']} local heads ({time.perf_counter() - t0:.0f} s)")
    longer_runs = []
    for path in longer:
        _, dist, summary = _measure(path, measured)
        longer_runs.append({"checkpoint": str(path), **summary})
        rows += _head_rows(str(path), summary["patch"], "longer", dist, summary)
    epochs = sorted({r["epochs"] for r in runs})
    result = {"images": measured[4], "budget": f"{'/'.join(map(str, epochs))} epochs of the training images per run",
              "rules": RULES, "runs": runs, "longer_runs": longer_runs}
    write_csv(out_dir / "attention_distance.csv", rows, list(rows[0]))
    write_json(out_dir / "attention_distance.json", result)
    return result

