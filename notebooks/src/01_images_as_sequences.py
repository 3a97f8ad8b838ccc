# Notebook 1: Images as sequences of words. The cells, in order; see build_notebooks.py.

CELLS = [
md(r"""
# 1. Images as sequences of words

A transformer reads a *sequence of vectors*, one vector per word. The Vision Transformer
(Dosovitskiy et al. 2020, *An Image is Worth 16x16 Words*) gets an image into that form
with little machinery: cut it into square patches, flatten each patch, project it linearly
to a vector of width $D$, put one learnable vector in front (the *class token*), and add a
*position embedding* to every vector. Everything after that is a standard transformer.
This notebook does each step by hand on one MNIST digit, with numpyvit's own layers.

Terms used here, in English and Chinese: [the glossary](../docs/glossary.md).
"""),
md(r"""
**What you will learn**

- how `Patchify` cuts a $(B, C, H, W)$ image into $P = \frac{H}{p}\cdot\frac{W}{p}$
  patch vectors of length $C p^2$;
- why the patch embedding is one linear layer, and why that is a convolution with stride $p$;
- what the class token is and where it goes;
- why a transformer needs position embeddings, learned or fixed (sine-cosine);
- how the pieces add up to the first block's input, checked against
  `VisionTransformer.forward`, and the model's data flow drawn from its config.
"""),
md(r"""
**Notation** (the same in every notebook): `B` batch, `C` channels, `H, W` image height
and width, `p` patch size, `P` patches, numbered from 0 row by row, `N = P + 1` tokens
(the class token is token 0, patch $i$ is token $i + 1$), `D` embedding width.
"""),
code(SETUP),
code(r"""
import inspect

from numpyvit import (Patchify, PatchEmbed, ViTConfig, VisionTransformer, load_mnist, normalize,
                      pos_embed_similarity, sincos_pos_embed)
from numpyvit.insight.diagrams import draw_data_flow
from numpyvit.insight.plots import plot_pos_embed_similarity
"""),
md(r"""
## One digit

`load_mnist` returns the 70,000 MNIST digits as raw bytes: 28 x 28 pixels from 0 (black)
to 255 (white). The first call downloads them (11 MB) and caches them; every later call
reads the cache and checks its SHA-256 hash.
"""),
code(r"""
x_train, y_train, x_test, y_test = load_mnist()
print("x_train", x_train.shape, x_train.dtype, "  y_train", y_train.shape, y_train.dtype)
print("x_test ", x_test.shape, x_test.dtype, "  y_test ", y_test.shape, y_test.dtype)
"""),
md(r"""
We follow one test digit through the whole notebook. The grid lines mark the $7 \times 7$
patches our ViT uses (`ViTConfig().patch_size == 7`), numbered in the order they will
appear in the sequence: row by row, like reading a page.
"""),
code(r"""
INDEX = 1                      # a "2": its strokes cross most of the patches
image, label = x_test[INDEX], y_test[INDEX]
p = ViTConfig().patch_size     # 7
print(f"label {label}, image {image.shape} {image.dtype}, patch size p = {p}")

fig, ax = plt.subplots(figsize=(3.2, 3.2))
ax.imshow(image, cmap="gray")
for k in range(1, 28 // p):
    ax.axhline(k * p - 0.5, color="tab:orange", lw=1.5)
    ax.axvline(k * p - 0.5, color="tab:orange", lw=1.5)
for i in range((28 // p) ** 2):
    row, col = divmod(i, 28 // p)
    ax.text(col * p + 0.3, row * p + 1.6, str(i), color="tab:orange", fontsize=9, weight="bold")
ax.set_xticks([]); ax.set_yticks([])
ax.set_title(f"test digit {INDEX}: a {label}, cut into {p}x{p} patches");
"""),
md(r"""
Networks train best on inputs of mean 0 and variance 1, so `normalize` rescales the pixels
with MNIST's mean and standard deviation, $x \mapsto (x/255 - 0.1307)/0.3081$, and adds the
channel axis: a batch of $B$ images becomes $(B, C, H, W) = (B, 1, 28, 28)$ float32.
The black background becomes $-0.42$; the brightest ink $2.82$.
"""),
code(r"""
x = normalize(x_test[INDEX:INDEX + 1])          # a batch of one image
print("x", x.shape, x.dtype, f" min {x.min():.2f}  max {x.max():.2f}")
"""),
md(r"""
## Cutting the image into patches

`Patchify` is one reshape and one transpose. It has no parameters; here is all of its
forward pass:
"""),
code(r"""
print(inspect.getsource(Patchify.forward))
"""),
md(r"""
The reshape splits each image axis into (which patch, where inside the patch):
$H = \frac{H}{p} \cdot p$. The transpose brings the two "which patch" axes to the front,
and the last reshape flattens them into one sequence axis of length
$P = \frac{H}{p} \cdot \frac{W}{p}$, and everything else into one vector per patch of length
$C \cdot p \cdot p$. For us: $P = 4 \cdot 4 = 16$ patches of $1 \cdot 7 \cdot 7 = 49$ numbers.
"""),
code(r"""
patchify = Patchify(patch_size=p)
patches = patchify.forward(x)
print("x      ", x.shape, "  (B, C, H, W)")
print("patches", patches.shape, "  (B, P, C*p*p)")
assert patches.shape == (1, 16, 49)                 # P = 16 patches of 49 numbers
"""),
md(r"""
Here are the 16 patches as little images (left) and the same 16 patches as the sequence
the transformer actually sees (right): one row per patch, each row the patch's 49 pixels
read row by row. The right-hand picture is the "sentence"; every row is a "word".
"""),
code(r"""
lo, hi = patches.min(), patches.max()
fig = plt.figure(figsize=(9.5, 3.4), layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[1, 2.1])
for i, ax in enumerate(left.subplots(4, 4).flat):
    ax.imshow(patches[0, i].reshape(p, p), cmap="gray", vmin=lo, vmax=hi)
    ax.set_xticks([]); ax.set_yticks([])
    ax.set_title(f"patch {i}", fontsize=7, pad=2)
left.suptitle("16 patches, (7, 7) each", fontsize=10)
ax = right.subplots()
ax.imshow(patches[0], cmap="gray", vmin=lo, vmax=hi, aspect="auto")
ax.set_xlabel("position inside the patch (7 x 7 = 49 pixels, row by row)")
ax.set_ylabel("patch index (0 to P - 1)")
ax.set_yticks(range(16))
ax.set_title("the sequence: patches (B, P, C*p*p) = (1, 16, 49)", fontsize=10);
"""),
md(r"""
Patch 5 is grid row 1, column 1, so it must be the pixels `x[..., 7:14, 7:14]`. A
one-line check that the order really is row by row:
"""),
code(r"""
same = np.array_equal(patches[0, 5], x[0, 0, 7:14, 7:14].ravel())
print("patch 5 == x[0, 0, 7:14, 7:14] flattened:", same)
assert same
"""),
md(r"""
## The linear projection

Each patch vector $x_p^i \in \mathbb{R}^{C p^2}$ is mapped to a token of width $D$ by one
matrix $E \in \mathbb{R}^{C p^2 \times D}$ shared by all patches, plus a bias (the paper's
equation 1). `PatchEmbed` is `Patchify` followed by a `Linear` layer. Our model uses
$D = 64$, so the 49 pixels of each patch become 64 numbers.
"""),
code(r"""
embed = PatchEmbed(image_size=28, patch_size=p, in_channels=1, dim=64, rng=rng)
tokens = embed.forward(x)
W = embed.proj.params["weight"]
b = embed.proj.params["bias"]
print("proj.weight", W.shape, " (D, C, p, p)")
print("proj.bias  ", b.shape)
print("tokens     ", tokens.shape, " (B, P, D)")
"""),
md(r"""
The weight is stored as $(D, C, p, p)$: that is the kernel of a convolution with $D$
output channels, kernel size $p$ and stride $p$ (timm calls this layer
`patch_embed.proj` and implements it as exactly such a convolution). When the stride equals
the kernel size, the windows do not overlap; each output position sees one patch and
nothing else, so the convolution *is* a matrix product of the patch vectors with the
flattened kernel. Both views, checked:
"""),
code(r"""
D = W.shape[0]
as_matmul = patches @ W.reshape(D, -1).T + b        # (1, 16, 49) @ (49, 64) -> (1, 16, 64)

# the stride-7 convolution written out: output channel d at grid cell (i, j) is the sum of
# kernel d times the pixels of window (i, j)
windows = x[0, 0].reshape(4, p, 4, p)               # (grid row i, y, grid col j, x)
as_conv = np.einsum("iyjx,dyx->ijd", windows, W[:, 0]) + b   # (4, 4, 64)

print("PatchEmbed == matmul on patches:", np.allclose(tokens, as_matmul, atol=1e-6))
print("PatchEmbed == stride-7 conv:    ", np.allclose(tokens[0], as_conv.reshape(16, D), atol=1e-6))
"""),
code(r"""
assert np.allclose(tokens, as_matmul, atol=1e-6)
assert np.allclose(tokens[0], as_conv.reshape(16, D), atol=1e-6)
"""),
md(r"""
At initialisation the 64 filters are random (like every `Linear` in numpyvit: a normal of
standard deviation 0.02, cut at two standard deviations), so the tokens are random mixtures
of the pixels; *Going deeper* at the end compares that start with PyTorch's. Notebook 7
shows what the filters become after training: the paper found (its Figure 7, left) that
they turn into something like a basis for the fine structure inside a patch.
"""),
md(r"""
## The class token

The transformer will output one vector per token, but the classifier needs one vector per
*image*. The ViT borrows BERT's trick: prepend one more token, $x_\text{class}$, that belongs
to no patch. It is a learned parameter (`cls_token`, shape $(1, 1, D)$), the same for every
image. Through attention it can gather information from all patches, and after the last
block its vector alone is fed to the classification head (the paper's equation 4).
(Averaging the patch tokens instead works about as well; it is `ViTConfig(pool="mean")`.)
From here on we use the model's own layers: `VisionTransformer` holds exactly the pieces
we built by hand.
"""),
code(r"""
model = VisionTransformer(ViTConfig(), seed=0)
print(ViTConfig())
print(f"{model.num_parameters():,} parameters")
"""),
code(r"""
tokens = model.patch_embed.forward(x)                            # (B, P, D) = (1, 16, 64)
B = tokens.shape[0]
cls = np.broadcast_to(model.params["cls_token"], (B, 1, D))      # one copy per image: (1, 1, 64)
z = np.concatenate([cls, tokens], axis=1)                        # (B, N, D), N = P + 1
print("cls_token", model.params["cls_token"].shape)
print("tokens   ", tokens.shape, " (B, P, D)")
print("z        ", z.shape, " (B, N, D): the class token first, then the 16 patches")
assert z.shape == (1, 17, 64)                                    # N = 16 + 1 = 17 tokens
"""),
md(r"""
## The position embedding

Nothing we have done so far records *where* a patch came from, and self-attention will
not notice either: it treats its input as a set. Shuffle the 17 tokens, run them through a
transformer block, and the outputs come out shuffled the same way, with identical values.
The block cannot tell the top-left corner from the centre.
"""),
code(r"""
block = model.blocks[0]
perm = np.r_[0, 1 + rng.permutation(16)]          # keep the class token first, shuffle the patches
out = block.forward(z).copy()                     # (1, 17, 64)
out_shuffled = block.forward(z[:, perm])          # the same tokens in another order
print("block(shuffled tokens) == shuffled block(tokens):",
      np.allclose(out_shuffled, out[:, perm], atol=1e-6))
"""),
code(r"""
assert np.allclose(out_shuffled, out[:, perm], atol=1e-6)
"""),
md(r"""
So the ViT adds a position embedding $E_\text{pos} \in \mathbb{R}^{N \times D}$: one
vector per slot in the sequence, added to whatever token sits there. The paper's default,
and ours (`pos_embed="learned"`), is a free parameter, initialised randomly and learned
like any weight. It is "1-D": the model is never told that patch 4 (token 5, after the
class token) lies below patch 0 (token 1). The paper tried 2-D-aware variants and found no
real difference (its appendix D.4): the learned embeddings discover the grid by themselves
(notebook 7 looks for this in ours).
"""),
md(r"""
The alternative is a fixed embedding with the grid built in: numpyvit's `sincos_pos_embed`
gives each patch sines and cosines of its row (half of the channels) and of its column (the
other half), at several frequencies, as in the original Transformer but per axis
(`ViTConfig(pos_embed="sincos")`). Row 0, the class token's, is zero: it has no position.
"""),
code(r"""
learned = model.params["pos_embed"]                # (1, N, D), a parameter
fixed = sincos_pos_embed(64, grid_size=4)          # (1, N, D), a constant
print("learned pos_embed", learned.shape, f" std {learned.std():.3f} (random at initialisation)")
print("sincos  pos_embed", fixed.shape)

fig, axes = plt.subplots(1, 2, figsize=(9, 2.6), layout="constrained")
for ax, E, name in ((axes[0], learned, "learned, at initialisation"), (axes[1], fixed, "fixed 2-D sin-cos")):
    im = ax.imshow(E[0], cmap="RdBu_r", aspect="auto", vmin=-np.abs(E).max(), vmax=np.abs(E).max())
    ax.set_xlabel("channel (of D = 64)")
    ax.set_ylabel("token (0 = class, i + 1 = patch i)")
    ax.set_yticks(range(0, 17, 4))
    ax.set_title(name)
    fig.colorbar(im, ax=ax, shrink=0.8)
"""),
md(r"""
In the sin-cos embedding, channels 0-31 encode the patch's grid row (16 sines, then 16
cosines, at frequencies falling from 1 to nearly 1/10000) and channels 32-63 its column in
the same way. On a grid only 4 patches wide, most of those frequencies are so slow that
their channels hardly change (the flat bands); a few fast channels on the left of each
group tell the positions apart. The learned embedding, on the left, is noise until trained.
"""),
code(r"""
assert np.all(fixed[0, 0] == 0)                    # the class token's row: no position
"""),
md(r"""
What matters to attention is how *similar* two positions' vectors are. The paper's Figure 7
(centre) draws, for each patch, its cosine similarity with every other position, as one
tile of the grid: the tile titled "patch 5" sits where patch 5 sits in the image, and its
16 pixels are that patch's similarity to patches 0 to 15, laid out on the same grid. For
the sin-cos embedding the tiles show the geometry that is built in: each position is most
similar to itself, and the similarity falls as a key moves away from it along the rows or
the columns (all values stay high, above 0.75, because of the many slow channels).
"""),
code(r"""
# each tile is titled with its patch index, 0 to 15 row by row, as in the figures above
sim = pos_embed_similarity(fixed, grid=4)            # (4, 4, 4, 4): query patch's row, col; key's
plot_pos_embed_similarity(sim, title="Fixed 2-D sin-cos embedding: cosine similarity")
"""),
code(r"""
# every tile: a key farther from the patch in rows and columns (one of them strictly) is
# less similar; the patch itself, offset (0, 0), is the most similar of all
rows, cols = np.indices((4, 4))
for r, c in np.ndindex(4, 4):
    t, dr, dc = sim[r, c], np.abs(rows - r), np.abs(cols - c)      # (4, 4) each
    F = lambda d: d[:, :, None, None]                               # key (k, l) against key (i, j)
    farther = (F(dr) >= dr) & (F(dc) >= dc) & ((F(dr) > dr) | (F(dc) > dc))
    assert not np.any(farther & (F(t) >= t)), (r, c)
print(f"smallest similarity {sim.min():.3f}")
assert sim.min() > 0.75
"""),
md(r"""
## Putting it together

The input to the first transformer block is the paper's equation 1:

$$z_0 = [\,x_\text{class};\; x_p^0 E;\; x_p^1 E;\; \dots;\; x_p^{P-1} E\,] + E_\text{pos},
\qquad E \in \mathbb{R}^{(p^2 C) \times D},\quad E_\text{pos} \in \mathbb{R}^{N \times D},\quad N = P + 1.$$

(The paper numbers the patches from 1 and calls their count $N$; this course numbers them
from 0 and keeps $N$ for the tokens.)

If our hand-made $z_0$ is right, pushing it through the model's blocks, final norm and head
must give exactly the logits of `model.forward(x)`:
"""),
code(r"""
z0 = z + model.params["pos_embed"]                 # (1, 17, 64)
h = z0
for blk in model.blocks:                           # 6 blocks, (1, 17, 64) -> (1, 17, 64)
    h = blk.forward(h)
logits_by_hand = model.head.forward(model.norm.forward(h)[:, 0])   # class token only -> (1, 10)
logits = model.forward(x)                          # (1, 10)
print("z0", z0.shape, "  logits", logits.shape)
print("by hand == model.forward:", np.allclose(logits_by_hand, logits, atol=1e-5))
probs = np.exp(logits[0]) / np.exp(logits[0]).sum()
print("class probabilities of the untrained model:", probs.round(2))
"""),
code(r"""
assert np.allclose(logits_by_hand, logits, atol=1e-5)
assert np.all(np.abs(probs - 0.1) < 0.06)          # every class between 0.04 and 0.16
"""),
md(r"""
The untrained model gives every digit a probability near 1/10 (from 0.08 to 0.15 here): it
has no opinion yet (notebook 6 trains it). The whole journey, with the paper's ViT-B/16 on
a 224 x 224 colour image next to ours:

| step | numpyvit on MNIST | ViT-B/16 on ImageNet |
|---|---|---|
| image $(B, C, H, W)$ | (1, 1, 28, 28) | (1, 3, 224, 224) |
| patches $(B, P, C p^2)$ | (1, 16, 49), $p = 7$ | (1, 196, 768), $p = 16$ |
| patch embedding $(B, P, D)$ | (1, 16, 64) | (1, 196, 768) |
| + class token $(B, N, D)$, $N = P + 1$ | (1, 17, 64) | (1, 197, 768) |
| + position embedding | (1, 17, 64) | (1, 197, 768) |
"""),
md(r"""
From here on the model never sees pixels again: it works on $N = 17$ tokens of width 64.
The whole model as a diagram, drawn by `numpyvit.insight.diagrams` from the config: every
shape on it is computed from `ViTConfig()`, so `draw_data_flow(ViTConfig(patch_size=4))`
would show that model's 49 patches and 50 tokens instead. Notebook 3 draws the inside of
one block.
"""),
code(r"""
draw_data_flow(ViTConfig())
"""),
md(r"""
> **What to remember**
> - An image becomes $P = (H/p)^2$ patch vectors of $C p^2$ pixels, read row by row; one shared linear map (a stride-$p$ convolution) turns each into a token of width $D$.
> - A learned class token goes in front: $N = P + 1$ tokens; its final vector is the one the classifier reads.
> - Attention treats the tokens as a set, so a position embedding, one vector per token slot, is added to say where each patch was.
> - After this, the model never sees pixels again: $(B, N, D)$ all the way to the head.
"""),
md(r"""
## Exercises

1. With `patch_size=4` instead of 7, how many tokens does the model see, how long is each
   patch vector, and how many entries does one head's attention matrix have? Check with
   `Patchify`.
2. `Patchify.backward` turns a gradient for the patches back into a gradient for the image.
   Show that applied to the patches themselves it rebuilds the image exactly. Why is it the
   exact inverse, with nothing summed?
3. Find the blank patches of our digit. Show that their patch embeddings are all the same
   vector. What, then, is the only thing that lets the model tell them apart?
"""),
*solution(r"""
# 1. 28/4 = 7 patches per side: 49 patches of 1*4*4 = 16 numbers, 50 tokens with the class
#    token, and each attention matrix is 50 x 50 = 2,500 entries instead of 17 x 17 = 289.
small = Patchify(patch_size=4).forward(x)
print("patch_size=4:", small.shape, "-> tokens:", small.shape[1] + 1,
      " attention entries:", (small.shape[1] + 1) ** 2)
""", "Solution 1 (click to expand)"),
*solution(r"""
# 2. The patches do not overlap and cover every pixel once, so Patchify only moves pixels
#    around; the inverse moves them back (no pixel receives two contributions to add up).
rebuilt = patchify.backward(patchify.forward(x))
print(rebuilt.shape, "equal to x:", np.array_equal(rebuilt, x))
""", "Solution 2 (click to expand)"),
*solution(r"""
# 3. A blank patch is 49 copies of the background value, so every blank patch has the same
#    embedding. Only the position embedding added next makes them different tokens.
blank = np.flatnonzero(patches[0].std(axis=1) == 0)
emb = model.patch_embed.forward(x)[0]                  # (16, 64)
print("blank patches:", blank)
print("all their embeddings equal:", np.allclose(emb[blank], emb[blank[0]], atol=1e-6))
with_pos = z0[0, 1 + blank]                            # after adding the position embedding
print("still equal after + pos_embed:", np.allclose(with_pos[0], with_pos[1], atol=1e-6))
""", "Solution 3 (click to expand)"),
md(r"""
## Going deeper: how the patch projection starts

numpyvit builds the patch projection as a `Linear` layer, so it starts like every other
`Linear` in the package: weights from a normal distribution of standard deviation 0.02,
redrawn where they fall beyond two standard deviations (`trunc_normal` in
`numpyvit/layers/module.py`), biases zero. One rule for every linear map keeps the
initialisation in one place.

timm does differently here: its `patch_embed.proj` is a PyTorch `Conv2d`, which timm's
initialisation leaves at PyTorch's default, uniform on $\pm 1/\sqrt{\text{fan-in}}$ with
fan-in $= C p^2$, a standard deviation of $1/\sqrt{3 C p^2}$. For our patches of 49 pixels
that start is several times larger than ours:
"""),
code(r"""
fan_in = W[0].size                                   # C * p * p = 49 pixels feed each filter
ours = W.std()
pytorch_default = 1 / np.sqrt(3 * fan_in)            # std of uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))
print(f"numpyvit's patch projection: std {ours:.4f}, largest |weight| {np.abs(W).max():.4f} "
      f"(cut at 2 x 0.02 = 0.04)")
print(f"PyTorch's Conv2d default for fan-in {fan_in}: std {pytorch_default:.4f}, "
      f"{pytorch_default / ours:.1f} times ours")
"""),
code(r"""
assert np.abs(W).max() <= 0.04 and 0.016 < ours < 0.019     # std 0.02 x 0.88, the cut's shrinkage
assert pytorch_default / ours > 4                            # "several times larger"
"""),
md(r"""
Cutting the normal at two standard deviations removes its tails, so the weights' standard
deviation is about 0.88 x 0.02 = 0.018, not 0.02.
"""),
]
