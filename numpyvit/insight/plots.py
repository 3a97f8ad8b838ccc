"""Figures: the ViT paper's section 4.5 analyses, training curves and dynamics, confusion
matrix, mistakes, the data-scale experiment and the speed sweep.

One function per figure; each returns a matplotlib Figure and never calls show(). We build
`matplotlib.figure.Figure` objects directly, without pyplot: no global figure state and no
backend to choose, so the same code runs headless (savefig renders PNG with Agg) and in a
notebook (a Figure displays itself as the cell's output).

Shape legend: L layers, B batch, h heads, N tokens (patches + 1 class token, token 0 the
class token), g grid side (N = g*g + 1), H, W image height/width, C channels, p patch size,
K classes. Layer and head indices passed in are 0-based; figures label them 1-based, as the
paper does.
"""
import matplotlib
import numpy as np
from matplotlib import patheffects
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from ..files import write_atomic
from ..images import check_images
from . import analysis

HEAT_CMAP = "inferno"     # attention: dark = little, bright = much
# the digit's outline over a heat map: white with a black edge reads on dark and bright colours
OUTLINE = dict(colors="white", linewidths=1.0,
               path_effects=[patheffects.withStroke(linewidth=2.2, foreground="black")])


def save_figure(fig, path, dpi=120, tight=True):
    """Write a figure as PNG, atomically (figures are plain objects, not pyplot's: nothing to close)."""
    box = "tight" if tight else None
    return write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches=box))


def _gray_images(images, name):
    """(n, H, W) or (n, 1, H, W) -> (n, H, W)."""
    return check_images(np.asarray(images), name, channels=1)[:, 0]


def _upsample(m, size):
    """Nearest-neighbour upsampling of a (g, g) map to (size, size): each cell becomes a block."""
    g = m.shape[-1]
    if size % g:
        raise ValueError(f"image size {size} is not a multiple of the attention grid {g}")
    return np.kron(m, np.ones((size // g, size // g)))


def _outline(ax, image):
    """Draw the digit's outline (half-way between its darkest and brightest pixel)."""
    lo, hi = float(image.min()), float(image.max())
    if hi > lo:
        ax.contour(image, levels=[(lo + hi) / 2], **OUTLINE)


def _no_ticks(ax):
    ax.set_xticks([])
    ax.set_yticks([])


def plot_attention_maps(image, attentions_for_image, layers=None, heads=None, title=None):
    """The class token's attention over the patch grid, one panel per (layer, head).

    image: (H, W) the digit; attentions_for_image: (L, h, N, N) for that image (attention_maps
    with one image, or attention_maps(...)[:, b]). layers, heads: 0-based indices to show
    (default all). Each panel is att[l, k, 0, 1:] upsampled to the image, the digit's outline
    on top; one colour scale from 0 for the whole figure, so panels compare, with uniform
    attention 1/N marked on the colour bar. The panel title gives the weight the class token
    keeps on itself (the part not shown on the grid).
    """
    img = np.asarray(image)
    att = np.asarray(attentions_for_image)
    if img.ndim != 2:
        raise ValueError(f"image.shape={img.shape}, expected (H, W)")
    if att.ndim != 4 or att.shape[-1] != att.shape[-2]:
        raise ValueError(f"attentions_for_image.shape={att.shape}, expected (layers, heads, N, N)")
    L, h, N, _ = att.shape
    grid = int(round(np.sqrt(N - 1)))
    if grid * grid + 1 != N:
        raise ValueError(f"N={N} tokens is not a square grid of patches + 1 class token")
    layers = list(range(L)) if layers is None else list(layers)
    heads = list(range(h)) if heads is None else list(heads)
    for what, chosen, n in (("layers", layers, L), ("heads", heads, h)):
        if not chosen or any(not 0 <= i < n for i in chosen):
            raise ValueError(f"{what}={chosen}, expected a non-empty list of indices in [0, {n})")

    maps = att[np.ix_(layers, heads)][:, :, 0, 1:].reshape(len(layers), len(heads), grid, grid)
    vmax = float(maps.max()) or 1.0
    fig = Figure(figsize=(1.6 * len(heads) + 1.2, 1.6 * len(layers) + 0.6), layout="constrained")
    axes = fig.subplots(len(layers), len(heads), squeeze=False)
    for r, l in enumerate(layers):
        for c, k in enumerate(heads):
            ax = axes[r, c]
            im = ax.imshow(_upsample(maps[r, c], img.shape[0]), cmap=HEAT_CMAP, vmin=0, vmax=vmax)
            _outline(ax, img)
            _no_ticks(ax)
            ax.set_title(f"cls\u2192cls {att[l, k, 0, 0]:.2f}", fontsize=7)
            if r == len(layers) - 1:
                ax.set_xlabel(f"head {k + 1}")
            if c == 0:
                ax.set_ylabel(f"layer {l + 1}")
    bar = fig.colorbar(im, ax=axes, shrink=0.6, label="class-token attention weight")
    bar.ax.axhline(1 / N, color="white", linewidth=1.5)
    bar.ax.text(-0.3, 1 / N, f"uniform 1/{N}", transform=bar.ax.get_yaxis_transform(),
                ha="right", va="center", fontsize=7)
    fig.suptitle((title or "Attention of the class token to each patch")
                 + "\n(panel titles: weight the class token keeps on itself)", fontsize=10)
    return fig


def plot_rollout(images, rollout_maps, labels=None):
    """Each digit (top row) and its attention rollout (bottom row). ViT paper Figure 6.

    images: (B, H, W); rollout_maps: (B, g, g) from analysis.rollout_map (max 1 each),
    upsampled to H x W with np.kron and drawn under the digit's outline. labels: optional (B,).
    """
    x = _gray_images(images, "images")
    m = np.asarray(rollout_maps)
    if m.ndim != 3 or m.shape[0] != x.shape[0] or m.shape[1] != m.shape[2]:
        raise ValueError(f"rollout_maps.shape={m.shape}, expected (B, g, g) with B={x.shape[0]}")
    B = x.shape[0]
    fig = Figure(figsize=(1.5 * B + 1.0, 3.4), layout="constrained")
    axes = fig.subplots(2, B, squeeze=False)
    for b in range(B):
        axes[0, b].imshow(x[b], cmap="gray")
        if labels is not None:
            axes[0, b].set_title(f"label {labels[b]}", fontsize=9)
        im = axes[1, b].imshow(_upsample(m[b], x.shape[1]), cmap=HEAT_CMAP, vmin=0, vmax=1)
        _outline(axes[1, b], x[b])
        _no_ticks(axes[0, b])
        _no_ticks(axes[1, b])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("rollout")
    fig.colorbar(im, ax=axes[1], shrink=0.9, label="rollout\n(max = 1)")
    fig.suptitle("Attention rollout: class token to input patches (mean over heads)")
    return fig


def plot_attention_distance(distances, patch_size=None, grid=None):
    """Mean attention distance of every head against depth. ViT paper Figure 7 right.

    distances: (L, h) in pixels, from analysis.mean_attention_distance. One dot per head
    at x = layer (1-based), the heads nudged apart sideways so that equal values stay
    visible. With patch_size, a dotted line marks one patch (a head below it mostly looks at
    its own patch); with grid too, a dashed line marks uniform attention over all patches
    (what an untrained model shows).
    """
    d = np.asarray(distances)
    if d.ndim != 2:
        raise ValueError(f"distances.shape={d.shape}, expected (layers, heads)")
    L, h = d.shape
    fig = Figure(figsize=(6.2 if h <= 12 else 7.2, 3.6), layout="constrained")
    ax = fig.add_subplot()
    depth = np.arange(1, L + 1)
    nudge = 0.25 / max(h - 1, 1)
    # a distinct colour per head as long as a qualitative palette has enough of them
    cmap = matplotlib.colormaps["tab10" if h <= 10 else "tab20" if h <= 20 else "viridis"]
    colours = cmap(np.arange(h) if h <= 20 else np.linspace(0, 1, h))
    for k in range(h):
        ax.scatter(depth + (k - (h - 1) / 2) * nudge, d[:, k], s=22, color=colours[k],
                   label=f"head {k + 1}", alpha=0.85, zorder=3)
    top = float(np.nanmax(d))
    if patch_size is not None:
        ax.axhline(patch_size, color="gray", linestyle=":", linewidth=1,
                   label=f"1 patch ({patch_size} px)")
        top = max(top, patch_size)
        if grid is not None:
            uniform = analysis.patch_distances(grid, patch_size).mean()
            ax.axhline(uniform, color="gray", linestyle="--", linewidth=1,
                       label=f"uniform attention ({uniform:.1f} px)")
            top = max(top, uniform)
    ax.set_xticks(depth)
    ax.set_xlim(0.5, L + 0.5)
    ax.set_ylim(0, top * 1.15 + 0.5)
    ax.set_xlabel("network depth (layer)")
    ax.set_ylabel("mean attention distance (pixels)")
    ax.set_title("How far each head looks")
    ax.legend(fontsize=7, ncols=2 if h > 12 else 1, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    return fig


def plot_pos_embed_similarity(sim, title=None, vmin=None):
    """Cosine similarity of position embeddings. ViT paper Figure 7 centre.

    sim: (g, g, g, g) from analysis.pos_embed_similarity. Tile (r, c), titled with its patch
    index i = r g + c (0 to P-1, row-major, as everywhere in the package), shows the similarity
    of patch i with every position. All tiles share one colour scale, from
    vmin to 1: by default the smallest similarity present, because embeddings that are all
    alike (the sin-cos one at small grids: 0.8 to 1) look uniform on the full -1..1 scale;
    pass vmin=-1 for the paper's fixed scale.
    """
    s = np.asarray(sim)
    if s.ndim != 4 or len(set(s.shape)) != 1:
        raise ValueError(f"sim.shape={s.shape}, expected (g, g, g, g)")
    g = s.shape[0]
    if vmin is None:
        vmin = float(s.min())
    if not vmin < 1:
        raise ValueError(f"vmin={vmin!r}, expected a value below 1 (the top of the scale)")
    fig = Figure(figsize=(1.1 * g + 1.4, 1.1 * g + 0.8), layout="constrained")
    axes = fig.subplots(g, g, squeeze=False)
    for r in range(g):
        for c in range(g):
            ax = axes[r, c]
            im = ax.imshow(s[r, c], cmap="viridis", vmin=vmin, vmax=1)
            _no_ticks(ax)
            ax.set_title(f"patch {r * g + c}", fontsize=8, pad=2)
            if c == 0:
                ax.set_ylabel(f"row {r}", labelpad=4)
            if r == g - 1:
                ax.set_xlabel(f"column {c}")
    fig.supxlabel("the query patch's grid column")
    fig.supylabel("the query patch's grid row")
    fig.colorbar(im, ax=axes, shrink=0.7, label="cosine similarity")
    fig.suptitle(title or "Position embedding similarity")
    return fig


def plot_patch_components(components, ratios, k=28):
    """The first k principal components of the patch embedding filters. ViT paper Figure 7 left.

    components: (n, C, p, p) and ratios (n,) from analysis.patch_embed_components. Each
    component gets its own grey scale, symmetric about 0 (mid-grey = 0): a component's sign
    and scale are arbitrary, its pattern is not. C = 3 is shown as colour, rescaled to [0, 1].
    """
    comp = np.asarray(components)
    r = np.asarray(ratios)
    if comp.ndim != 4 or comp.shape[1] not in (1, 3):
        raise ValueError(f"components.shape={comp.shape}, expected (k, C, p, p) with C = 1 or 3")
    if r.shape != comp.shape[:1]:
        raise ValueError(f"ratios.shape={r.shape}, expected ({comp.shape[0]},), one per component")
    k = min(k, comp.shape[0])
    ncols = min(7, k)
    nrows = -(-k // ncols)
    fig = Figure(figsize=(1.25 * ncols, 1.35 * nrows + 0.5), layout="constrained")
    for i in range(k):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        c = comp[i]
        if c.shape[0] == 1:
            m = float(np.abs(c).max()) or 1.0
            ax.imshow(c[0], cmap="gray", vmin=-m, vmax=m)
        else:
            lo, hi = c.min(), c.max()
            ax.imshow(((c - lo) / (hi - lo if hi > lo else 1.0)).transpose(1, 2, 0))  # (p, p, 3)
        _no_ticks(ax)
        ax.set_title(f"PC{i + 1}: {100 * r[i]:.1f}%", fontsize=8)
    fig.suptitle(f"Patch embedding filters: first {k} principal components\n"
                 f"(% of the filters' variance each explains)", fontsize=10)
    return fig


def _require_keys(rows, keys, name, expected):
    """Raise ValueError unless `rows` is a non-empty list of dicts that each hold every key."""
    if not rows:
        raise ValueError(f"{name} is empty, expected a list of {expected}")
    for i, row in enumerate(rows):
        missing = [key for key in keys if key not in row]
        if missing:
            raise ValueError(f"{name}[{i}] lacks keys {missing}, expected all of {list(keys)}")


def plot_curves(metrics):
    """Loss and accuracy against epoch, train and test: two panels.

    metrics: list of dicts with keys epoch, train_loss, test_loss, train_acc, test_acc
    (None or NaN where a value was not measured). Accuracies are shown as they are given.
    A run with a weight average (TrainConfig.ema) also has unaveraged_test_loss and
    unaveraged_test_acc: the optimiser's own weights, drawn dashed beside the average's.
    """
    keys = ("epoch", "train_loss", "test_loss", "train_acc", "test_acc")
    _require_keys(metrics, keys, "metrics", "per-epoch dicts")
    averaged = any(m.get("unaveraged_test_acc") is not None for m in metrics)
    if averaged:
        keys += ("unaveraged_test_loss", "unaveraged_test_acc")
    col = {key: np.array([np.nan if m.get(key) is None else m[key] for m in metrics], dtype=float)
           for key in keys}
    fig = Figure(figsize=(9.0, 3.5), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, name in ((ax_loss, "loss"), (ax_acc, "acc")):
        # the trainer measures train figures on the augmented batches while the epoch runs
        ax.plot(col["epoch"], col[f"train_{name}"], "o-", ms=3, label="train (augmented, during epoch)")
        ax.plot(col["epoch"], col[f"test_{name}"], "s-", ms=3,
                label="test, weight average" if averaged else "test")
        if averaged:
            ax.plot(col["epoch"], col[f"unaveraged_test_{name}"], "--", lw=1,
                    label="test, the optimiser's own weights")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if np.nanmin(col["train_loss"]) > 0 and np.nanmin(col["test_loss"]) > 0:
        ax_loss.set_yscale("log")          # late epochs differ by factors, not by offsets
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.set_title("Loss")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("Accuracy")
    return fig


def _edges(centres):
    """Cell edges around sorted centres (epochs), half-way between neighbours: (n,) -> (n + 1,)."""
    c = np.asarray(centres, dtype=float)
    if len(c) == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def plot_dynamics(rows):
    """Training dynamics against epoch, four panels, from dynamics.jsonl's rows.

    rows: dicts with epoch (may be fractional), grad_norm and update_ratio ({group: value} or
    None for a period without samples), attn_entropy (a value per layer, [] without
    attention), attn_entropy_uniform (ln N), clip_fraction, grad_norm_mean, grad_norm_max, as
    numpyvit.training.dynamics.TrainingDynamics records them. The two top panels are maps,
    one row per parameter group in model order, on a log colour scale: the gradient norm
    before clipping, and the update/weight ratio of one optimiser step, with ~1e-3 the usual
    healthy size. Below, each attention layer's mean entropy with ln N (uniform attention)
    dashed, and the share of steps whose gradient was clipped with the mean and largest
    gradient norm on the right axis.
    """
    keys = ("epoch", "grad_norm", "update_ratio", "attn_entropy", "clip_fraction", "grad_norm_mean",
            "grad_norm_max")
    _require_keys(rows, keys, "rows", "per-epoch dicts from dynamics.jsonl")
    epochs = np.array([r["epoch"] for r in rows], dtype=float)
    groups = list(dict.fromkeys(g for r in rows for g in (r["grad_norm"] or {})))

    def column(key, default=np.nan):
        return np.array([default if r[key] is None else r[key] for r in rows], dtype=float)

    fig = Figure(figsize=(11, 4.5 + 0.17 * len(groups)), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[0.9 + 0.17 * len(groups), 3.0])
    for ax, key, title, label in zip(top.subplots(1, 2, sharey=True), ("grad_norm", "update_ratio"),
                                     ("Gradient norm per group (before clipping)",
                                      "Update / weight per step, per group"),
                                     ("|g|", "|\u0394w| / |w|")):
        # (groups, epochs); NaN where a period had no sampled step
        m = np.array([[np.nan if r[key] is None else r[key].get(g, np.nan) for r in rows] for g in groups])
        positive = m[np.isfinite(m) & (m > 0)]
        norm = LogNorm(positive.min(), positive.max()) if positive.size else None
        mesh = ax.pcolormesh(_edges(epochs), np.arange(len(groups) + 1) - 0.5, np.ma.masked_invalid(m),
                             cmap="viridis", norm=norm)
        ax.set_yticks(range(len(groups)), groups, fontsize=7)
        ax.set_ylim(len(groups) - 0.5, -0.5)                      # model order, input at the top
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=10)
        top.colorbar(mesh, ax=ax, label=label)

    ax_ent, ax_clip = bottom.subplots(1, 2)
    entropy = [r["attn_entropy"] for r in rows]
    layers = max((len(e) for e in entropy), default=0)
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, max(layers, 1)))
    for l in range(layers):
        ax_ent.plot(epochs, [e[l] if l < len(e) else np.nan for e in entropy], "o-", ms=3,
                    color=colours[l], label=f"layer {l + 1}")
    uniform = next((r.get("attn_entropy_uniform") for r in rows if r.get("attn_entropy_uniform")), None)
    if uniform:
        ax_ent.axhline(uniform, color="gray", ls="--", label=f"uniform, ln N = {uniform:.2f}")
        ax_ent.set_ylim(0, 1.08 * uniform)
    if layers:
        ax_ent.legend(fontsize=7, ncol=2)
    else:
        ax_ent.text(0.5, 0.5, "no attention layers", ha="center", va="center", transform=ax_ent.transAxes)
    ax_ent.set_title("Attention entropy per layer (probe batch, eval mode)", fontsize=10)
    ax_ent.set_ylabel("mean row entropy (nats)")

    ax_clip.bar(epochs, column("clip_fraction"), width=0.6 * np.diff(_edges(epochs)), color="tab:orange",
                alpha=0.6, label="steps clipped")
    ax_clip.set_ylim(0, 1)
    ax_clip.set_ylabel("share of steps clipped")
    ax_norm = ax_clip.twinx()
    ax_norm.plot(epochs, column("grad_norm_mean"), "o-", ms=3, color="tab:blue", label="mean |g|")
    ax_norm.plot(epochs, column("grad_norm_max"), "^:", ms=3, color="tab:blue", label="largest |g|")
    ax_norm.set_ylabel("global gradient norm, before clipping")
    if np.nanmin(column("grad_norm_mean", np.inf)) > 0:
        ax_norm.set_yscale("log")
        ax_norm.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax_norm.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))   # 0.5, 2 not 2x10^0
        ax_norm.yaxis.set_minor_formatter(NullFormatter())
    handles = [h for a in (ax_clip, ax_norm) for h in a.get_legend_handles_labels()[0]]
    ax_norm.legend(handles, [h.get_label() for h in handles], fontsize=7, framealpha=0.9)
    ax_clip.set_title("Gradient clipping", fontsize=10)
    for ax in (ax_ent, ax_clip):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if np.all(epochs == np.round(epochs)):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def plot_confusion(cm, class_names=None):
    """An annotated confusion matrix: cm[i, j] = images of true class i predicted as j.

    cm: (K, K) counts; class_names: K labels (default 0..K-1).
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm.shape={cm.shape}, expected a square (K, K) matrix")
    K = cm.shape[0]
    names = [str(i) for i in range(K)] if class_names is None else [str(n) for n in class_names]
    if len(names) != K:
        raise ValueError(f"{len(names)} class_names for a {K}x{K} confusion matrix")
    total = cm.sum()
    fig = Figure(figsize=(0.55 * K + 2.2, 0.55 * K + 1.2), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(cm, cmap="Blues")
    # white text on dark cells, black on light ones
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(K):
        for j in range(K):
            ax.text(j, i, f"{cm[i, j]:g}", ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > threshold else "black")
    wide = max(map(len, names)) > 2                  # class names, not numbers: slant them
    ax.set_xticks(range(K), names, rotation=45 if wide else 0, ha="right" if wide else "center")
    ax.set_yticks(range(K), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(cm) / total if total else float("nan")
    ax.set_title(f"Confusion matrix: accuracy {100 * accuracy:.2f}% ({total:g} images)")
    fig.colorbar(im, ax=ax, shrink=0.8, label="images")
    return fig


def plot_mistakes(images, labels, preds, probs=None, max_images=25, classes=None):
    """A grid of the worst mistakes, titled 'true -> predicted (p)'.

    images: (n, H, W); labels, preds: (n,) ints; probs: optional (n, K) class probabilities or
    (n,) probability of the predicted class. With probs the most confident mistakes come first
    (those are the worst); without, mistakes keep their order. At most max_images are shown.
    classes: the K class names the titles use (default: the label numbers).
    """
    x = _gray_images(images, "images")
    labels, preds = np.asarray(labels), np.asarray(preds)
    n = x.shape[0]
    if labels.shape != (n,) or preds.shape != (n,):
        raise ValueError(f"labels.shape={labels.shape}, preds.shape={preds.shape}, expected ({n},)")
    conf = None
    if probs is not None:
        probs = np.asarray(probs)
        if probs.ndim == 2 and probs.shape[0] == n:
            conf = probs[np.arange(n), preds]
        elif probs.shape == (n,):
            conf = probs
        else:
            raise ValueError(f"probs.shape={probs.shape}, expected ({n}, K) or ({n},)")
    wrong = np.flatnonzero(labels != preds)
    if conf is not None:
        wrong = wrong[np.argsort(-conf[wrong], kind="stable")]
    wrong = wrong[:max_images]

    if len(wrong) == 0:
        fig = Figure(figsize=(3.0, 1.5), layout="constrained")
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center")
        ax.axis("off")
        return fig
    ncols = min(5, len(wrong))
    nrows = -(-len(wrong) // ncols)
    name = (lambda k: str(k)) if classes is None else (lambda k: str(classes[k]))
    named = classes is not None and max(len(str(c)) for c in classes) > 2
    fig = Figure(figsize=((2.3 if named else 1.6) * ncols, 1.75 * nrows + 0.4), layout="constrained")
    for i, idx in enumerate(wrong):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(x[idx], cmap="gray")
        _no_ticks(ax)
        p = f" ({conf[idx]:.2f})" if conf is not None else ""
        ax.set_title(f"{name(labels[idx])} \u2192 {name(preds[idx])}{p}", fontsize=8 if named else 9)
    order = "most confident first" if conf is not None else "in order"
    fig.suptitle(f"Mistakes: true \u2192 predicted (probability), {order}", fontsize=10)
    return fig


def plot_test_error(runs, target=None):
    """Test error (%) against epoch on a log scale, one colour per run.

    runs:   {label: metrics list}, as metrics.jsonl holds them. A run with a weight average
            draws the average solid and the optimiser's own weights dashed in its colour.
    target: an accuracy to mark with a horizontal line (0.995 draws the 0.5% error line).
    Near 99.5% an accuracy axis is a flat line along its top; the error on a log scale shows
    the last tenths of a point, where long recipes differ.
    """
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.subplots()
    for label, metrics in runs.items():
        rows = [m for m in metrics if m.get("test_acc") is not None]
        epochs = [m["epoch"] for m in rows]
        averaged = any(m.get("unaveraged_test_acc") is not None for m in rows)
        line, = ax.plot(epochs, [100 * (1 - m["test_acc"]) for m in rows], "-", lw=1.5,
                        label=f"{label}: weight average" if averaged else label)
        if averaged:
            ax.plot(epochs, [100 * (1 - m["unaveraged_test_acc"]) for m in rows], "--", lw=0.8,
                    color=line.get_color(), label=f"{label}: the optimiser's own weights")
    if target is not None:
        ax.axhline(100 * (1 - target), color="k", lw=0.8, ls=":", label=f"{target:.1%} accuracy")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    # within a decade or two the minor ticks are the ones to read: label 2, 3 and 5 (x 10^k)
    ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g}" if round(v / 10 ** np.floor(np.log10(v))) in (2, 3, 5) else ""))
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%), log scale")
    ax.set_title("MNIST test error against epoch")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def plot_data_scale(summary, train_summary=None, dataset="MNIST"):
    """Test error against training-set size, one line per model, the range over seeds shaded;
    with train_summary, each model's error on its own training subset as a dashed line of the
    same colour (a model that fits its data has a train error near 0).

    summary, train_summary: {model: {train size: (mean error, min error, max error, seeds)}},
    as numpyvit.experiments.data_scale.summarize returns them; dataset: its name as in sentences.
    """
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    seeds = max((v[3] for by_size in summary.values() for v in by_size.values()), default=1)
    for model, by_size in summary.items():
        sizes = np.array(list(by_size))
        mean, lo, hi = (np.array([v[i] for v in by_size.values()]) for i in range(3))
        line, = ax.plot(sizes, 100 * mean, "o-", label=f"{model}: test")
        if seeds > 1:
            ax.fill_between(sizes, 100 * lo, 100 * hi, alpha=0.2, color=line.get_color())
        if train_summary and model in train_summary:
            tr = train_summary[model]
            # a train error of exactly 0 has no place on a log axis: drawn at 0.01%
            ax.plot(list(tr), [max(100 * v[0], 0.01) for v in tr.values()], "x--", color=line.get_color(),
                    alpha=0.7, label=f"{model}: train (own subset)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")       # 0.5, 1, 2 rather than 5x10^-1
    none = FuncFormatter(lambda v, _: "")
    low, high = ax.get_ylim()
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        # within a decade there are no major ticks to read, so label the minor ones
        axis.set_minor_formatter(plain if axis is ax.yaxis and high / low < 10 else none)
    ax.set_xlabel(f"training images (class-balanced subset of {dataset})")
    ax.set_ylabel("error (%)" if train_summary else "test error (%)")
    ax.set_title(f"error against training-set size ({seeds} seed{'s' if seeds > 1 else ''}"
                 f"{', range shaded' if seeds > 1 else ''})")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def plot_sweep(table):
    """Training images/s against batch size (left) and tokens per image (right), one line per
    implementation. table: rows {'sweep': 'batch' or 'patch', 'batch', 'tokens', 'impl',
    'train_img_s'}, as benchmarks/bench.py --sweep measures them."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    for ax, kind, xlabel in ((fig.add_subplot(1, 2, 1), "batch", "batch size"),
                             (fig.add_subplot(1, 2, 2), "patch", "tokens (patches) per image: patch 14, 7, 4")):
        for impl in sorted({r["impl"] for r in table}):
            pts = [r for r in table if r["sweep"] == kind and r["impl"] == impl]
            if not pts:                # an implementation timed in one sweep only
                continue
            xs = [r["batch"] if kind == "batch" else r["tokens"] for r in pts]
            ax.plot(xs, [r["train_img_s"] for r in pts], "o-", label=impl)
        ax.set_xscale("log", base=2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("training images/s")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.axes[0].set_title("cost per image against batch size")
    fig.axes[1].set_title("more tokens: attention grows as N^2")
    return fig


def plot_distance_grids(result, per_head):
    """Mean attention distance against depth, one dot per head, a panel per grid (columns) and
    augmentation (rows), as the ViT paper's Figure 7 (right) draws it; with the reference
    attentions (self 0, uniform, uniform over the ink) as lines and the ResNet's stages
    (uniform over each receptive field, measured from the same queries) as grey marks beside
    the last layer, S1, S2, ...: a stage is not a layer, so none sits on the layer axis.

    result: the dict attention_distance.json holds ("runs", "resnet"); per_head: its CSV rows
    ({'patch', 'augmentation', 'layer', 'head', 'distance_px'}).
    """
    _require_keys(per_head, ("patch", "augmentation", "layer", "head", "distance_px"),
                  "plot_distance_grids", "attention_distance.csv rows")
    runs = result.get("runs") if isinstance(result, dict) else None
    _require_keys(runs or [], ("patch", "grid", "augmentation", "test_acc", "layer_mean_px", "baselines_px"),
                  "plot_distance_grids", "attention_distance.json's runs")
    patches = sorted({r["patch"] for r in runs}, reverse=True)
    augs = list(dict.fromkeys(r["augmentation"] for r in runs))
    one_grid = len(patches) == 1             # one grid: its runs side by side, in one row
    shape = (1, len(augs)) if one_grid else (len(augs), len(patches))
    fig = Figure(figsize=(3.4 * shape[1] + 0.6, 2.9 * shape[0] + 0.4), layout="constrained")
    grid_axes = np.atleast_2d(fig.subplots(*shape, sharey=True, squeeze=False))
    axes = grid_axes.T if one_grid else grid_axes   # axes[i, j]: augmentation i, patch j
    top = 28 * 0.75
    for i, aug in enumerate(augs):
        for j, p in enumerate(patches):
            ax = axes[i, j]
            run = next((r for r in runs if r["patch"] == p and r["augmentation"] == aug), None)
            if run is None:
                ax.set_axis_off()
                continue
            pts = [r for r in per_head if int(r["patch"]) == p and r["augmentation"] == aug]
            layers = np.array([int(r["layer"]) for r in pts])
            heads = np.array([int(r["head"]) for r in pts])
            dist = np.array([float(r["distance_px"]) for r in pts])
            jitter = (heads - heads.mean()) * 0.08
            ax.scatter(layers + jitter, dist, s=14, c=heads, cmap="viridis", zorder=3)
            L = int(layers.max())
            ax.plot(np.arange(1, L + 1), run["layer_mean_px"], "-", color="black", lw=1, alpha=0.6,
                    label="mean over heads")
            b = run["baselines_px"]
            ax.axhline(b["uniform"], color="tab:red", ls="--", lw=1, label="uniform over all patches")
            ax.axhline(b["ink"], color="tab:orange", ls=":", lw=1.2, label="uniform over the ink")
            ax.axhline(0, color="tab:blue", ls="-", lw=0.8, label="itself only (0)")
            # a ResNet stage is not a layer: its references sit beside the layers, right of the last
            stages = run.get("resnet", result.get("resnet", []))
            for st in stages:
                ax.plot([L + 0.55, L + 0.95], [st["uniform_over_field_px"]] * 2, color="grey", lw=2.5, zorder=2,
                        label="ResNet stage: uniform over its field" if st is stages[0] else None)
                ax.annotate(f"S{st['stage']}", (L + 1.0, st["uniform_over_field_px"]), fontsize=7, color="grey",
                            va="center")
            ax.set_ylim(-0.5, top)
            ax.set_xlim(0.5, L + 1.4 if stages else L + 0.5)
            ax.set_xticks(range(1, L + 1))
            ax.set_title(f"patch {p} ({run['grid']}x{run['grid']}), {aug}: {100 * run['test_acc']:.1f}%",
                         fontsize=9)
            if one_grid or i == len(augs) - 1:
                ax.set_xlabel("layer (block)")
            if (i == 0) if one_grid else (j == 0):
                ax.set_ylabel("mean attention distance (px)")
            if (i == len(augs) - 1) if one_grid else (j == len(patches) - 1):
                sec = ax.secondary_yaxis("right", functions=(lambda v: v / 28, lambda f: f * 28))
                sec.set_ylabel("fraction of the image width")
            ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(5, len(handles)), fontsize=8)
    return fig


def plot_rollout_controls(images, maps, template, labels=None, title=None):
    """The positional template beside a few digits, their rollout maps and their deviations
    from the template (map - template, red above it, blue below).

    images: (B, H, W) raw digits; maps: (B, g, g) rollout maps (max 1 each); template: (g, g),
    the mean map over many images (analysis.rollout_controls).
    """
    x = _gray_images(images, "images")
    m = np.asarray(maps)
    t = np.asarray(template)
    if m.ndim != 3 or m.shape[0] != x.shape[0] or m.shape[1:] != t.shape:
        raise ValueError(f"maps.shape={m.shape}, template.shape={t.shape}: expected (B, g, g) with "
                         f"B={x.shape[0]} and a (g, g) template")
    B, H = x.shape[0], x.shape[1]
    fig = Figure(figsize=(1.45 * (B + 1) + 0.8, 4.6), layout="constrained")
    axes = fig.subplots(3, B + 1, squeeze=False)
    im = axes[1, 0].imshow(_upsample(t / t.max(), H), cmap=HEAT_CMAP, vmin=0, vmax=1)
    axes[1, 0].set_title("template\n(mean map)", fontsize=8)
    axes[0, 0].set_axis_off()
    axes[2, 0].set_axis_off()
    lim = float(np.abs(m - t).max()) or 1.0
    for b in range(B):
        ax = axes[:, b + 1]
        ax[0].imshow(x[b], cmap="gray")
        if labels is not None:
            ax[0].set_title(f"label {labels[b]}", fontsize=8)
        ax[1].imshow(_upsample(m[b], H), cmap=HEAT_CMAP, vmin=0, vmax=1)
        _outline(ax[1], x[b])
        dev = ax[2].imshow(_upsample(m[b] - t, H), cmap="RdBu_r", vmin=-lim, vmax=lim)
        _outline(ax[2], x[b])
    for ax in axes.ravel():
        _no_ticks(ax)
    axes[1, 1].set_ylabel("rollout")
    axes[2, 1].set_ylabel("map - template")
    fig.colorbar(im, ax=axes[1], shrink=0.85, label="max = 1")
    fig.colorbar(dev, ax=axes[2], shrink=0.85, label="deviation")
    fig.suptitle(title or "Rollout against its template: what is left once the common map is removed")
    return fig


def plot_deletion_curves(models):
    """Accuracy against the share of patches blanked, one panel per model, one line per order
    ('high', 'random', 'low' rollout, most 'ink'). models: rollout.json's "models" list."""
    _require_keys(models, ("patch", "grid", "images", "deletion"), "plot_deletion_curves", "rollout.json's models")
    names = {"high": "highest rollout first", "random": "random patches", "low": "lowest rollout first",
             "ink": "most ink first (no model)"}
    fig = Figure(figsize=(4.2 * len(models) + 0.4, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(models), sharey=True, squeeze=False)[0])
    for ax, m in zip(axes, models):
        d = m["deletion"]
        x = 100 * np.asarray(d["fraction"])
        for order, style in (("high", "o-"), ("ink", "s--"), ("random", "^-"), ("low", "v-")):
            ax.plot(x, 100 * np.asarray(d[order]), style, label=names[order], ms=4)
        ax.set_title(f"patch {m['patch']} ({m['grid']}x{m['grid']} grid), {m['images']} test images", fontsize=9)
        ax.set_xlabel("patches blanked (% of the image)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Deletion curves: blank the patches rollout ranks highest, and compare")
    return fig


def plot_deletion_controls(models):
    """The deletion test's two controls, one column per model: accuracy against the share of each
    image's inked patches blanked (top; never a blank patch), and against the share of each image's
    ink removed (bottom; every order removes the same ink). models: rollout.json's "models" list,
    with its deletion_inked and deletion_equal_ink keys."""
    _require_keys(models, ("patch", "grid", "images", "deletion_inked", "deletion_equal_ink"),
                  "plot_deletion_controls", "rollout.json's models with the deletion controls")
    names = {"high": "highest rollout first", "random": "random", "low": "lowest rollout first",
             "ink": "most ink first (no model)"}
    fig = Figure(figsize=(4.2 * len(models) + 0.4, 6.8), layout="constrained")
    axes = fig.subplots(2, len(models), sharey=True, squeeze=False)
    for col, m in enumerate(models):
        for row, (key, x_key, xlabel) in enumerate(
                (("deletion_inked", "fraction_of_inked", "inked patches blanked (% of the image's inked patches)"),
                 ("deletion_equal_ink", "ink_share", "ink removed (% of the image's ink)"))):
            ax, d = axes[row, col], m[key]
            x = 100 * np.asarray(d[x_key])
            for order, style in (("high", "o-"), ("ink", "s--"), ("random", "^-"), ("low", "v-")):
                ax.plot(x, 100 * np.asarray(d[order]), style, label=names[order], ms=4)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.grid(alpha=0.3)
        axes[0, col].set_title(f"patch {m['patch']} ({m['grid']}x{m['grid']} grid), {m['images']} test images",
                               fontsize=9)
    for row, what in enumerate(("among inked patches only", "at equal ink removed")):
        axes[row, 0].set_ylabel(f"test accuracy (%)\n{what}")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Deletion controls: no blank patch blanked (top), the same ink removed by every order (bottom)")
    return fig
