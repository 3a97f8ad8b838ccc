"""The report of `python -m numpyvit analyze`: every section 4.5 analysis of a trained ViT,
as figures, arrays and the numbers its findings rest on, each beside a reference.

    summary = write_analysis(model, x_test[:128], y_test[:128], "runs/default/analysis")
"""
from pathlib import Path

import numpy as np

from ..data.datasets import get_dataset
from ..data.prepare import normalize
from ..files import write_atomic, write_json
from ..images import check_images
from ..models.registry import build_model
from . import analysis, plots


def write_analysis(model, images_uint8, labels, out_dir, n_show=6, dpi=110, about=None, dataset="mnist"):
    """Run every section 4.5 analysis on `images_uint8` and write figures, arrays and a summary.

    images_uint8: (B, H, W) raw pixels 0..255 (e.g. 128 MNIST test images); labels: (B,) or None.
    Attention distance uses all B images; the attention-map figure shows the first image and
    the rollout figure the first n_show. Writes into out_dir:
    attention_maps.png, attention_rollout.png, attention_distance.png, pos_embed_similarity.png,
    patch_embed_components.png, analysis.npz (plain arrays: distances, similarity, components,
    ratios, rollout_maps, shown_images, shown_labels), analysis.json (the numbers the findings
    rest on, each beside the same measure of the untrained model or a reference attention, and
    `about`: what the caller knows of the model, e.g. its checkpoint and accuracy) and
    summary.txt. dataset: the one the model was trained on (its statistics normalise the
    images; its class names title the figures). Returns the summary text.
    """
    dataset = get_dataset(dataset)
    raw = check_images(np.asarray(images_uint8), "images_uint8", channels=1)[:, 0]     # (B, H, W)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    grid = model.patch_embed.grid
    B = raw.shape[0]
    shown = min(n_show, B)
    shown_labels = np.asarray(labels)[:shown] if labels is not None else None

    att = analysis.attention_maps(model, normalize(raw, dataset))      # (L, B, h, N, N)
    distances = analysis.mean_attention_distance(att, cfg.patch_size, grid)   # (L, h)
    maps = analysis.rollout_map(analysis.attention_rollout(att[:, :shown]), grid)  # (shown, g, g)
    if "pos_embed" in model.params:
        pos_title = "Learned position embedding: cosine similarity"
    else:
        pos_title = "Fixed 2-D sin-cos position embedding (not learned):\ncosine similarity"
    sim = analysis.pos_embed_similarity(model.position_embedding(), grid)       # (g, g, g, g)
    components, ratios = analysis.patch_embed_components(model.patch_embed.proj.params["weight"])

    names = [dataset.classes[k] for k in shown_labels] if shown_labels is not None else None
    first = f" (label {names[0]})" if names is not None else ""
    figures = {
        "attention_maps.png": plots.plot_attention_maps(
            raw[0], att[:, 0], title=f"Attention of the class token to each patch, first image{first}"),
        "attention_rollout.png": plots.plot_rollout(raw[:shown], maps, names),
        "attention_distance.png": plots.plot_attention_distance(distances, cfg.patch_size, grid),
        "pos_embed_similarity.png": plots.plot_pos_embed_similarity(sim, pos_title),
        "patch_embed_components.png": plots.plot_patch_components(components, ratios, k=28),
    }
    for name, fig in figures.items():
        plots.save_figure(fig, out / name, dpi=dpi, tight=False)

    arrays = dict(distances=distances, similarity=sim, components=components,
                  ratios=ratios, rollout_maps=maps, shown_images=raw[:shown],
                  shown_labels=shown_labels if shown_labels is not None else np.zeros(0, dtype=np.int64))
    write_atomic(out / "analysis.npz", lambda f: np.savez(f, **arrays))

    top = min(3, len(ratios))
    summary = "\n".join([
        f"numpyvit analysis on {B} images: depth {cfg.depth}, heads {cfg.heads}, "
        f"patch {cfg.patch_size} px ({grid}x{grid} grid), pos_embed '{cfg.pos_embed}'",
        analysis.summarize(distances, sim),
        f"Patch embedding filters: the first {top} principal components explain "
        f"{100 * ratios[:top].sum():.1f}% of their variance "
        f"({', '.join(f'{100 * r:.1f}%' for r in ratios[:top])}).",
    ]) + "\n"
    write_atomic(out / "summary.txt", summary)
    write_json(out / "analysis.json", {**(about or {}), **analysis_numbers(model, raw, distances, sim, ratios, dataset)})
    return summary


def analysis_numbers(model, raw, distances, sim, ratios, dataset="mnist"):
    """The findings of write_analysis as numbers, each with its reference: the untrained model
    (the same config, seed 0) and, for attention distance, the self/uniform/ink attentions;
    `dataset` is recorded beside them."""
    cfg, grid = model.config, model.patch_embed.grid
    untrained = build_model("vit", cfg.to_dict(), seed=0)
    u_sim = analysis.pos_embed_similarity(untrained.position_embedding(), grid)
    _, u_ratios = analysis.patch_embed_components(untrained.patch_embed.proj.params["weight"])
    ink = analysis.ink_patches(raw, cfg.patch_size)
    return {
        "dataset": get_dataset(dataset).name, "images": int(raw.shape[0]), "patch": cfg.patch_size, "grid": grid,
        "distance_px": {"layer_min": distances.min(axis=1).tolist(), "layer_mean": distances.mean(axis=1).tolist(),
                        "layer_max": distances.max(axis=1).tolist(), "min": float(distances.min()),
                        "max": float(distances.max())},
        "distance_baselines_px": (base := analysis.distance_baselines(ink, cfg.patch_size, grid)),
        "heads": int(distances.size),
        "heads_below_ink": int((distances < base["ink"]).sum()),
        "heads_local": int((distances < analysis.LOCAL_SHARE * base["uniform"]).sum()),
        "pos_embed": {"trained": {**analysis.neighbour_similarity_summary(sim), **analysis.row_column_similarity(sim)},
                      "untrained": {**analysis.neighbour_similarity_summary(u_sim),
                                    **analysis.row_column_similarity(u_sim)}},
        "components": {"filters": int(model.patch_embed.proj.params["weight"].shape[0]), "count": len(ratios),
                       "top3": [float(r) for r in ratios[:3]],
                       "for_90_percent": analysis.components_for_share(ratios, 0.9),
                       "for_90_percent_untrained": analysis.components_for_share(u_ratios, 0.9)},
    }
