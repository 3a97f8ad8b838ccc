"""What a trained ViT has learned, measured as in the ViT paper's section 4.5 (Figures 6, 7, 11).

- attention_maps: every block's attention weights for a batch of images.
- attention_rollout / rollout_map: attention from the class token to the input patches,
  carried through all layers (Abnar & Zuidema 2020; ViT paper appendix D.8, Figure 6).
- mean_attention_distance: how far, in pixels, each head looks (Figure 7 right, Figure 11).
- pos_embed_similarity: cosine similarity between position embeddings (Figure 7 centre).
- patch_embed_components: principal components of the patch embedding filters (Figure 7 left).
- neighbour_similarity_summary, summarize: the same findings as numbers and text.
- confusion_matrix: which digits are mistaken for which.
- ink_per_patch, distance_baselines: what attention distance would be for attention that
  only looks at itself, spreads evenly, or spreads evenly over the digit's ink; field_distance,
  the same for a CNN unit looking evenly over its receptive field, from the same queries.
- self_share, offset_attention, strongest_offset: how much of a head's attention stays on the
  query's own patch, and how much goes to each fixed offset from it.
- rollout_maps_for_model, rollout_controls, deletion_curve: rollout held against a
  positional template, the ink, and the accuracy lost when the patches it ranks are blanked;
  inked_deletion_curve, equal_ink_deletion_curve: the same among inked patches only, and at
  equal amounts of ink removed (controls that blank patches cannot confound).

NumPy only: the figures live in plots.py.

Shape legend: L layers (blocks), B batch, h heads, N tokens (patches + 1 class token, token 0
the class token, patches in row-major grid order), P = N - 1 patches, g grid side (P = g*g),
p patch size, C channels, D embedding width.
"""
import numpy as np

HEAD_FUSIONS = ("mean", "max", "min")
INK_LEVEL = 0.1 * 255   # a patch holds ink when its mean raw intensity is above 10% of white
LOCAL_SHARE = 0.5       # a head is local when it attends closer than half of uniform attention


def attention_maps(model, images, batch_size=256):
    """Every block's softmax attention weights for `images`: (L, B, h, N, N).

    images: normalised float (B, C, H, W), e.g. numpyvit.normalize(x_uint8).
    The model runs in eval mode (no dropout), `batch_size` images at a time so that memory
    stays bounded; its training flag is restored afterwards. Each row of the result sums to 1:
    result[l, b, k, i] is how query token i of image b spreads head k's attention in block l.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    model.check_images(images)
    was_training = model.training
    model.eval()
    B = images.shape[0]
    L, h, N = len(model.blocks), model.config.heads, model.patch_embed.num_patches + 1
    out = np.empty((L, B, h, N, N), dtype=model.dtype)            # (L, B, h, N, N)
    try:
        for start in range(0, B, batch_size):
            model.forward(images[start:start + batch_size])
            for l, block in enumerate(model.blocks):
                out[l, start:start + batch_size] = block.attn.att  # (b, h, N, N)
    finally:
        model.train(was_training)
    return out


def _check_attentions(attentions, fn):
    """(L, B, h, N, N) or one image's (L, h, N, N) -> (L, B, h, N, N) and whether B was added."""
    att = np.asarray(attentions)
    if att.ndim not in (4, 5) or att.shape[-1] != att.shape[-2]:
        raise ValueError(f"{fn}: attentions.shape={att.shape}, expected (layers, B, heads, N, N) "
                         f"or (layers, heads, N, N) with square N x N attention matrices")
    if not np.issubdtype(att.dtype, np.floating):
        att = att.astype(np.float64)
    single = att.ndim == 4
    return (att[:, None] if single else att), single


def attention_rollout(attentions, head_fusion="mean", discard_ratio=0.0):
    """Attention rollout (Abnar & Zuidema 2020), as in the ViT paper's appendix D.8 / Figure 6.

    Per layer l: fuse the heads into one matrix W_l (mean, max or min over heads), optionally
    discard its weakest weights, then account for the residual connection by mixing in the
    identity and renormalising the rows:

        A_l = (0.5 W_l + 0.5 I) / rowsum(0.5 W_l + 0.5 I)
        R   = A_L ... A_2 A_1            (the last layer's matrix on the left)

    R[i, j] is how much of token i's final representation flows from input token j; row 0
    (the class token) over the patch columns is what rollout_map displays.

    attentions: (L, B, h, N, N), or one image's (L, h, N, N).
    head_fusion: 'mean' (default, the paper's), 'max' or 'min' over the h heads.
    discard_ratio in [0, 1): in each fused N x N matrix, the floor(discard_ratio * N*N) lowest
        weights are set to 0 before the identity is added. The class token's own entry
        W[0, 0] is never discarded (our choice, as in the common reference code): it is the
        path by which the class token keeps its own information. Rows need not be
        renormalised before adding I: every row of 0.5 W + 0.5 I sums to at least 0.5.
    Returns R: (B, N, N), or (N, N) for one image's input; the input's float dtype.
    """
    att, single = _check_attentions(attentions, "attention_rollout")
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"attention_rollout: head_fusion={head_fusion!r}, expected one of {HEAD_FUSIONS}")
    if not 0.0 <= discard_ratio < 1.0:   # also rejects NaN
        raise ValueError(f"attention_rollout: discard_ratio={discard_ratio!r}, expected a number in [0, 1)")
    L, B, h, N, _ = att.shape
    W = getattr(np, head_fusion)(att, axis=2)                     # (L, B, N, N)

    n_discard = int(discard_ratio * N * N)
    if n_discard > 0:
        flat = W.reshape(L, B, N * N).copy()                      # (L, B, N*N)
        # an infinite key keeps W[0, 0] (flat index 0) out of the lowest n_discard
        keys = flat.copy()
        keys[..., 0] = np.inf
        lowest = np.argpartition(keys, n_discard - 1, axis=-1)[..., :n_discard]
        np.put_along_axis(flat, lowest, 0, axis=-1)
        W = flat.reshape(L, B, N, N)                              # (L, B, N, N)

    eye = np.eye(N, dtype=W.dtype)
    A = 0.5 * W + 0.5 * eye                                       # residual: x + attn(x)
    A /= A.sum(axis=-1, keepdims=True)                            # rows sum to 1 again
    R = np.broadcast_to(eye, (B, N, N)).copy()                    # (B, N, N)
    for l in range(L):                                            # R = A_l R: later layers on the left
        R = A[l] @ R
    return R[0] if single else R


def rollout_map(rollout, grid):
    """The class token's row of a rollout over the patches, as an image: (B, g, g).

    rollout: (B, N, N) or (N, N) from attention_rollout, N = g*g + 1.
    map[b] = R[b, 0, 1:].reshape(g, g), divided by its maximum so that the strongest patch
    is 1: rollout values shrink with depth and token count, and only the pattern matters
    for display. Returns (g, g) for a single (N, N) input.
    """
    R = np.asarray(rollout)
    single = R.ndim == 2
    R = R[None] if single else R
    if R.ndim != 3 or R.shape[-1] != R.shape[-2]:
        raise ValueError(f"rollout_map: rollout.shape={np.shape(rollout)}, expected (B, N, N) or (N, N)")
    N = R.shape[-1]
    if N != grid * grid + 1:
        raise ValueError(f"rollout_map: N={N} tokens do not match grid={grid} "
                         f"(expected grid*grid + 1 = {grid * grid + 1})")
    m = R[:, 0, 1:].reshape(-1, grid, grid)                       # (B, g, g)
    top = m.max(axis=(1, 2), keepdims=True)
    # an all-zero map stays zero rather than becoming NaN
    m = np.divide(m, top, out=np.zeros_like(m), where=top > 0)
    return m[0] if single else m


def patch_distances(grid, patch_size):
    """(P, P) distance in pixels between the centres of patches i and j, row-major order.

    Patch i sits at grid row i // g, column i % g; its centre at ((row + 0.5) p, (col + 0.5) p),
    so the distance is p * sqrt(drow^2 + dcol^2).
    """
    rows, cols = np.divmod(np.arange(grid * grid), grid)          # (P,), (P,)
    dr = rows[:, None] - rows[None, :]                            # (P, P)
    dc = cols[:, None] - cols[None, :]                            # (P, P)
    return patch_size * np.sqrt(dr * dr + dc * dc)


def mean_attention_distance(attentions, patch_size, grid):
    """Mean attention distance per layer and head in pixels: (L, h). ViT paper Figure 7 right, Figure 11.

        dist[l, k] = mean over images b and query patches i of  sum_j a[l, b, k, i, j] d(i, j)

    with d(i, j) the distance in pixels between the centres of patches i and j (patch_distances).
    It is the analogue of a CNN's receptive field size: small for heads that look locally.

    Query and key are patch tokens only: the class token's row and column are dropped and each
    remaining row is renormalised to sum to 1 (our choice: the class token has no position, so
    it has no distance). A query row that gave no weight at all to patches (possible only in
    hand-made input) has no distance and is left out of the average.

    attentions: (L, B, h, N, N) or one image's (L, h, N, N), N = grid*grid + 1.
    """
    att, _ = _check_attentions(attentions, "mean_attention_distance")
    N = att.shape[-1]
    if N != grid * grid + 1:
        raise ValueError(f"mean_attention_distance: N={N} tokens do not match grid={grid} "
                         f"(expected grid*grid + 1 = {grid * grid + 1})")
    a, valid = _patch_attention(att, "mean_attention_distance")   # (L, B, h, P, P), (L, B, h, P)
    d = patch_distances(grid, patch_size).astype(a.dtype)         # (P, P)
    per_query = np.einsum("lbhij,ij->lbhi", a, d)                 # (L, B, h, P), 0 where not valid
    with np.errstate(invalid="ignore", divide="ignore"):          # a head with no valid row -> NaN
        return per_query.sum(axis=(1, 3)) / valid.sum(axis=(1, 3)).astype(a.dtype)  # (L, h)


def attention_distance_for_model(model, images, batch_size=256):
    """mean_attention_distance of `model` on normalised `images` (B, C, H, W): (L, h) in pixels.

    Which images is the caller's choice; the paper averages over many (128 test images is
    plenty for MNIST).
    """
    att = attention_maps(model, images, batch_size=batch_size)   # (L, B, h, N, N)
    return mean_attention_distance(att, model.config.patch_size, model.patch_embed.grid)


def ink_per_patch(images, patch_size):
    """Mean raw intensity of every patch: (B, P), patches in row-major grid order.

    images: (B, H, W) or (B, C, H, W) raw pixels (before normalize(), background 0); the
    channels are averaged too. With H = W = g p the result's patch i is grid cell (i // g, i % g).
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[-1] != x.shape[-2] or x.shape[-1] % patch_size:
        raise ValueError(f"ink_per_patch: images.shape={np.shape(images)} must be (B, H, W) or "
                         f"(B, C, H, W), square, with a side divisible by patch_size={patch_size}")
    B, C, H, _ = x.shape
    g = H // patch_size
    tiles = x.reshape(B, C, g, patch_size, g, patch_size)             # (B, C, g, p, g, p)
    return tiles.mean(axis=(1, 3, 5)).reshape(B, g * g)               # (B, P)


def ink_patches(images, patch_size, level=INK_LEVEL):
    """Which patches hold ink: (B, P) booleans, ink_per_patch(images, patch_size) > level."""
    return ink_per_patch(images, patch_size) > level


def distance_baselines(ink_mask, patch_size, grid):
    """Mean attention distance, in pixels, of three reference attentions over the same queries
    as mean_attention_distance (every patch of every image, equally weighted):

        self:    each patch attends only to itself                       -> 0
        uniform: each patch spreads its attention evenly over all P patches
        ink:     each patch spreads it evenly over the patches of its image that hold ink

    The uniform baseline depends on where the query sits (a centre patch is near everything,
    a corner one far), and the ink baseline on where the digit is: a head that only looks at
    the digit in the middle scores below `uniform` without being local in any sense.
    ink_mask: (B, P) booleans (e.g. ink_patches(images, patch_size)); images without ink are
    left out of `ink`. Returns {"self", "uniform", "ink"} in pixels.
    """
    mask = np.asarray(ink_mask, dtype=bool)
    P = grid * grid
    if mask.ndim != 2 or mask.shape[1] != P:
        raise ValueError(f"distance_baselines: ink_mask.shape={mask.shape}, expected (B, {P})")
    d = patch_distances(grid, patch_size)                             # (P, P)
    counts = mask.sum(axis=1)                                         # (B,) ink patches per image
    has_ink = counts > 0
    # per image and query i: mean over the ink patches j of d(i, j)
    to_ink = (mask[has_ink].astype(np.float64) @ d.T) / counts[has_ink, None]   # (B', P)
    return {"self": 0.0, "uniform": float(d.mean()),
            "ink": float(to_ink.mean()) if has_ink.any() else float("nan")}


def field_distance(grid, patch_size, side):
    """Mean attention distance, in pixels, of a unit that looks evenly over a square field of
    `side` px centred on its query, on the grid of patches and over the same queries as
    mean_attention_distance: each query patch i spreads its attention evenly over the patches
    whose centres lie inside the field (|drow|, |dcol| <= side / 2 px, clipped to the image).

    It puts a CNN's receptive field on the attention-distance axis, measured the way the heads
    are: from every query position of the same grid, not from the image's centre only. A field
    covering the whole image gives distance_baselines' uniform value exactly; one smaller than
    a patch gives 0 (the query's own patch).
    """
    rows, cols = np.divmod(np.arange(grid * grid), grid)                  # (P,), (P,)
    half = side / 2 + 1e-9
    inside = ((np.abs(rows[:, None] - rows[None, :]) * patch_size <= half)
              & (np.abs(cols[:, None] - cols[None, :]) * patch_size <= half))  # (P, P), the diagonal True
    d = patch_distances(grid, patch_size)
    return float(((d * inside).sum(axis=1) / inside.sum(axis=1)).mean())


def _patch_attention(attentions, fn):
    """(L, B, h, P, P) attention among patches only, each query row renormalised to sum to 1
    (as mean_attention_distance does), and (L, B, h, P) which rows had any weight."""
    att, _ = _check_attentions(attentions, fn)
    a = att[..., 1:, 1:]
    mass = a.sum(axis=-1, keepdims=True)
    return np.divide(a, mass, out=np.zeros_like(a), where=mass > 0), mass[..., 0] > 0


def self_share(attentions):
    """The share of each head's attention that a patch gives to itself: (L, h), the mean over
    images and query patches of a[i, i] among the patches (rows renormalised as in
    mean_attention_distance). Uniform attention over P patches gives 1 / P; a head that looks
    only at itself, 1. A head can score a low distance by staying on its own patch, or by
    looking at its neighbours: this tells which."""
    a, valid = _patch_attention(attentions, "self_share")
    diag = np.einsum("lbhii->lbhi", a)                                    # (L, B, h, P)
    return (diag * valid).sum(axis=(1, 3)) / valid.sum(axis=(1, 3))


def offset_attention(attentions, grid):
    """How much attention each head gives to each fixed offset from the query: (L, h, 2g-1, 2g-1).

    out[l, k, g-1 + dr, g-1 + dc] is the mean, over images and over the query patches whose
    offset (dr, dc) stays on the grid, of the attention that query gives to the patch dr rows
    below and dc columns to the right of it (rows renormalised among the patches). The centre
    is the self share; uniform attention gives 1 / P at every offset. A head that attends
    mostly to one neighbour in a fixed direction (an "offset" head, as Walmer et al. 2023 found
    in ImageNet ViTs) shows one bright cell next to the centre.
    """
    a, valid = _patch_attention(attentions, "offset_attention")
    P = grid * grid
    if a.shape[-1] != P:
        raise ValueError(f"offset_attention: {a.shape[-1]} patches do not match grid={grid} (expected {P})")
    L, _, h = a.shape[:3]
    rows, cols = np.divmod(np.arange(P), grid)
    per_query = a * valid[..., None]                                      # (L, B, h, P, P)
    summed = per_query.sum(axis=1)                                        # (L, h, P, P) over images
    counts = valid.sum(axis=1)                                            # (L, h, P) valid images per query
    out = np.zeros((L, h, 2 * grid - 1, 2 * grid - 1))
    weight = np.zeros((L, h, 2 * grid - 1, 2 * grid - 1))
    dr = rows[None, :] - rows[:, None] + grid - 1                         # (P, P) offset of key j from query i
    dc = cols[None, :] - cols[:, None] + grid - 1
    for i in range(P):              # query i's keys all sit at different offsets: no offset twice
        out[:, :, dr[i], dc[i]] += summed[:, :, i, :]
        weight[:, :, dr[i], dc[i]] += counts[:, :, i, None]
    return np.divide(out, weight, out=np.zeros_like(out), where=weight > 0)


def strongest_offset(offsets):
    """Per head, the offset other than the query itself that gets the most attention:
    ((L, h, 2) offsets as (drow, dcol), (L, h) the mean attention on it), from offset_attention."""
    o = np.array(offsets, dtype=np.float64)
    L, h, n, _ = o.shape
    c = n // 2
    o[:, :, c, c] = -np.inf                                               # leave the query's own patch out
    flat = o.reshape(L, h, -1).argmax(axis=-1)
    where = np.stack(np.divmod(flat, n), axis=-1) - c                     # (L, h, 2)
    return where, o.reshape(L, h, -1).max(axis=-1)


def rollout_maps_for_model(model, images, batch_size=250, head_fusion="mean"):
    """rollout_map of every image: (B, g, g), each map's strongest patch 1. Computed
    batch_size images at a time so that the attention maps never fill memory."""
    grid = model.patch_embed.grid
    out = []
    for start in range(0, len(images), batch_size):
        att = attention_maps(model, images[start:start + batch_size], batch_size=batch_size)
        out.append(rollout_map(attention_rollout(att, head_fusion), grid))
    return np.concatenate(out)                                        # (B, g, g)


def _row_correlations(a, b):
    """Pearson correlation of a[i] with b[i], row by row: (B,). A constant row gives NaN."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def rollout_controls(maps, ink):
    """Rollout held against two controls: a map that is the same for every image, and the ink.

    maps: (B, g, g) from rollout_maps_for_model; ink: (B, P) from ink_per_patch.
        template  = the mean map over the images: where rollout looks whatever the digit
        deviation = map - template: what is particular to one image
    and per image the Pearson correlation with the ink per patch of
        the rollout map, its deviation, and the template (the control: the correlation a
        digit-blind map gets).
    Returns {"template": (g, g), "deviation": (B, g, g), "corr_rollout", "corr_deviation",
    "corr_template": (B,) each}.
    """
    m = np.asarray(maps, dtype=np.float64)
    ink = np.asarray(ink, dtype=np.float64)
    if m.ndim != 3 or ink.shape != (m.shape[0], m.shape[1] * m.shape[2]):
        raise ValueError(f"rollout_controls: maps.shape={m.shape} and ink.shape={ink.shape}; expected "
                         f"(B, g, g) and (B, g*g)")
    B = m.shape[0]
    template = m.mean(axis=0)                                         # (g, g)
    deviation = m - template                                          # (B, g, g)
    flat = m.reshape(B, -1)                                           # (B, P)
    return {"template": template, "deviation": deviation,
            "corr_rollout": _row_correlations(flat, ink),
            "corr_deviation": _row_correlations(deviation.reshape(B, -1), ink),
            "corr_template": _row_correlations(np.broadcast_to(template.ravel(), flat.shape), ink)}


def deletion_curve(model, images, labels, scores, ks, background, order="high", rng=None,
                   batch_size=500):
    """Accuracy after blanking each image's k patches chosen by `scores`, for every k in ks.

    scores: (B, P) per-patch importance (e.g. rollout). order 'high' blanks the k highest
    first, 'low' the k lowest, 'random' k patches drawn by `rng` (one random ranking per
    image, shared by every k). A faithful importance map loses accuracy fastest under 'high'
    and slowest under 'low'; 'random' is the chance level between them.
    images: normalised (B, C, H, W); background: the normalised value of a blank pixel.
    Returns accuracies (len(ks),).
    """
    scores = np.asarray(scores)
    B, P = scores.shape
    for k in ks:
        if not 0 <= k <= P:
            raise ValueError(f"deletion_curve: k={k} must lie in [0, {P}]")
    ranking = deletion_ranking(scores, order, rng)                     # (B, P)
    blanked = []                                                      # per k: (B, P) 1 = blank, 0 = keep
    for k in ks:
        factors = np.zeros((B, P))
        np.put_along_axis(factors, ranking[:, :k], 1.0, axis=1)
        blanked.append(factors)
    return _accuracy_with(model, images, labels, blanked, background, batch_size)


# --- deletion controls not confounded by blank patches ------------------------------------------
# Blanking a patch to the background removes its ink, and most patches of a digit hold none, so
# "most ink first" removes the most ink by construction and beats any map at equal patch counts.
# Two controls take that away: deletion among the inked patches only, and deletion of equal
# amounts of ink (whole patches in the order's ranking, the last one dimmed to make the share).

def deletion_ranking(scores, order, rng=None, allowed=None):
    """(B, P) patch indices per image, the first to be blanked first: 'high' scores first, 'low'
    first, or 'random' (a ranking drawn by `rng`). With allowed (B, P) booleans, the patches
    not allowed come last, in any order (a caller takes only the allowed ones)."""
    scores = np.asarray(scores, dtype=np.float64)
    if order == "high":
        keys = -scores
    elif order == "low":
        keys = scores.copy()
    elif order == "random":
        if rng is None:
            raise ValueError("deletion_ranking: order='random' needs rng")
        keys = rng.random(scores.shape)
    else:
        raise ValueError(f"deletion_ranking: order={order!r}, expected 'high', 'low' or 'random'")
    if allowed is not None:
        keys = np.where(allowed, keys, np.inf)
    return np.argsort(keys, axis=1, kind="stable")                    # (B, P)


def check_only_inked(mask, inked):
    """Raise ValueError unless every patch in `mask` (B, P) booleans, the patches to blank, holds
    ink by `inked` (B, P): a deletion among the inked patches must never blank a blank one."""
    mask, inked = np.asarray(mask, dtype=bool), np.asarray(inked, dtype=bool)
    stray = mask & ~inked
    if stray.any():
        images = np.flatnonzero(stray.any(axis=1))
        raise ValueError(f"check_only_inked: {int(stray.sum())} patches without ink (mean intensity <= "
                         f"{INK_LEVEL:g}) among those to blank, in images {images[:5].tolist()}; expected only "
                         f"patches that hold ink")


def inked_deletion_masks(scores, inked, fraction, order, rng=None, ranking=None):
    """Which patches to blank (B, P) booleans: per image, round(fraction * its inked patches) of
    its inked patches, taken in `order` of `scores` (deletion_ranking); never a patch without ink
    (checked). ranking: a precomputed deletion_ranking(scores, order, rng, allowed=inked), so a
    random order is the same at every fraction."""
    inked = np.asarray(inked, dtype=bool)
    if not 0 <= fraction <= 1:
        raise ValueError(f"inked_deletion_masks: fraction={fraction!r}, expected a share of the inked patches in [0, 1]")
    if ranking is None:
        ranking = deletion_ranking(scores, order, rng, allowed=inked)
    B, P = inked.shape
    k = np.rint(fraction * inked.sum(axis=1)).astype(np.int64)        # (B,) patches to blank per image
    first = np.arange(P)[None, :] < k[:, None]                        # (B, P) the first k of each ranking
    mask = np.zeros((B, P), dtype=bool)
    np.put_along_axis(mask, ranking, first, axis=1)
    check_only_inked(mask, inked)
    return mask


def dim_patches(images, factors, patch_size, value):
    """A copy of `images` (B, C, H, W) with each patch moved toward `value` (the background) by its
    factor, factors (B, P) in [0, 1]: 1 blanks the patch, 0 leaves it, 0.3 removes 30% of its ink
    (x -> x - f (x - value), so the ink, the intensity above the background, scales by 1 - f)."""
    x = np.array(images, copy=True)
    B, C, H, W = x.shape
    g = W // patch_size
    f = np.asarray(factors, dtype=x.dtype).reshape(B, 1, g, 1, g, 1)  # broadcast over (B, C, g, p, g, p)
    tiles = x.reshape(B, C, g, patch_size, g, patch_size)             # a view of x
    v = x.dtype.type(value)
    tiles[...] = np.where(f >= 1, v, tiles - f * (tiles - v))       # a whole patch is exactly the background
    return x


def equal_ink_factors(ink, ranking, share):
    """How much of each patch to remove so that every image loses `share` of its ink, taking its
    patches in `ranking` order: (B, P) factors for dim_patches, the first patches whole (1), the
    next one dimmed to make up the share exactly, the rest 0. Patches without ink along the way
    are blanked too (which changes nothing). ink: (B, P) from ink_per_patch; images without ink
    lose nothing."""
    ink = np.asarray(ink, dtype=np.float64)
    if not 0 <= share <= 1:
        raise ValueError(f"equal_ink_factors: share={share!r}, expected a share of the image's ink in [0, 1]")
    ranked = np.take_along_axis(ink, ranking, axis=1)                 # (B, P) ink in blanking order
    before = np.cumsum(ranked, axis=1) - ranked                       # ink removed before each patch
    target = share * ink.sum(axis=1, keepdims=True)                   # (B, 1)
    need = np.clip(target - before, 0, None)                          # ink still to remove at each patch
    taken = np.divide(need, ranked, out=np.zeros_like(ranked), where=ranked > 0)
    # whole patches while the target is not reached; a patch without ink is blanked if reached before it
    taken = np.where(ranked > 0, np.clip(taken, 0, 1), (need > 0).astype(np.float64))
    factors = np.zeros_like(ink)
    np.put_along_axis(factors, ranking, taken, axis=1)
    return factors


def inked_deletion_curve(model, images, labels, scores, inked, fractions, background, order="high", rng=None,
                         batch_size=500):
    """Accuracy after blanking, per image, `fraction` of its inked patches in `order` of `scores`
    (inked_deletion_masks), for every fraction; one ranking per image shared by every fraction.
    Returns (accuracies, mean patches blanked per image), each (len(fractions),)."""
    inked = np.asarray(inked, dtype=bool)
    ranking = deletion_ranking(scores, order, rng, allowed=inked)
    masks = [inked_deletion_masks(scores, inked, f, order, ranking=ranking) for f in fractions]
    acc = _accuracy_with(model, images, labels, [m.astype(np.float64) for m in masks], background, batch_size)
    return acc, np.array([m.sum(axis=1).mean() for m in masks])


def equal_ink_deletion_curve(model, images, labels, scores, ink, shares, background, order="high", rng=None,
                             batch_size=500):
    """Accuracy after removing `share` of every image's ink, patches taken in `order` of `scores`
    over all patches (equal_ink_factors), for every share: the orders compared at equal ink removed
    rather than equal patch counts. Returns (accuracies, mean patches touched per image, whole or
    dimmed), each (len(shares),)."""
    ranking = deletion_ranking(scores, order, rng)
    factors = [equal_ink_factors(ink, ranking, s) for s in shares]
    acc = _accuracy_with(model, images, labels, factors, background, batch_size)
    return acc, np.array([(f > 0).sum(axis=1).mean() for f in factors])


def _accuracy_with(model, images, labels, factor_sets, background, batch_size):
    """Accuracy of `model` on `images` dimmed by each (B, P) array of dim_patches factors."""
    p = model.config.patch_size
    was_training = model.training
    model.eval()
    acc = []
    try:
        for factors in factor_sets:
            correct = 0
            for start in range(0, len(images), batch_size):
                sl = slice(start, start + batch_size)
                x = dim_patches(images[sl], factors[sl], p, background)
                correct += int(np.sum(model.forward(x).argmax(1) == labels[sl]))
            acc.append(correct / len(images))
    finally:
        model.train(was_training)
    return np.array(acc)


def pos_embed_similarity(pos_embed, grid):
    """Cosine similarity of every position embedding with every other: (g, g, g, g). Figure 7 centre.

        sim[r1, c1, r2, c2] = <e(r1, c1), e(r2, c2)> / (|e(r1, c1)| |e(r2, c2)|)

    so sim[r, c] is the tile the paper draws for the patch at row r, column c.
    pos_embed: (1, N, D) or (N, D) with N = grid*grid + 1; row 0, the class token's, is
    dropped first (it has no grid position). A zero embedding is similar to nothing (0).
    """
    E = np.asarray(pos_embed)
    if E.ndim == 3 and E.shape[0] == 1:
        E = E[0]                                                  # (N, D)
    if E.ndim != 2:
        raise ValueError(f"pos_embed_similarity: pos_embed.shape={np.shape(pos_embed)}, "
                         f"expected (1, N, D) or (N, D)")
    if E.shape[0] != grid * grid + 1:
        raise ValueError(f"pos_embed_similarity: {E.shape[0]} embeddings do not match grid={grid} "
                         f"(expected grid*grid + 1 = {grid * grid + 1}, class token first)")
    E = E[1:]                                                     # (P, D)
    norm = np.linalg.norm(E, axis=1, keepdims=True)               # (P, 1)
    U = np.divide(E, norm, out=np.zeros_like(E, dtype=np.result_type(E, 1.0)), where=norm > 0)
    return (U @ U.T).reshape(grid, grid, grid, grid)              # (g, g, g, g)


def patch_embed_components(weight, k=None):
    """Principal components of the patch embedding filters. ViT paper Figure 7 left.

    weight: (D, C, p, p), e.g. model.patch_embed.proj.params["weight"]: D filters, one per
    embedding channel. Flattened to X (D, C*p*p), each filter a row; the rows are centred
    (the mean filter over D is subtracted) and X = U S V^T. The rows of V^T are the
    principal directions, in order of the variance they explain:

        explained_variance_ratio[i] = S[i]^2 / sum_j S[j]^2

    Returns components (k, C, p, p) and explained_variance_ratio (k,), sorted descending; the
    ratios of all min(D, C*p*p) components sum to 1. k defaults to all of them. The sign of a
    principal direction is arbitrary; we make its largest-magnitude pixel positive so that
    figures do not flip between runs.
    """
    w = np.asarray(weight)
    if w.ndim != 4:
        raise ValueError(f"patch_embed_components: weight.shape={w.shape}, expected (D, C, p, p)")
    D, C, p, _ = w.shape
    X = w.reshape(D, C * p * p)                                   # (D, C*p*p)
    X = X - X.mean(axis=0, keepdims=True)                         # centre over the D filters
    _, S, Vt = np.linalg.svd(X, full_matrices=False)              # Vt: (min(D, Cpp), C*p*p)
    n = len(S)
    k = n if k is None else k
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"patch_embed_components: k={k!r}, expected an integer in [1, {n}]")
    var = S * S
    total = var.sum()
    ratio = var / total if total > 0 else np.zeros_like(var)      # all filters equal: nothing varies
    top = np.argmax(np.abs(Vt), axis=1)                           # (n,)
    sign = np.sign(Vt[np.arange(n), top])
    Vt = Vt * np.where(sign == 0, 1, sign)[:, None]
    return Vt[:k].reshape(k, C, p, p), ratio[:k]


def neighbour_similarity_summary(sim):
    """Mean cosine similarity of neighbouring vs distant positions, from pos_embed_similarity.

    sim: (g, g, g, g). Neighbours are the 4-neighbours (grid distance 1); distant pairs are at
    Euclidean grid distance >= 2, i.e. outside each other's 8-neighbourhood, so diagonal
    neighbours (distance sqrt 2) belong to neither group. Each ordered pair counts once.
    Returns {"neighbour": mean, "distant": mean, "gap": neighbour - distant}; a group with
    no pairs (grid 1 has no neighbours, grid < 3 no distant pairs) gives NaN.
    """
    s = np.asarray(sim)
    if s.ndim != 4 or len(set(s.shape)) != 1:
        raise ValueError(f"neighbour_similarity_summary: sim.shape={s.shape}, expected (g, g, g, g)")
    g = s.shape[0]
    d2 = (patch_distances(g, 1) ** 2).round()                     # squared grid distance (P, P)
    flat = s.reshape(g * g, g * g)                                # (P, P)

    def mean_where(mask):
        return float(flat[mask].mean()) if mask.any() else float("nan")

    neighbour, distant = mean_where(d2 == 1), mean_where(d2 >= 4)
    return {"neighbour": neighbour, "distant": distant, "gap": neighbour - distant}


def row_column_similarity(sim):
    """Mean cosine similarity of position embeddings in the same grid row, the same column, and
    in neither (a position is never paired with itself): {"same_row", "same_column", "neither"}.
    The paper's Figure 7 (centre) shows row-and-column structure; this measures it.
    sim: (g, g, g, g) from pos_embed_similarity; g >= 2."""
    s = np.asarray(sim)
    if s.ndim != 4 or len(set(s.shape)) != 1 or s.shape[0] < 2:
        raise ValueError(f"row_column_similarity: sim.shape={s.shape}, expected (g, g, g, g) with g >= 2")
    g = s.shape[0]
    rows, cols = np.divmod(np.arange(g * g), g)                       # (P,) each
    same_row = rows[:, None] == rows[None, :]                         # (P, P)
    same_col = cols[:, None] == cols[None, :]
    flat = s.reshape(g * g, g * g)
    return {"same_row": float(flat[same_row & ~same_col].mean()),
            "same_column": float(flat[same_col & ~same_row].mean()),
            "neither": float(flat[~same_row & ~same_col].mean())}


def components_for_share(ratios, share=0.9):
    """How many principal components (ratios sorted descending) explain `share` of the variance."""
    return int(np.searchsorted(np.cumsum(ratios), share - 1e-12) + 1)


def summarize(distances, sim):
    """A few lines of text: attention distance per layer, and whether neighbouring position
    embeddings are more similar than distant ones.

    distances: (L, h) from mean_attention_distance, in pixels; sim: (g, g, g, g) from
    pos_embed_similarity.
    """
    dist = np.asarray(distances)
    if dist.ndim != 2:
        raise ValueError(f"summarize: distances.shape={dist.shape}, expected (layers, heads)")
    L, h = dist.shape
    lines = [f"Mean attention distance in pixels (min / mean / max over the {h} heads):"]
    for l in range(L):
        lines.append(f"  layer {l + 1}: {np.nanmin(dist[l]):5.1f} / {np.nanmean(dist[l]):5.1f} / "
                     f"{np.nanmax(dist[l]):5.1f}")
    s = neighbour_similarity_summary(sim)
    numbers = (f"mean cosine similarity {s['neighbour']:.3f} for 4-neighbours vs "
               f"{s['distant']:.3f} at grid distance >= 2")
    if np.isnan(s["gap"]):
        verdict = "the grid is too small to compare neighbouring and distant positions"
    elif s["gap"] > 0:
        verdict = "neighbouring positions are more similar than distant ones"
    else:
        verdict = "neighbouring positions are NOT more similar than distant ones"
    lines.append(f"Position embeddings: {verdict}")
    lines.append(f"  ({numbers}).")
    return "\n".join(lines)


def confusion_matrix(labels, preds, k):
    """(k, k) counts: row = true class, column = predicted class; the diagonal is correct."""
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)), 1)
    return cm
