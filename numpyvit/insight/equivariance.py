"""Does a feature map move with the image? Equivariance to shifts, measured.

A map f is shift-equivariant when shifting the input shifts the output: f(S x) = S' f(x),
S' the same shift on the map's own grid (a shift of k pixels is k / s cells of a map with
stride s). A convolution is (away from the image's border, where its zero padding sits, and
for shifts by whole multiples of its stride); that is the "translation equivariance" the ViT
paper (section 3.1, "Inductive bias") says a CNN has built in and a ViT has not: its patch
embedding is a convolution with stride p, but the position embedding added after it gives
every cell of the grid its own vector, which does not move with the content.

    maps = resnet_feature_maps(resnet, x)         # {"stem": (B, F, h, w), "layer1": ..., ...}
    maps = vit_token_maps(vit, x)                 # {"patches": (B, D, g, g), "+ position": ..., "block 1": ...}
    aligned, unaligned = shift_error(maps_of_shifted["layer1"], maps["layer1"], cells=4)
    vit_shift_errors(vit, digits)                 # {map: (aligned, unaligned)}, one patch to the right
    resnet_shift_errors(resnet, digits, 8, canvas=112)

Shape legend: B batch, F channels of a feature map, D token width, g grid side, h, w map size.
"""
import numpy as np

from ..data.augment import shift_images
from ..data.prepare import normalize
from ..data.resample import on_canvas
from ..models.resnet import ResNet, ResNetConfig


def resnet_feature_maps(model, images):
    """The ResNet's feature map after its stem and after each stage, in eval mode (batch
    norm with its running statistics, so each image is mapped on its own): {name: (B, F, h, w)}."""
    model.eval()
    x = model.check_images(images)
    h = model.relu.forward(model.bn1.forward(model.conv1.forward(x)))    # (B, F0, H/s, W/s)
    maps = {"stem": h}
    for name in model.stage_names:
        for block in getattr(model, name):
            h = block.forward(h)
        maps[name] = h                                                   # (B, F, h, w)
    return maps


def vit_token_maps(model, images):
    """The ViT's patch tokens laid out on their grid, after the patch embedding, after the
    position embedding is added, and after each block: {name: (B, D, g, g)}. The class token
    has no place on the grid and is left out."""
    model.eval()
    g = model.patch_embed.grid

    def grid(tokens):                                   # (B, P, D) -> (B, D, g, g)
        B, P, D = tokens.shape
        return tokens.reshape(B, g, g, D).transpose(0, 3, 1, 2)

    maps = {"patches": grid(model.patch_embed.forward(model.check_images(images)))}
    x = model.embed(images)                                              # (B, N, D)
    maps["+ position"] = grid(x[:, 1:])
    for i, block in enumerate(model.blocks):
        x = block.forward(x)
        maps[f"block {i + 1}"] = grid(x[:, 1:])
    return maps


def shift_error(shifted, original, cells, rows=None, cols=None):
    """How far the map of a shifted image is from the original's map moved along: for a
    shift of `cells` grid cells to the right (the last axis),

        aligned   = |f(Sx)[r, c + cells] - f(x)[r, c]| / |f(x)[r, c]|
        unaligned = |f(Sx)[r, c]         - f(x)[r, c]| / |f(x)[r, c]|

    Frobenius norms over the batch, the channels and the compared cells: rows `rows` and
    columns `cols` of the original's map (defaults: every row, every column whose shifted
    place is still on the map). `aligned` is 0 for an equivariant map; `unaligned`, the same
    measure without moving the map, is its reference: a map that stays where it is scores
    0 there instead. shifted, original: (B, F, h, w). Returns (aligned, unaligned)."""
    if shifted.shape != original.shape or original.ndim != 4:
        raise ValueError(f"shift_error: shifted {shifted.shape} and original {original.shape} must be "
                         f"the same (B, F, h, w)")
    h, w = original.shape[2:]
    if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)) or not 0 <= cells < w:
        raise ValueError(f"shift_error: cells={cells!r}, expected a whole number of cells in [0, {w})")
    rows = np.arange(h) if rows is None else np.asarray(rows)
    cols = np.arange(w - cells) if cols is None else np.asarray(cols)
    if cols.size == 0 or cols.max() + cells >= w or cols.min() < 0 or rows.size == 0:
        raise ValueError(f"shift_error: columns {cols.tolist()} shifted by {cells} leave the map's {w} columns")
    base = original[:, :, rows][:, :, :, cols]                          # (B, F, r, c)
    moved = shifted[:, :, rows][:, :, :, cols + cells]                  # (B, F, r, c)
    stayed = shifted[:, :, rows][:, :, :, cols]
    scale = np.linalg.norm(base)
    if scale == 0:
        raise ValueError("shift_error: the original map is zero on the compared cells")
    return float(np.linalg.norm(moved - base) / scale), float(np.linalg.norm(stayed - base) / scale)


def cells_over(lo, hi, stride, offset=0.0):
    """The cells of a map with `stride` px per cell whose centre (offset + stride * c px)
    lies in [lo, hi): the cells over a box of the image, as an index array."""
    c = np.arange(int(np.ceil(hi / stride)) + 1)
    centre = offset + stride * c
    return c[(centre >= lo) & (centre < hi)]


def room_to_shift(images, pixels):
    """A mask (B,) of the images whose last `pixels` columns hold no ink (all 0): shifted
    right by that much, they lose nothing out of the frame. images (B, H, W), raw pixels."""
    if images.ndim != 3:
        raise ValueError(f"room_to_shift: images.shape={images.shape}, expected (B, H, W)")
    return np.all(images[:, :, images.shape[2] - pixels:] == 0, axis=(1, 2))


def map_strides(resnet):
    """Pixels per cell of the ResNet's stem map and of each stage's: the stem's stride, then
    doubled by every stage after the first (2, 2, 4, 8 for the default)."""
    s = resnet.config.stem_stride
    return [s] + [s * 2 ** i for i in range(len(resnet.config.widths))]


def resnet_on_canvas(resnet, size):
    """The same ResNet, every weight shared, reading size x size images: it is fully
    convolutional, only its input check knows the image size."""
    new = ResNet(ResNetConfig.from_dict({**resnet.config.to_dict(), "image_size": size}), dtype=resnet.dtype)
    new.load_state_dict(resnet.state_dict())
    return new


def vit_shift_errors(vit, digits):
    """shift_error of every token map of `vit` for its digits (B, H, W), raw pixels, shifted
    right by one patch: {map name: (aligned, unaligned)}, over every cell that stays on the grid.
    Give it digits with room (room_to_shift): ink that left the frame would change the tokens."""
    p = vit.config.patch_size
    before = vit_token_maps(vit, normalize(digits))
    after = vit_token_maps(vit, normalize(shift_images(digits, 0, p)))
    return {name: shift_error(after[name], before[name], 1) for name in before}


def resnet_shift_errors(resnet, digits, pixels, canvas=None):
    """shift_error of the stem's and every stage's map for digits (B, H, W), raw pixels,
    shifted right by `pixels`, over the cells whose centres lie on the unshifted digit's
    square: {map name: (aligned, unaligned)}. A map whose stride does not divide `pixels` is
    left out (the shift is not a whole number of its cells). With `canvas`, the digits are set
    in the middle of a canvas x canvas frame first, far from the zero padding at the border,
    whose effect otherwise reaches every cell of the deeper maps (their fields are wider than
    a 28 px digit)."""
    size = digits.shape[-1]
    if canvas:
        resnet, digits = resnet_on_canvas(resnet, canvas), on_canvas(digits, canvas)
    lo = (digits.shape[-1] - size) // 2                  # the digit's square: [lo, lo + size) px
    before = resnet_feature_maps(resnet, normalize(digits))
    after = resnet_feature_maps(resnet, normalize(shift_images(digits, 0, pixels)))
    out = {}
    for name, stride in zip(before, map_strides(resnet)):
        if pixels % stride:
            continue
        cells = cells_over(lo, lo + size, stride)
        cols = cells[cells + pixels // stride < before[name].shape[-1]]
        out[name] = shift_error(after[name], before[name], pixels // stride, rows=cells, cols=cols)
    return out
