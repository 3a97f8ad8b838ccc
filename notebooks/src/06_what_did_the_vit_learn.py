# Notebook 6: What did the ViT learn? The cells, in order; see build_notebooks.py.

CELLS = [
md(r"""
# 6. What did the ViT learn?

Section 4.5 of the ViT paper, *Inspecting the Vision Transformer*, opens up a trained
model with a handful of figures: the patch-embedding filters (its Figure 7, left), the
similarity of the position embeddings (Figure 7, centre), how far each attention head
looks (Figure 7, right) and where the class token's attention lands in the image
(Figure 6). This notebook draws each of them for our MNIST ViT, with numpyvit's
`analysis` and `plots` modules, and compares what we see with what the paper saw.

**What you will learn**

- how to read each of the paper's analysis figures, and what it measures;
- what a small ViT learns on MNIST, next to the same model untrained;
- where the paper's findings carry over to a 4 x 4 grid of patches, and where they do not.

**Which model?** The first that exists of: the full-recipe run of the command line
(`python -m numpyvit train --out runs/default`, set `CHECKPOINT` below to use another run),
the model notebook 5 saved, or else a quick model trained here and now.
"""),
code(SETUP),
code(r"""
import os
from dataclasses import replace
from pathlib import Path

CHECKPOINT = Path("../runs/default/last.npz")   # the command line's full-recipe run, if you made one
ARTIFACT = Path("artifacts/vit_mnist.npz")      # saved by notebook 5
FAST = os.environ.get("NUMPYVIT_FAST") == "1"   # set by the test suite only
"""),
code(r"""
from numpyvit import (PRESETS, TrainConfig, ViTConfig, VisionTransformer, attention_maps, attention_rollout,
                      evaluate, load_mnist, load_model, normalize, patch_embed_components, pos_embed_similarity,
                      rollout_map, sincos_pos_embed, train)
from numpyvit.insight.analysis import attention_distance_for_model, neighbour_similarity_summary, summarize
from numpyvit.insight.plots import (plot_attention_distance, plot_attention_maps, plot_patch_components,
                                    plot_pos_embed_similarity, plot_rollout)
from IPython.display import display
"""),
code(r"""
x_train, y_train, x_test, y_test = load_mnist()

if CHECKPOINT.exists():
    source = CHECKPOINT
elif ARTIFACT.exists():
    source = ARTIFACT
else:   # no trained model yet: train the quick recipe with the package's trainer (a few minutes)
    model_fields, train_fields = PRESETS["quick"]
    cfg = TrainConfig(**train_fields)
    if FAST:
        cfg = replace(cfg, epochs=1, train_subset=6000)
    train("vit", ViTConfig(**model_fields).to_dict(), cfg, (x_train, y_train, x_test, y_test),
          out_dir="artifacts/quick_run", progress=False)
    source = Path("artifacts/quick_run/last.npz")

model = load_model(source)                       # in eval mode
untrained = VisionTransformer(model.config, seed=0)
n_test = 2000 if FAST else len(x_test)
_, acc, _ = evaluate(model, normalize(x_test[:n_test]), y_test[:n_test])
print(f"model from {source}: test accuracy {acc:.4f} on {n_test:,} images")
print(model.config)
"""),
md(r"""
All the measurements that average over images use the first 128 test digits.
"""),
code(r"""
N_IMAGES = 32 if FAST else 128
images = x_test[:N_IMAGES]                       # (n, 28, 28) uint8, for display
x = normalize(images)                            # (n, 1, 28, 28) float32, for the model
grid, p = model.patch_embed.grid, model.config.patch_size
print(f"{N_IMAGES} images; a {grid} x {grid} grid of {p} x {p} patches")
"""),
md(r"""
## 1. The patch-embedding filters

The first layer maps each $7 \times 7$ patch to 64 numbers with 64 filters, each itself a
$7 \times 7$ image (`patch_embed.proj.weight`, shape $(64, 1, 7, 7)$). Looking at 64 filters
one by one says little; the paper instead takes their principal components: the few
patterns that, mixed together, make up most of what the filters contain. Each component is
shown in grey (mid-grey is 0) with the share of the filters' variance it explains.
"""),
code(r"""
W = model.patch_embed.proj.params["weight"]              # (D, C, p, p) = (64, 1, 7, 7)
components, ratios = patch_embed_components(W)           # (49, 1, 7, 7), (49,)
_, ratios_untrained = patch_embed_components(untrained.patch_embed.proj.params["weight"])
print(f"first 3 components explain {ratios[:3].sum():.0%} of the filters' variance "
      f"(untrained: {ratios_untrained[:3].sum():.0%})")
plot_patch_components(components, ratios, k=21)
"""),
md(r"""
**What the paper found:** the top principal components of ViT-L/32's embedding filters look
like plausible basis functions for describing the fine structure inside a patch with a few
numbers. The first layer, free to learn any linear map, ends up with something like the
first filters of a convolutional network.

**What we see:** a small version of the same. The first seven or so components are smooth,
large-scale patterns: gradients and bands across the patch, a bright border around a dark
centre, the kind of shapes a pen stroke makes as it passes through a patch. Together the
first three explain about half of the filters' variance, against under a fifth for the
random filters of the untrained model: the 64 filters have settled on a small vocabulary.
From about the tenth component on, the patterns look like noise and each explains
little; they are what is left of the random initialisation, which a short training run
had no reason to change.

## 2. The position embeddings

Each of the 17 tokens has its own learned position vector. Nothing told the model that the
16 patches form a $4 \times 4$ grid: it only ever saw them as positions 1 to 16 in a
sequence. Following the paper's Figure 7 (centre), tile $(r, c)$ below shows the cosine
similarity between the embedding of the patch at row $r$, column $c$ and the embeddings of
all 16 positions.
"""),
code(r"""
sim = pos_embed_similarity(model.params["pos_embed"], grid)           # (g, g, g, g)
for name, s in (("trained", sim), ("untrained", pos_embed_similarity(untrained.params["pos_embed"], grid))):
    n = neighbour_similarity_summary(s)
    print(f"{name:>9}: mean similarity {n['neighbour']:+.3f} to the 4 neighbours, "
          f"{n['distant']:+.3f} to patches 2 or more steps away")
plot_pos_embed_similarity(sim, title="Learned position embedding: cosine similarity", vmin=-1)
"""),
md(r"""
**What the paper found:** the model encodes distance in the image as similarity of
position embeddings: closer patches have more similar embeddings, and patches in the same
row or column are similar too, so the row-column structure of the grid appears. Since the
1-D embedding learns the 2-D topology on its own, hand-designed 2-D variants bring no
improvement (its appendix D.4).

**What we see:** by eye, little beyond the bright square where each position meets
itself; the tiles look mostly like noise. The averages printed above the figure tell more:
a patch's embedding is, on average, more similar to its four neighbours' than to those of
distant patches, while the untrained embeddings show no such preference. So a trace of the
grid's 2-D layout emerges from training alone, but it is much weaker than in the paper's
figure. On MNIST with 16 positions the model hardly needs to know exactly where a patch
is, and 3 epochs are a short time to learn it; the full recipe's model (30 epochs) shows
a clearer gap.

## 3. How far does each head look?

For every head, weight the pixel distance between a query patch and each key patch by the
attention between them, and average over all queries and images (patch tokens only: the
class token has no position). This *mean attention
distance* is the transformer's counterpart of a CNN's receptive field. For reference: one
patch is 7 pixels across, and a head that attended uniformly to all 16 patches would
average 14.1 pixels on our grid (the dashed line).
"""),
code(r"""
distances = attention_distance_for_model(model, x)               # (L, h) in pixels
baseline = attention_distance_for_model(untrained, x)             # (L, h)
print(f"trained: heads from {np.nanmin(distances):.1f} to {np.nanmax(distances):.1f} px; "
      f"untrained: {np.nanmin(baseline):.1f} to {np.nanmax(baseline):.1f} px")
plot_attention_distance(distances, patch_size=p, grid=grid)
"""),
md(r"""
**What the paper found:** already in the lowest layers, some heads attend to most of the
image, so the ability to integrate information globally is really used. Other heads in the
low layers stay consistently local, much like a CNN's early convolutions (in hybrid
models, where a ResNet does that job first, such local heads are rarer). And the attention
distance grows with depth.

**What we see:** here MNIST and a $4 \times 4$ grid differ from ImageNet and a
$14 \times 14$ grid. The untrained model sits exactly on the uniform line. Trained, the
heads spread out and most move below it, towards nearer patches, but none becomes truly
local (the dotted line), and there is no clear trend with depth. With 16 patches there is
little room to be local: the nearest other patch is already 7 pixels away and a digit spans
most of the grid. The paper's local heads appear when each patch is a small part of a
large image, so that the neighbouring patches hold the continuation of the same edge.
Smaller patches and more tokens (exercise 1 of notebook 1) would give them room.

## 4. Attention maps, head by head

For one digit, every head's attention *from the class token* to the 16 patches, layer by
layer: the class token is the token the classifier reads, so this is where each head
gathers information for the decision. Panel titles give the weight the class token keeps on
itself.
"""),
code(r"""
att = attention_maps(model, x[:6])                # (L, B, h, N, N) = (6, 6, 4, 17, 17)
print("attention maps", att.shape)
plot_attention_maps(images[0], att[:, 0], title=f"Class-token attention, test digit 0 (a {y_test[0]})")
"""),
md(r"""
Many heads are sharply selective: they put most of the class token's attention on one or
two patches (the bright squares), often where a stroke starts, ends or turns; for this 7,
the top bar and the bottom end of the stem. Different heads of the same layer pick
different patches; this is what multiple heads are for. A single head in a single layer
is hard to interpret, though: after the first layer every token already carries
information mixed in from the others.

## 5. Attention rollout

*Attention rollout* (Abnar & Zuidema 2020, used for the paper's Figure 6) follows
information through *all* the layers at once. Each layer's attention, averaged over the
heads, is mixed with the identity to account for the residual connection, and the layers'
matrices are multiplied:

$$A_\ell = \tfrac12\big(\bar W_\ell + I\big) \text{ (rows renormalised)},\qquad
R = A_L \cdots A_2 A_1 .$$

Row 0 of $R$ over the patch columns says how much each input patch contributes, through
every path, to the class token at the end.
"""),
code(r"""
R = attention_rollout(att)                        # (B, N, N) = (6, 17, 17)
maps = rollout_map(R, grid)                       # (B, g, g), each scaled to max 1
plot_rollout(images[:6], maps, y_test[:6])
"""),
md(r"""
**What the paper found:** overall, the model attends to the image regions that matter for
the class (in its Figure 6 the rollout highlights the object and leaves the background
dark).

**What we see:** the rollout is brightest on patches that hold the digit (the central
column for the 1s, the ring for the 0) and lowest in the blank corners. On MNIST the
"object" fills most of the image, and averaging the heads blurs the sharp per-head maps
above, so the contrast is milder than for a dog on a lawn; exercise 1 shows two ways to
sharpen it.

## Summary

`numpyvit.insight.analysis.summarize` condenses the numbers behind figures 2 and 3 into a few
lines; `python -m numpyvit analyze <checkpoint>` writes all of these figures to a folder.
"""),
code(r"""
print(summarize(distances, sim))
"""),
md(r"""
## Your own digit

The model only ever saw digits made the MNIST way (LeCun et al. 1998): light ink on a
background of exactly 0, the ink's bounding box scaled to 20 px on its longer side, and its
centre of mass at the centre of the 28 x 28 frame. A photo of a digit is none of that: dark
ink on grey paper, lit unevenly, anywhere in the frame. Shrinking the whole photo to 28 x 28
leaves a small, off-centre digit on a grey background, which the model has never seen.
`numpyvit.preprocess_digit` repeats MNIST's recipe instead; `python -m numpyvit predict` and
the drawing page (`python -m numpyvit serve`) use the same function.

Below, a 7 drawn in the upper left of a grey page, with a lighting gradient and noise.
"""),
code(r"""
from PIL import Image, ImageDraw
from numpyvit import preprocess_digit, softmax

page = Image.new("L", (320, 240), 200)                         # grey paper, (W, H) = (320, 240)
ImageDraw.Draw(page).line([(40, 40), (120, 40), (70, 150)], fill=40, width=9)   # dark ink: a 7
photo = np.asarray(page, dtype=np.float64)                     # (240, 320)
photo += np.linspace(-25, 25, photo.shape[1])[None, :]         # light falling across the page
photo += rng.normal(0, 6, photo.shape)                         # sensor noise
photo = np.clip(photo, 0, 255).astype(np.uint8)

shrunk = 255 - np.asarray(Image.fromarray(photo).resize((28, 28), Image.BILINEAR))  # whole page, inverted
digit = preprocess_digit(photo)                                # (28, 28) uint8, MNIST-style

rows, cols = np.nonzero(digit)
box = (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
mass = digit.astype(np.float64)
centre = (np.average(np.arange(28), weights=mass.sum(axis=1)), np.average(np.arange(28), weights=mass.sum(axis=0)))
probs = softmax(model.forward(normalize(np.stack([shrunk, digit]))))   # (2, 10)

fig, axes = plt.subplots(1, 3, figsize=(8, 2.8), layout="constrained")
for ax, img, title in zip(axes, (photo, shrunk, digit),
                          ("the photo", f"shrunk whole: reads {probs[0].argmax()} ({probs[0].max():.2f})",
                           f"preprocessed: reads {probs[1].argmax()} ({probs[1].max():.2f})")):
    ax.imshow(img, cmap="gray"); ax.set_title(title, fontsize=9); ax.axis("off")
print(f"preprocessed: ink box {box[0]} x {box[1]} px, centre of mass ({centre[0]:.2f}, {centre[1]:.2f}), "
      f"background {digit[0, 0]}; shrunk whole: background {shrunk[0, 0]}")
assert max(box) == 20 and digit[0, 0] == 0
assert abs(centre[0] - 13.5) <= 1 and abs(centre[1] - 13.5) <= 1
assert shrunk[0, 0] > 0                                        # the shrunk page is grey, not black
"""),
md(r"""
The preprocessed digit has what MNIST's digits have: its longer side is 20 px, its centre of
mass lies within a pixel of the frame's centre (13.5, 13.5), and its background is exactly 0,
where the photo shrunk whole keeps a grey background (the assertions above check each of
these). The titles show what the model makes of each.
"""),
md(r"""
## Exercises

1. Rollout has options. Recompute it with `head_fusion="max"` and with
   `discard_ratio=0.9` (drop the weakest 90% of each layer's attention before multiplying).
   Which maps look sharper, and why might that be?
2. The fixed sin-cos position embedding (`sincos_pos_embed`) has the grid built in. Compare
   its neighbour/distant similarity with the learned one above. What does the learned
   embedding gain by being free?
3. Find the first six test digits the model gets wrong and draw their rollout. Does the
   model look at the wrong place, or at the right place and misread it?
"""),
*solution(r"""
# "max" keeps, per layer, the strongest head's weight for each pair of tokens, and discarding
# the weak weights removes the near-uniform background that blurs the product of six
# matrices: both tend to concentrate the map on fewer patches.
for kwargs in ({"head_fusion": "max"}, {"discard_ratio": 0.9}):
    fig = plot_rollout(images[:6], rollout_map(attention_rollout(att, **kwargs), grid), y_test[:6])
    fig.suptitle(f"Attention rollout with {kwargs}")
    display(fig)
""", "Solution 1 (click to expand)"),
*solution(r"""
# The sin-cos embedding is smooth by construction: every position is very similar to every
# other (cosine above 0.75), a little more to its neighbours. The learned one is nearly
# orthogonal between distant patches, so each position is easy to tell apart, and it could
# have learned any structure the task rewards; it learned neighbourhood on its own.
for name, E in (("sin-cos", sincos_pos_embed(model.config.dim, grid)), ("learned", model.params["pos_embed"])):
    n = neighbour_similarity_summary(pos_embed_similarity(E, grid))
    print(f"{name:>8}: neighbours {n['neighbour']:+.3f}, distant {n['distant']:+.3f}, gap {n['gap']:+.3f}")
""", "Solution 2 (click to expand)"),
*solution(r"""
# Mostly the rollout still covers the digit: the model looked at the right patches and
# misread the shape (an open loop, a stroke that is too short), rather than looking away.
n_look = 2000 if FAST else len(x_test)
_, _, probs = evaluate(model, normalize(x_test[:n_look]), y_test[:n_look])
wrong = np.flatnonzero(probs.argmax(axis=1) != y_test[:n_look])[:6]
if len(wrong):
    R_wrong = attention_rollout(attention_maps(model, normalize(x_test[wrong])))
    fig = plot_rollout(x_test[wrong], rollout_map(R_wrong, grid),
                       [f"{t}, predicted {pr}" for t, pr in zip(y_test[wrong], probs[wrong].argmax(axis=1))])
    display(fig)
""", "Solution 3 (click to expand)"),
]
