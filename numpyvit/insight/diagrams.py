"""Diagrams of the ViT drawn from its config: the data flow, one block, attention as a sum.

Every shape on a diagram is computed from the config it is given (`vit_shapes`), never typed
in, so a diagram drawn for patch 4 and width 96 shows that model's shapes, and a change to the
model's defaults changes the pictures with it. Like plots.py, each function builds a
`matplotlib.figure.Figure` without pyplot and returns it: savefig renders it headless, a
notebook cell displays it.

The shape labels are Text artists with gid "shape", in the order the data meets them, so a
test (or a reader) can read them back: `shape_texts(fig)`.

Shape legend: B batch, C channels, H, W image height/width (H = W here), p patch size,
P = (H/p)^2 patches, numbered from 0 row by row, N = P + 1 tokens (the class token, token 0,
then the patches), D embedding width, L blocks, h heads, Dh = D/h head width, M MLP width,
K classes.
"""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

SHAPE_GID = "shape"        # the gid of every shape label, for shape_texts
KEY_ARROW_GID = "key-arrow"  # the gid of draw_attention's arrows, one per key

# one colour per kind of step, shared by the diagrams so they read as a set
COLOURS = {"data": "#e8eef7", "layer": "#fdebd3", "norm": "#dcefdc", "attn": "#f6d8d8",
           "mlp": "#e6ddf2", "edge": "#444444", "stream": "#2b6cb0"}
MONO = dict(family="monospace", fontsize=8.5)

CONFIG_FIELDS = ("image_size", "patch_size", "in_channels", "dim", "depth", "heads", "mlp_dim",
                 "num_classes")


def vit_shapes(config, batch="B"):
    """The sizes and tensor shapes of a ViT with this config, as a dict.

    config: anything with the fields of ViTConfig (image_size, patch_size, in_channels, dim,
    depth, heads, mlp_dim, num_classes; pool optional, 'cls' by default). batch: the batch
    size to print, a number or the letter B. Sizes: g = H/p patches a side, P = g^2 patches,
    N = P + 1 tokens, Dh = D/h. Shapes are tuples, e.g. shapes["tokens"] = (B, N, D).
    """
    missing = [f for f in CONFIG_FIELDS if not hasattr(config, f)]
    if missing:
        raise ValueError(f"config {type(config).__name__} lacks {missing}, expected a "
                         f"ViTConfig-like object with all of {list(CONFIG_FIELDS)}")
    H, p, C = config.image_size, config.patch_size, config.in_channels
    D, L, h, M, K = config.dim, config.depth, config.heads, config.mlp_dim, config.num_classes
    if H % p:
        raise ValueError(f"image_size={H} is not divisible by patch_size={p}")
    if D % h:
        raise ValueError(f"dim={D} is not divisible by heads={h}")
    B, g = batch, H // p
    P = g * g                      # patches
    N, Dh = P + 1, D // h          # tokens: the class token, then the patches
    return {
        "H": H, "p": p, "C": C, "g": g, "P": P, "N": N, "D": D, "L": L, "h": h, "Dh": Dh, "M": M,
        "K": K, "pool": getattr(config, "pool", "cls"),
        "image": (B, C, H, H),
        "patches": (B, P, C * p * p),
        "patch_tokens": (B, P, D),
        "tokens": (B, N, D),
        "qkv": (B, N, 3 * D),
        "heads": (B, h, N, Dh),
        "att": (B, h, N, N),
        "hidden": (B, N, M),
        "pooled": (B, D),
        "logits": (B, K),
    }


def format_shape(shape):
    """(B, 17, 64) -> '(B, 17, 64)': numbers and letters alike, no quotes."""
    return "(" + ", ".join(str(s) for s in shape) + ")"


def shape_texts(fig):
    """The shape labels of a diagram, in the order they were drawn: the figure read back."""
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == SHAPE_GID]


def _canvas(figsize, xlim=(0, 1), ylim=(0, 1)):
    """A figure with one axis-free drawing area in data units."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis("off")
    return fig, ax


def _box(ax, x, y, w, h, text, colour, fontsize=9, weight="normal"):
    """A rounded box centred on (x, y) with centred text."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.005,rounding_size=0.012",
                                fc=colour, ec=COLOURS["edge"], lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, weight=weight)


def _arrow(ax, start, end, colour=None, lw=1.2, gid=None, style="-|>", **kw):
    """An arrow from start to end in data units; gid tags it for tests (draw_attention's keys)."""
    arrow = FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=11, lw=lw,
                            color=colour or COLOURS["edge"], shrinkA=0, shrinkB=0, **kw)
    arrow.set_gid(gid)
    ax.add_patch(arrow)
    return arrow


def _shape(ax, x, y, shape, **kw):
    """A shape label (gid 'shape'), read back by shape_texts."""
    ax.text(x, y, format_shape(shape), gid=SHAPE_GID, va="center", **{**MONO, **kw})


def draw_data_flow(config, batch="B"):
    """image -> patches -> tokens (+ class token, + positions) -> L blocks -> norm -> head.

    One row per step, top to bottom: the step in a box, what it does beside the arrow that
    leads into it, and on the right the tensor it produces, as symbols and as numbers for
    this config (e.g. P = (H/p)^2 = 16 patches, N = P + 1 = 17 tokens). Returns a Figure.
    """
    s = vit_shapes(config, batch)
    H, p, C, g, P, N, D, L, K = (s[k] for k in ("H", "p", "C", "g", "P", "N", "D", "L", "K"))
    pooled = ("the class token, x[:, 0]" if s["pool"] == "cls" else "mean of the patch tokens")
    positions = ("+ pos_embed" if getattr(config, "pos_embed", "learned") == "learned"
                 else "+ fixed 2-D sin-cos positions")
    # (box text, colour, how the arrow into it is labelled, symbolic shape, numeric shape)
    steps = [
        (f"image  {H}\u00d7{H}, {C} channel{'s' if C > 1 else ''}", COLOURS["data"], None,
         "(B, C, H, W)", s["image"]),
        (f"P = {P} patches, {C}\u00b7{p}\u00b7{p} = {C * p * p} numbers each", COLOURS["data"],
         f"Patchify: cut into ({H}/{p})\u00b2 = {g}\u00b2 patches of {p}\u00d7{p}",
         "(B, P, C\u00b7p\u00b2)", s["patches"]),
        (f"{P} patch tokens of width D = {D}", COLOURS["layer"],
         f"patch_embed.proj: one Linear {C * p * p} \u2192 {D}, shared by all patches",
         "(B, P, D)", s["patch_tokens"]),
        (f"N = {N} tokens: class token + {P} patches", COLOURS["layer"],
         "prepend cls_token (1, 1, D), learned", "(B, N, D)", s["tokens"]),
        ("z\u2080 = tokens + position embedding", COLOURS["layer"],
         f"{positions} (1, N, D) = (1, {N}, {D})", "(B, N, D)", s["tokens"]),
        (f"{L} \u00d7 Block", COLOURS["attn"],
         f"L = {L} blocks: attention mixes tokens, MLP each token", "(B, N, D)", s["tokens"]),
        ("norm: LayerNorm over D", COLOURS["norm"], None, "(B, N, D)", s["tokens"]),
        (pooled, COLOURS["data"], "one vector per image", "(B, D)", s["pooled"]),
        (f"logits: {K} class scores", COLOURS["layer"], f"head: Linear {D} \u2192 {K}",
         "(B, K)", s["logits"]),
    ]
    rows = len(steps)
    fig, ax = _canvas((8.6, 0.62 * rows + 1.0), ylim=(-0.6, rows - 0.2))
    box_x, box_w, box_h = 0.2, 0.36, 0.5
    sym_x, num_x = 0.66, 0.84
    ax.text(sym_x, rows - 0.45, "shape", ha="left", va="center", fontsize=9, weight="bold")
    ax.text(num_x, rows - 0.45, f"{'this config' if batch == 'B' else f'batch {batch}'}",
            ha="left", va="center", fontsize=9, weight="bold")
    for i, (text, colour, op, sym, shape) in enumerate(steps):
        y = rows - 1 - i
        _box(ax, box_x, y, box_w, box_h, text, colour)
        ax.text(sym_x, y, sym, va="center", **MONO)
        _shape(ax, num_x, y, shape)
        if i:
            _arrow(ax, (box_x, y + 1 - box_h / 2), (box_x, y + box_h / 2))
            if op:
                ax.text(box_x + 0.015, y + 0.5, op, va="center", ha="left", fontsize=7.5,
                        color="#333333", style="italic")
    ax.text(0.0, -0.5, f"P = (H/p)\u00b2 = ({H}/{p})\u00b2 = {P} patches,   N = P + 1 = {N} tokens,   "
            f"D = {D},   L = {L},   K = {K};   B = any batch size", fontsize=8.5, va="center")
    fig.suptitle("The Vision Transformer's data flow, with the shape after every step", fontsize=11)
    return fig


def draw_block(config, batch="B"):
    """One pre-norm transformer block (ViT paper, equations 2-3), top to bottom:

        z' = z + MSA(LN(z)),    z_out = z' + MLP(LN(z'))

    The residual stream runs straight down the left; each branch reads a normalised copy,
    and its result is added back at a circle. The shapes inside attention and the MLP are
    written beside them, for this config. Returns a Figure.
    """
    s = vit_shapes(config, batch)
    D, h, Dh, M, P, N = s["D"], s["h"], s["Dh"], s["M"], s["P"], s["N"]
    fig, ax = _canvas((8.2, 6.4), xlim=(0, 1), ylim=(0, 10))
    stream_x, branch_x, note_x = 0.12, 0.36, 0.56
    w, hgt = 0.3, 0.62
    blue = COLOURS["stream"]

    # the input, then the two halves at these heights (top to bottom)
    ax.text(stream_x, 9.65, "z (input)", ha="center", va="center", fontsize=9, weight="bold")
    _shape(ax, stream_x + 0.07, 9.65, s["tokens"])
    halves = [  # (norm name, branch name, colour, y of norm, y of branch, y of the sum)
        ("norm1: LayerNorm", f"attn: multi-head attention\n{h} heads of width {Dh}", COLOURS["attn"], 8.4, 7.0, 5.9),
        ("norm2: LayerNorm", f"mlp: Linear {D}\u2192{M}, GELU,\nLinear {M}\u2192{D}", COLOURS["mlp"], 4.6, 3.2, 2.1),
    ]
    top = 9.35
    for norm, branch, colour, y_norm, y_branch, y_sum in halves:
        # the stream, straight down to the sum: the identity path
        _arrow(ax, (stream_x, top), (stream_x, y_sum + 0.22), colour=blue, lw=2.2)
        # the branch: off the stream, through norm and the layer, back into the sum
        y_off = y_norm + 0.75
        ax.plot([stream_x, branch_x], [y_off, y_off], color=COLOURS["edge"], lw=1.2)
        _arrow(ax, (branch_x, y_off), (branch_x, y_norm + hgt / 2))
        _box(ax, branch_x, y_norm, w, hgt, norm, COLOURS["norm"])
        _arrow(ax, (branch_x, y_norm - hgt / 2), (branch_x, y_branch + hgt * 0.7))
        _box(ax, branch_x, y_branch, w, hgt * 1.4, branch, colour)
        ax.plot([branch_x, branch_x], [y_branch - hgt * 0.7, y_sum], color=COLOURS["edge"], lw=1.2)
        _arrow(ax, (branch_x, y_sum), (stream_x + 0.025, y_sum))
        # a marker, not a Circle patch: the canvas's x and y units differ, a marker stays round
        ax.plot([stream_x], [y_sum], "o", ms=17, mfc="white", mec=blue, mew=1.8)
        ax.text(stream_x, y_sum, "+", ha="center", va="center", fontsize=14, color=blue, weight="bold")
        top = y_sum - 0.22
    _arrow(ax, (stream_x, top), (stream_x, 0.75), colour=blue, lw=2.2)
    ax.text(stream_x, 0.5, "z_out", ha="center", va="center", fontsize=9, weight="bold")
    _shape(ax, stream_x + 0.07, 0.5, s["tokens"])

    # the shapes, beside the layers that make them
    rows = [
        (8.4, "each token: mean 0, std 1", s["tokens"]),
        (7.45, "qkv: Linear D \u2192 3D", s["qkv"]),
        (7.05, "q, k, v split into heads", s["heads"]),
        (6.65, "softmax(q k\u1d40 / \u221aDh) per head", s["att"]),
        (6.25, "att v, heads merged, proj", s["tokens"]),
        (4.6, "per token over D", s["tokens"]),
        (3.4, "fc1, GELU: each token alone", s["hidden"]),
        (3.0, "fc2", s["tokens"]),
    ]
    for y, what, shape in rows:
        ax.text(note_x, y, what, va="center", fontsize=8.5)
        _shape(ax, note_x + 0.26, y, shape)
    ax.text(stream_x - 0.035, 5.0, "residual stream: never normalised, only added to",
            rotation=90, ha="right", va="center", fontsize=8, color=blue)
    ax.text(note_x, 1.2, "z' = z + attn(norm1(z))\nz_out = z' + mlp(norm2(z'))", fontsize=9,
            va="center", family="monospace")
    ax.text(note_x, 0.45, f"N = P + 1 = {P} + 1 = {N} tokens, D = {D}, h = {h}, Dh = {Dh}, M = {M}",
            fontsize=8.5, va="center")
    fig.suptitle("One transformer block (pre-norm): two residual branches", fontsize=11)
    return fig


def draw_attention(att_row, grid, query=0, image=None, top=3, title=None):
    """Attention as a weighted sum: one query's arrows to every key, thick where it attends.

    att_row: (N,) one row of an attention matrix, N = P + 1 = grid^2 + 1 (token 0 the class
    token, then patches 0 to P - 1 row by row, patch j being token j + 1), non-negative and
    summing to 1. query: the row's token index, for the labels. image: optional (H, W) digit drawn under the weights on the right.
    The output of the query is out = sum_j a_j v_j; the `top` largest terms are written out.
    One arrow per key (gid 'key-arrow'), wider and darker in step with a_j / max(a); one row
    of text per key, so it is meant for small grids (MNIST's 4 x 4: 17 keys). Returns a Figure.
    """
    a = np.asarray(att_row, dtype=float)
    N = grid * grid + 1
    if a.ndim != 1 or a.shape[0] != N:
        raise ValueError(f"att_row.shape={a.shape}, expected ({N},): grid={grid} gives "
                         f"{grid}\u00b2 patches + 1 class token")
    if a.min() < 0 or not np.isclose(a.sum(), 1.0, atol=1e-4):
        raise ValueError(f"att_row sums to {a.sum():.6f} with minimum {a.min():.3g}, expected "
                         f"non-negative weights summing to 1 (one softmax row)")
    if not 0 <= query < N:
        raise ValueError(f"query={query}, expected a token index in [0, {N})")
    names = ["cls"] + [f"patch {j}" for j in range(N - 1)]   # token j + 1 is patch j

    fig = Figure(figsize=(9.0, max(4.0, 0.22 * N + 1.3)), layout="constrained")
    ax, ax_map = fig.subplots(1, 2, width_ratios=[1.25, 1])
    ax.set_xlim(0, 1)
    ax.set_ylim(-1.0, N)
    ax.axis("off")
    ys = N - 1 - np.arange(N)                 # key 0 at the top
    qx, qy, kx = 0.1, (N - 1) / 2, 0.5
    _box(ax, qx, qy, 0.19, 1.6, f"query\n{names[query]}", COLOURS["attn"], weight="bold")
    biggest = a.max()
    for j in range(N):
        share = a[j] / biggest                 # 1 for the largest weight
        # darker and wider for a larger weight; the faintest stay visible, so every key has its arrow
        _arrow(ax, (qx + 0.095, qy), (kx - 0.02, ys[j]), gid=KEY_ARROW_GID, lw=0.5 + 4.5 * share,
               colour=(0.12, 0.23, 0.55, 0.2 + 0.8 * share), style="->")
        ax.text(kx, ys[j], f"k, v of {names[j]}", ha="left", va="center", fontsize=8)
        ax.text(0.98, ys[j], f"{a[j]:.3f}", ha="right", va="center", **{**MONO, "fontsize": 8},
                weight="bold" if share > 0.5 else "normal")
    ax.text(0.98, N - 0.25, "weight a_j", ha="right", va="center", fontsize=8.5, weight="bold")
    order = np.argsort(a)[::-1][:top]
    terms = " + ".join(f"{a[j]:.2f}\u00b7v[{names[j]}]" for j in order)
    fig.supxlabel(f"out = \u03a3_j a_j v_j = {terms} + \u2026   (all {N} weights sum to 1)",
                  fontsize=9)

    # the same weights on the patch grid, under the digit
    patch_w = a[1:].reshape(grid, grid)
    if image is not None:
        img = np.asarray(image, dtype=float)
        if img.ndim != 2 or img.shape[0] % grid or img.shape[0] != img.shape[1]:
            raise ValueError(f"image.shape={img.shape}, expected a square (H, W) divisible by grid={grid}")
        k = img.shape[0] // grid
        im = ax_map.imshow(np.kron(patch_w, np.ones((k, k))), cmap="inferno", vmin=0, vmax=biggest)
        lo, hi = img.min(), img.max()
        if hi > lo:
            ax_map.contour(img, levels=[(lo + hi) / 2], colors="white", linewidths=1)
    else:
        im = ax_map.imshow(patch_w, cmap="inferno", vmin=0, vmax=biggest)
    ax_map.set_xticks([])
    ax_map.set_yticks([])
    ax_map.set_title(f"the patch weights on the {grid}\u00d7{grid} grid\n(class token: {a[0]:.3f})",
                     fontsize=9)
    fig.colorbar(im, ax=ax_map, shrink=0.6, label="attention weight")
    fig.suptitle(title or f"Attention as a weighted sum: {names[query]} asks, every key answers",
                 fontsize=11)
    return fig
