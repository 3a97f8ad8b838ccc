"""What attention rollout shows on MNIST, held against controls (ViT paper appendix D.8, Figure 6).

A rollout map looks like an explanation: bright patches, dim ones. Two questions decide whether
it is one. Does it depend on the digit, or is it mostly one positional template drawn under
every image? And does it point at the patches the model needs: does blanking the patches it
ranks highest cost more accuracy than blanking random ones, or the lowest, or simply the ones
with the most ink (the trivial importance map any digit offers)?

For each model: the template (the mean map over the test images), every image's deviation from
it, the per-image correlation with the ink per patch of the map, of its deviation and of the
template (the digit-blind control), how often the brightest patch holds ink against the share
of patches that do, and deletion curves (accuracy with the k top, bottom, random or most-inked
patches blanked to the background).

Blanking to the background confounds that last test: most patches hold no ink, so "most ink
first" removes the most ink by construction. Two controls beside it (new keys of the result,
the old ones unchanged): `deletion_inked`, the same orders among the inked patches only (a
share of each image's inked patches, never a blank one), and `deletion_equal_ink`, every order
removing the same share of each image's ink (its patches whole in the order's ranking, the last
one dimmed to make up the share), so the orders are compared at equal ink removed.

Shape legend: B images, g grid side, P = g*g patches.
"""
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..insight.analysis import (INK_LEVEL, deletion_curve, equal_ink_deletion_curve, ink_per_patch,
                                inked_deletion_curve, rollout_controls, rollout_maps_for_model)
from ..training.checkpoint import load_checkpoint, load_model, trained_on
from ..data.prepare import normalize
from ..files import write_json

FRACTIONS = (0, 1 / 16, 2 / 16, 3 / 16, 4 / 16, 6 / 16, 8 / 16)   # of the patches blanked
ORDERS = ("high", "random", "low", "ink")
INKED_FRACTIONS = (0, 1 / 8, 2 / 8, 3 / 8, 4 / 8, 6 / 8, 1)        # of each image's inked patches blanked
INK_SHARES = (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75)                     # of each image's ink removed


def _quartiles(values):
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "mean": float(v.mean()), "n": int(v.size)}


def analyze_model(model, raw_images, labels, seed=0, dataset="mnist"):
    """The controls and deletion curves of one model on raw test images (B, 28, 28) uint8 of
    the dataset it was trained on."""
    p, P = model.config.patch_size, model.patch_embed.num_patches
    images = normalize(raw_images, dataset)
    background = float(normalize(np.zeros((1, 1, 1), np.uint8), dataset)[0, 0, 0, 0])   # a blank pixel
    maps = rollout_maps_for_model(model, images)                                   # (B, g, g)
    ink = ink_per_patch(raw_images, p)                                             # (B, P)
    c = rollout_controls(maps, ink)
    inked = ink > INK_LEVEL
    brightest = maps.reshape(len(maps), -1).argmax(axis=1)
    ks = sorted({int(round(f * P)) for f in FRACTIONS})
    rng = np.random.default_rng(seed)
    curves = {}
    for order in ORDERS:
        scores = ink if order == "ink" else maps.reshape(len(maps), -1)
        curves[order] = deletion_curve(model, images, labels, scores, ks, background,
                                       order="high" if order == "ink" else order, rng=rng).tolist()
    inked_curves, inked_patches, ink_curves, ink_touched = {}, {}, {}, {}
    for order in ORDERS:                # the controls: among inked patches, and at equal ink removed
        scores = ink if order == "ink" else maps.reshape(len(maps), -1)
        rank = "high" if order == "ink" else order
        acc, blanked = inked_deletion_curve(model, images, labels, scores, inked, INKED_FRACTIONS, background,
                                            order=rank, rng=rng)
        inked_curves[order], inked_patches[order] = acc.tolist(), blanked.round(3).tolist()
        acc, touched = equal_ink_deletion_curve(model, images, labels, scores, ink, INK_SHARES, background,
                                                order=rank, rng=rng)
        ink_curves[order], ink_touched[order] = acc.tolist(), touched.round(3).tolist()
    summary = {
        "patch": p, "grid": model.patch_embed.grid, "images": len(raw_images),
        "accuracy": curves["high"][0],
        "template": c["template"].round(4).tolist(),
        "corr_rollout": _quartiles(c["corr_rollout"]),
        "corr_deviation": _quartiles(c["corr_deviation"]),
        "corr_template": _quartiles(c["corr_template"]),
        "rollout_beats_template": float(np.mean(c["corr_rollout"] > c["corr_template"])),
        "brightest_holds_ink": float(inked[np.arange(len(maps)), brightest].mean()),
        "ink_patch_share": float(inked.mean()),
        "template_brightest_holds_ink": float(inked[:, int(c["template"].argmax())].mean()),
        "deletion": {"k": ks, "fraction": [k / P for k in ks], **curves},
        "deletion_inked": {"fraction_of_inked": list(INKED_FRACTIONS), **inked_curves,
                           "patches_blanked": inked_patches},
        "deletion_equal_ink": {"ink_share": list(INK_SHARES), **ink_curves, "patches_touched": ink_touched},
    }
    return summary, maps, c


def rollout_experiment(data, checkpoints, out_dir, images=5000, log=print, dataset="mnist"):
    """Analyse every checkpoint on the first `images` test images of `dataset` (`data`) and
    write rollout.json ({"models": [summary per checkpoint]}); returns (the dict, per model
    (maps, controls)). A checkpoint trained on another dataset is refused."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw, labels = data[2][:images], data[3][:images]
    models, details = [], []
    for path in checkpoints:
        ckpt = load_checkpoint(path)
        model = load_model(ckpt)
        if getattr(model, "kind", "vit") != "vit":
            raise ConfigError(f"{path} holds a {model.kind}: rollout needs a ViT checkpoint")
        if trained_on(ckpt) != dataset:
            raise ConfigError(f"{path} holds a model trained on {trained_on(ckpt)}, not {dataset}")
        summary, maps, c = analyze_model(model, raw, labels, dataset=dataset)
        summary["checkpoint"] = str(path)
        models.append(summary)
        details.append((maps, c))
        d = summary["deletion"]
        log(f"{path}: patch {summary['patch']}, accuracy {summary['accuracy']:.4f}; median correlation with "
            f"the ink: rollout {summary['corr_rollout']['median']:.2f}, template {summary['corr_template']['median']:.2f}; "
            f"blanking {d['k'][-1]} patches: high {d['high'][-1]:.3f}, random {d['random'][-1]:.3f}, "
            f"low {d['low'][-1]:.3f}, ink {d['ink'][-1]:.3f}")
        di, de = summary["deletion_inked"], summary["deletion_equal_ink"]
        half, half_ink = INKED_FRACTIONS.index(0.5), INK_SHARES.index(0.5)
        log(f"  controls: half the inked patches blanked: high {di['high'][half]:.3f}, random {di['random'][half]:.3f}, "
            f"ink {di['ink'][half]:.3f}; half the ink removed: high {de['high'][half_ink]:.3f}, random {de['random'][half_ink]:.3f}, "
            f"ink {de['ink'][half_ink]:.3f}")
    result = {"images": len(raw), "ink_patch": f"mean raw intensity > {INK_LEVEL:g} of 255", "models": models,
              "controls": "deletion_inked: a share of each image's inked patches blanked, never a blank one; "
                          "deletion_equal_ink: a share of each image's ink removed, whole patches in the order's "
                          "ranking and the last one dimmed"}
    write_json(out_dir / "rollout.json", result)
    return result, details
