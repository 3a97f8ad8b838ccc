"""Does attention distance grow with depth? The ViT paper's Figures 7 (right) and 11, on MNIST.

The paper (section 4.5) finds that the mean attention distance, the analogue of a CNN's
receptive field, grows with depth, while some heads of the lowest layers already attend across
the whole image and others stay local. Its models see a 14x14 grid of patches (224 px images,
patch 16). MNIST's 28 px digits give the same grids: patch 7 a 4x4 grid (16 patches), patch 4
a 7x7 grid (49, ViT-B/32's), patch 2 a 14x14 grid (196, ViT-B/16's). Each grid is trained with
and without CutMix, which a study of ViTs trained from scratch on small data found to decide
whether early layers become local.

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
from ..insight.analysis import (INK_LEVEL, LOCAL_SHARE, attention_maps, distance_baselines, ink_patches,
                                mean_attention_distance)
from ..models.registry import build_model
from ..models.resnet import ResNetConfig, receptive_fields
from ..models.vit import ViTConfig
from ..training.checkpoint import load_checkpoint, load_model, trained_on
from ..data.prepare import normalize
from ..training.trainer import TrainConfig, presets_for
from ..files import write_csv, write_json
from .runs import run_or_resume, whole_model

PATCHES = (7, 4, 2)                   # 4x4, 7x7 and 14x14 grids
AUGMENTATIONS = ("none", "cutmix")
EPOCHS = 3                            # the budget every run gets: 3 x 60k training images
WIDE = 0.9                            # a head looks across the image when at 90% or more of uniform's


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
    it: 0.3826 side. It puts a CNN's receptive field on the attention-distance axis: the score a
    unit would get if it looked evenly over its whole field."""
    return side * (np.sqrt(2) + np.log(1 + np.sqrt(2))) / 6


def resnet_reference(image_size=28):
    """Per ResNet stage: its receptive field side (px) and, the field clipped to the image, the
    distance a uniform look over it would score (uniform_square_distance)."""
    fields = receptive_fields(ResNetConfig(image_size=image_size))
    return [{"stage": i + 1, "receptive_field_px": r,
             "uniform_over_field_px": float(uniform_square_distance(min(r, image_size)))}
            for i, r in enumerate(fields)]


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


def analyze_run(model, raw_images, image_size=28, dataset="mnist"):
    """Per-head distances (L, h) and the run's summary on raw test images (B, 28, 28) uint8
    of the dataset the model was trained on."""
    p, g = model.config.patch_size, model.patch_embed.grid
    att = attention_maps(model, normalize(raw_images, dataset), batch_size=100)   # (L, B, h, N, N)
    dist = mean_attention_distance(att, p, g)                         # (L, h)
    del att
    base = distance_baselines(ink_patches(raw_images, p), p, g)
    layer_means = dist.mean(axis=1)
    trend, rho = depth_trend(layer_means, min_change=0.05 * image_size)
    local = dist < LOCAL_SHARE * base["uniform"]
    wide = dist >= WIDE * base["uniform"]
    summary = {
        "baselines_px": base,
        "layer_mean_px": layer_means.tolist(),
        "trend": trend, "spearman_rho": rho,
        "local_heads": int(local.sum()), "local_heads_by_layer": local.sum(axis=1).tolist(),
        "wide_heads": int(wide.sum()), "wide_heads_by_layer": wide.sum(axis=1).tolist(),
        "heads_below_ink": int((dist < base["ink"]).sum()),
        "first_layer_mixed": bool(local[0].any() and wide[0].any()),
        "min_px": float(dist.min()), "max_px": float(dist.max()),
    }
    return dist, summary


def _measure(run_dir, raw):
    """(the run's model, its per-head distances, its summary with accuracy and budget)."""
    if not (Path(run_dir) / "last.npz").exists():
        raise ConfigError(f"{run_dir} has no trained run: train it first")
    ckpt = load_checkpoint(run_dir)
    model = load_model(ckpt)
    dist, summary = analyze_run(model, raw, dataset=trained_on(ckpt))
    last = ckpt["train"]["metrics"][-1]
    return model, dist, {"patch": model.config.patch_size, "grid": model.patch_embed.grid,
                         "epochs": last["epoch"], "test_acc": last["test_acc"],
                         "train_wall_s": last["elapsed_s"], **summary}


def analyze_runs(data, out_dir, patches=PATCHES, augmentations=AUGMENTATIONS, images=500, longer=(),
                 log=print):
    """Read every finished run, measure it and write attention_distance.csv (one row per head)
    and attention_distance.json (per run: accuracy, budget, baselines, trend, local and wide
    heads; the ResNet reference; the rules). `longer`: run folders of ViTs trained longer than
    the budget (e.g. the default run), measured the same way into the JSON's "longer_runs", to
    see whether the budget decided the result. Returns the JSON's dict."""
    out_dir = Path(out_dir)
    raw = data[2][:images]
    rows, runs = [], []
    for p in patches:
        for aug in augmentations:
            run_dir = out_dir / run_name(p, aug)
            t0 = time.perf_counter()
            _, dist, summary = _measure(run_dir, raw)
            runs.append({"augmentation": aug, **summary})
            for l in range(dist.shape[0]):
                for k in range(dist.shape[1]):
                    rows.append({"patch": p, "augmentation": aug, "layer": l + 1, "head": k + 1,
                                 "distance_px": round(float(dist[l, k]), 4),
                                 "fraction_of_width": round(float(dist[l, k]) / 28, 4)})
            log(f"{run_dir.name}: acc {summary['test_acc']:.4f}, {summary['trend']} with depth, "
                f"{summary['local_heads']} local heads ({time.perf_counter() - t0:.0f} s)")
    epochs = sorted({r["epochs"] for r in runs})
    result = {"images": len(raw), "budget": f"{'/'.join(map(str, epochs))} epochs of the training images per run",
              "rules": {"ink_patch": f"mean raw intensity > {INK_LEVEL:g} of 255",
                        "local_head": f"distance < {LOCAL_SHARE} x uniform", "wide_head": f"distance >= {WIDE} x uniform",
                        "trend": "Spearman rho of layer means with depth >= 0.6 (<= -0.6) and last - first > "
                                 "1.4 px (< -1.4 px), i.e. 5% of the image width"},
              "resnet": resnet_reference(), "runs": runs,
              "longer_runs": [{"checkpoint": str(path), **_measure(path, raw)[2]} for path in longer]}
    write_csv(out_dir / "attention_distance.csv", rows, list(rows[0]))
    write_json(out_dir / "attention_distance.json", result)
    return result

