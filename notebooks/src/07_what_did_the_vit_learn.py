# Notebook 7: What did the ViT learn? The cells, in order; see build_notebooks.py.

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
- why every such figure needs a baseline: the same measurement on a model or a map that
  cannot know the answer;
- where the paper's findings carry over to a 4 x 4 grid of patches, and where they do not.

**Which model?** The first that exists of: the full-recipe run of the command line
(`python -m numpyvit train --out runs/default`, set `CHECKPOINT` below to use another run),
the model notebook 6 saved, or else a quick model trained here and now.
"""),
code(SETUP),
code(r"""
import os
from dataclasses import replace
from pathlib import Path

CHECKPOINT = Path("../runs/default/last.npz")   # the command line's full-recipe run, if you made one
ARTIFACT = Path("artifacts/vit_mnist.npz")      # saved by notebook 6
FAST = os.environ.get("NUMPYVIT_FAST") == "1"   # set by the test suite only
"""),
code(r"""
from numpyvit import (PRESETS, DataParallel, TrainConfig, ViTConfig, VisionTransformer, attention_maps, attention_rollout,
                      evaluate, load_mnist, load_model, normalize, patch_embed_components, pos_embed_similarity,
                      rollout_map, sincos_pos_embed, train)
from numpyvit.insight.analysis import (INK_LEVEL, attention_distance_for_model, distance_baselines, ink_patches,
                                       ink_per_patch, neighbour_similarity_summary, patch_distances,
                                       rollout_controls, rollout_maps_for_model, row_column_similarity, summarize)
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
    with DataParallel(VisionTransformer(ViTConfig(**model_fields), seed=cfg.seed)) as net:   # every core
        train(net, cfg, (x_train, y_train, x_test, y_test), out_dir="artifacts/quick_run", progress=False)
    source = Path("artifacts/quick_run/last.npz")

model = load_model(source)                       # in eval mode
untrained = VisionTransformer(model.config, seed=0)
n_test = 2000 if FAST else len(x_test)
_, acc, _ = evaluate(model, normalize(x_test[:n_test]), y_test[:n_test])
WELL_TRAINED = acc > 0.9                         # see the note below
print(f"model from {source}: test accuracy {acc:.4f} on {n_test:,} images")
print(model.config)
"""),
md(r"""
**Every finding is checked.** This notebook's model is whichever of the three above exists
on your machine, so a sentence written for one model could be wrong for yours. Each
sentence below that states what *we* see is therefore followed by a code cell that
`assert`s exactly that claim: if your model shows something else, the notebook stops there
instead of telling you something untrue. Claims that only a trained model can support are
checked when `WELL_TRAINED` (test accuracy above 90%). The test suite runs this notebook on
a smoke model trained for a few seconds, whose accuracy is far below that; for it only the
claims that hold for any model are checked.

The measurements that average over images use the first test digits (how many is printed
below). Several of them ask whether a patch *holds ink*: we say it does when its mean pixel
is above 10% of white.
"""),
code(r"""
N_IMAGES = 32 if FAST else 128
images = x_test[:N_IMAGES]                       # (n, 28, 28) uint8, for display
x = normalize(images)                            # (n, 1, 28, 28) float32, for the model
grid, p = model.patch_embed.grid, model.config.patch_size
has_ink = ink_patches(images, p)                 # (n, P) bool: mean pixel above 10% of white
print(f"{N_IMAGES} images; a {grid} x {grid} grid of {p} x {p} patches; "
      f"{has_ink.mean():.0%} of the patches hold ink")
assert (grid, p, model.config.dim) == (4, 7, 64)   # the shapes the text below names
"""),
md(r"""
## 1. The patch-embedding filters

The first layer maps each $7 \times 7$ patch to 64 numbers with 64 filters, each itself a
$7 \times 7$ image (`patch_embed.proj.weight`, shape $(64, 1, 7, 7)$). Looking at 64 filters
one by one says little; the paper instead takes their principal components: the patterns
that, mixed together, make up what the filters contain, in order of how much of the
filters' variance each explains. There are 49 of them, one per pixel of a patch. Each is
shown in grey (mid-grey is 0) with its share of the variance.

How concentrated is the variance? We count the components needed to reach 90% of it. The
baseline is the same count for the untrained model's filters: 64 random vectors in 49
dimensions have no preferred direction, but a finite random sample never spreads its
variance perfectly evenly either, so the baseline is not 49. It has to be computed.
"""),
code(r"""
def components_for(share, ratios):
    '''How many leading components explain at least `share` of the variance.'''
    return int(np.searchsorted(np.cumsum(ratios), share) + 1)

W = model.patch_embed.proj.params["weight"]              # (D, C, p, p) = (64, 1, 7, 7)
components, ratios = patch_embed_components(W)           # (49, 1, 7, 7), (49,)
_, ratios_untrained = patch_embed_components(untrained.patch_embed.proj.params["weight"])
k90, k90_untrained = components_for(0.9, ratios), components_for(0.9, ratios_untrained)
print(f"components holding 90% of the variance: trained {k90} of {len(ratios)}, untrained {k90_untrained}")
print(f"first 3 components: trained {ratios[:3].sum():.0%}, untrained {ratios_untrained[:3].sum():.0%}")
plot_patch_components(components, ratios, k=21)
"""),
md(r"""
**What the paper found:** the top principal components of ViT-L/32's embedding filters look
like plausible basis functions for describing the fine structure inside a patch with a few
numbers. The first layer, free to learn any linear map, ends up with something like the
first filters of a convolutional network.

**What we see:** training concentrates the filters' variance. The trained filters need
fewer components to reach 90% of it than the random filters they started from, less than
half as many (both counts are printed above). The 64 filters have not collapsed onto a
handful of patterns, though: about a dozen components still matter, so the variance is
spread over a moderate set of patterns rather than a small vocabulary. Look at the leading
components above and compare them with the last ones: which look like pieces of a pen
stroke, and which like noise?
"""),
code(r"""
# the sentences above, checked
assert k90 < k90_untrained                       # fewer components than the random start
if WELL_TRAINED:
    assert 2 * k90 < k90_untrained               # less than half as many
    assert 8 <= k90 <= 16                        # "about a dozen", not a handful
"""),
md(r"""
## 2. The position embeddings

Each of the 17 tokens has its own learned position vector. Nothing told the model that the
16 patches form a $4 \times 4$ grid: it only ever saw them as patches 0 to 15 of a sequence
(tokens 1 to 16, after the class token). Following the paper's Figure 7 (centre), the tile
titled "patch $i$" below sits where patch $i$ sits in the image, and shows the cosine
similarity between that patch's embedding and the embeddings of all 16 positions.

The grid has rows and columns, and the paper saw both in its embeddings. So we split the
pairs of *different* patches three ways and average the similarity in each: pairs in the
same grid row, pairs in the same grid column, and pairs that share neither. The untrained
model's random embeddings are the baseline.
"""),
code(r"""
sim = pos_embed_similarity(model.params["pos_embed"], grid)           # (g, g, g, g)
sim_untrained = pos_embed_similarity(untrained.params["pos_embed"], grid)
rc, rc_untrained = row_column_similarity(sim), row_column_similarity(sim_untrained)
for name, r in (("trained", rc), ("untrained", rc_untrained)):
    print(f"{name:>9}: mean similarity {r['same_row']:+.3f} in the same row, {r['same_column']:+.3f} in the same "
          f"column, {r['neither']:+.3f} in neither")
plot_pos_embed_similarity(sim, title="Learned position embedding: cosine similarity", vmin=-1)
"""),
md(r"""
**What the paper found:** the model encodes distance in the image as similarity of
position embeddings: closer patches have more similar embeddings, and patches in the same
row or column are similar too, so the row-column structure of the grid appears. Since the
1-D embedding learns the 2-D topology on its own, hand-designed 2-D variants bring no
improvement (its appendix D.4).

**What we see:** half of that. The untrained embeddings are random, and all three averages
are close to 0. After training, patches in the same row have clearly similar embeddings
(look along each tile's own row), while patches in the same column are not more similar than
chance: their average stays near 0, and pairs that share neither row nor column become
slightly *dissimilar*. So the model has learned which row a patch is in, but not which
column. A summary that averages over a patch's four neighbours (as `summarize` does below)
mixes two same-row and two same-column neighbours, and hides this difference.
"""),
code(r"""
# the sentences above, checked
assert all(abs(v) < 0.05 for v in rc_untrained.values())        # random: all near 0
if WELL_TRAINED:
    assert rc["same_row"] > 0.1                                        # same row: clearly similar
    assert rc["same_row"] > rc["same_column"] + 0.1 and rc["same_row"] > rc["neither"] + 0.1
    assert abs(rc["same_column"]) < 0.1                                # same column: near 0
    assert rc["neither"] < 0                                      # neither: slightly dissimilar
"""),
md(r"""
## 3. How far does each head look?

For every head, weight the pixel distance between a query patch and each key patch by the
attention between them, and average over all queries and images (patch tokens only: the
class token has no position). This *mean attention distance* is the transformer's
counterpart of a CNN's receptive field.

A number of pixels means little without reference points, and on a $4 \times 4$ grid they
are not where one might guess. Three attention patterns, scored over the same queries:

- **self**: every patch attends only to itself: 0 px;
- **uniform**: every patch spreads its attention evenly over all 16 patches. This depends on
  where the query sits (a centre patch is near everything, a corner patch far), so the
  baseline is the average over all 16 queries;
- **ink**: every patch spreads its attention evenly over the patches of its image that hold
  ink, with no preference for what is near it. A head that merely looks *at the digit*
  scores this, and it is below uniform because the digit sits in the middle.
"""),
code(r"""
d = patch_distances(grid, p)                                      # (P, P) pixels between patch centres
centre, corner = 5, 0                                             # patch 5: row 1, column 1
local = d[centre, [1, 4, 5, 6, 9]].mean()                         # itself and its 4 neighbours, equally
print(f"uniform attention from a centre patch: {d[centre].mean():.1f} px, from a corner patch: "
      f"{d[corner].mean():.1f} px; a centre patch on itself and its 4 neighbours equally: {local:.1f} px")

distances = attention_distance_for_model(model, x)               # (L, h) in pixels
distances_untrained = attention_distance_for_model(untrained, x)  # (L, h)
base = distance_baselines(has_ink, p, grid)                       # {"self", "uniform", "ink"} in pixels
print(f"baselines: self {base['self']:.1f} px, uniform {base['uniform']:.1f} px, ink {base['ink']:.1f} px")
print(f"trained heads: {distances.min():.1f} to {distances.max():.1f} px (mean {distances.mean():.1f}); "
      f"{np.sum(distances < base['ink'])} of {distances.size} below the ink baseline")
print(f"untrained heads: {distances_untrained.min():.1f} to {distances_untrained.max():.1f} px")
print("mean over the heads, layer by layer:", distances.mean(axis=1).round(1))
fig = plot_attention_distance(distances, patch_size=p, grid=grid)
ax = fig.axes[0]
ax.axhline(base["ink"], color="tab:green", ls="-.", lw=1, label=f"ink baseline ({base['ink']:.1f} px)")
ax.legend(fontsize=7)
fig
"""),
md(r"""
**What the paper found:** already in the lowest layers, some heads attend to most of the
image, so the ability to integrate information globally is really used. Other heads in the
low layers stay consistently local, much like a CNN's early convolutions (in hybrid
models, where a ResNet does that job first, such local heads are rarer). And the attention
distance grows with depth.

**What we see:** the untrained model sits on the uniform line. Trained, the heads spread
out and on average move below it, which could be read as "more local". The ink baseline
says otherwise: almost every head lies on or above the ink line, and none goes more than
2 px below it. Looking evenly at the digit already explains the drop. No head comes near
the distances of truly local attention: a patch on itself and its four neighbours scores
5.6 px, and every head here is above the 7 px of one patch. Nor does the
distance grow with depth: the layers' means stay within 2 px of one another.

So on this grid the paper's local heads do not appear. Whether they would with more, smaller
patches is a question for an experiment rather than a figure:
[notebook 8, *Testing the paper's claims*](08_testing_the_papers_claims.ipynb) trains the
same model with patches of 7, 4 and 2 pixels to find out.
"""),
code(r"""
# the sentences above, checked
assert base["ink"] < base["uniform"]                                 # the digit sits in the middle
assert np.all(np.abs(distances_untrained - base["uniform"]) < 0.1)   # untrained: on the uniform line
assert np.mean(distances >= base["ink"]) >= 0.9                      # almost all between ink and uniform ...
assert distances.min() > base["ink"] - 2                             # ... none more than 2 px below ink
assert round(local, 1) == 5.6 and distances.min() > p              # none local: all above one patch
layer_means = distances.mean(axis=1)                                 # (L,)
assert layer_means.max() - layer_means.min() < 2                     # no growth with depth
if WELL_TRAINED:
    assert distances.mean() < base["uniform"] - 0.5                  # on average below uniform
"""),
md(r"""
## 4. Attention maps, head by head

For one digit, every head's attention *from the class token* to the 16 patches, layer by
layer: the class token is the token the classifier reads, so this is where each head
gathers information for the decision. Panel titles give the weight the class token keeps on
itself. Below the figure, two numbers over all the images: how often a head puts more than
half of the class token's attention on just two patches (attention spread evenly would put
2/16 there), and how often the patch a head attends to most holds ink.
"""),
code(r"""
att = attention_maps(model, x[:6])                # (L, B, h, N, N) = (6, 6, 4, 17, 17)
print("attention maps", att.shape)

att_all = attention_maps(model, x)                # (L, n, h, N, N), every image
cls_to_patches = att_all[:, :, :, 0, 1:]          # (L, n, h, P): the class token's row, patches only
cls_to_patches = cls_to_patches / cls_to_patches.sum(axis=-1, keepdims=True)
top2_share = np.sort(cls_to_patches, axis=-1)[..., -2:].sum(axis=-1)   # (L, n, h)
selective = np.mean(top2_share > 0.5)
top_patch = cls_to_patches.argmax(axis=-1)        # (L, n, h)
top_holds_ink = np.mean(has_ink[np.arange(N_IMAGES)[None, :, None], top_patch])
print(f"heads x images with more than half the attention on 2 patches: {selective:.0%}")
print(f"the most-attended patch holds ink in {top_holds_ink:.0%} of cases; {has_ink.mean():.0%} of patches do")
plot_attention_maps(images[0], att[:, 0], title=f"Class-token attention, test digit 0 (a {y_test[0]})")
"""),
md(r"""
Most heads are sharply selective: in most cases a head puts more than half of the class
token's attention on two patches (the bright squares). And the patch a head attends to most
holds ink far more often than a patch picked at random would. A single head in a single
layer is hard to interpret further, though: after the first layer every token already
carries information mixed in from the others.
"""),
code(r"""
# the sentences above, checked
assert top_holds_ink > has_ink.mean() + 0.2       # far more often than a random patch
if WELL_TRAINED:
    assert selective > 0.5                        # "most heads, in most cases"
"""),
md(r"""
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

**Does ours?** A bright map over a digit is easy to read as "the model looked at the
digit", but MNIST digits are centred: a map that is bright in the middle for *every* image
would overlap the ink too. So we need a control that cannot see the digit. We compute the
rollout of many test digits and average the maps: this *template* is where rollout looks
whatever the digit. Each map minus the template, its *deviation*, is what is particular to
that image. Then, per image, we correlate (Pearson) the ink in each patch with the map,
with its deviation, and with the template, the digit-blind control.
"""),
code(r"""
N_ROLLOUT = 500 if FAST else 2000
images_r = x_test[:N_ROLLOUT]                                     # (n, 28, 28) uint8
maps_r = rollout_maps_for_model(model, normalize(images_r))       # (n, g, g), max 1 each
ink_r = ink_per_patch(images_r, p)                                # (n, P)
ctl = rollout_controls(maps_r, ink_r)
template = ctl["template"]                                        # (g, g)
med = {k: float(np.nanmedian(ctl[k])) for k in ("corr_rollout", "corr_deviation", "corr_template")}
flat = maps_r.reshape(N_ROLLOUT, -1)                              # (n, P)
like_template = float(np.median([np.corrcoef(m, template.ravel())[0, 1] for m in flat]))
print(f"{N_ROLLOUT} test digits; median correlation of each map with the template: {like_template:.2f}")
print(f"median correlation with the ink per patch: rollout {med['corr_rollout']:.2f}, "
      f"deviation {med['corr_deviation']:.2f}, template (digit-blind) {med['corr_template']:.2f}")
print(f"rollout beats the template on {np.nanmean(ctl['corr_rollout'] > ctl['corr_template']):.0%} of the images")

ink_r_mask = ink_r > INK_LEVEL                                    # (n, P)
brightest = flat.argmax(axis=1)                                   # (n,) each map's brightest patch
bright_ink = ink_r_mask[np.arange(N_ROLLOUT), brightest].mean()
chance = ink_r_mask.mean()
template_ink = ink_r_mask[:, template.argmax()].mean()            # one fixed patch for every image
centre_ink = ink_r_mask[:, [5, 6, 9, 10]].mean()                  # the four centre patches
print(f"the brightest patch holds ink in {bright_ink:.0%} of the images; {chance:.0%} of all patches do; "
      f"the template's brightest patch (patch {template.argmax()}) holds ink in {template_ink:.0%}: rollout does "
      f"{'better than' if bright_ink > template_ink else 'no better than'} a digit-blind guess")
print(f"the four centre patches hold ink in {centre_ink:.0%} of cases")

# the template, then six digits with their maps and deviations
fig = plt.figure(figsize=(10, 4.2), layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[1, 4])
ax = left.subplots()
im = ax.imshow(template, cmap="magma", vmin=0, vmax=1)
ax.set_title("template:\nthe mean map", fontsize=9); ax.set_xticks([]); ax.set_yticks([])
left.colorbar(im, ax=ax, shrink=0.6)
axes = right.subplots(3, 6)
lim = np.abs(ctl["deviation"][:6]).max()
for b in range(6):
    axes[0, b].imshow(images_r[b], cmap="gray"); axes[0, b].set_title(f"a {y_test[b]}", fontsize=9)
    axes[1, b].imshow(maps_r[b], cmap="magma", vmin=0, vmax=1)
    axes[2, b].imshow(ctl["deviation"][b], cmap="RdBu_r", vmin=-lim, vmax=lim)
    for a in axes[:, b]:
        a.set_xticks([]); a.set_yticks([])
for a, name in zip(axes[:, 0], ("digit", "rollout", "deviation")):
    a.set_ylabel(name, fontsize=9)
"""),
md(r"""
**What we see:** the rollout maps are mostly one centre-weighted template. Each map
correlates strongly with the template (median above 0.7), and the template is brighter on
the four centre patches than in the corners. That template, blind to the digit, already
correlates well with the ink (median above 0.5), simply because digits are centred; the
rollout maps themselves do about as well, within 0.1 of the template. What is particular to
each image, the deviation, follows the ink much more weakly. The brightest patch of a map
holds ink more often than a patch picked at random, but whether it does better than always
pointing at the template's brightest patch, the same patch for every digit, is printed
above. That is a demanding comparison, because the digits are centred: the four centre
patches hold ink far more often than the average patch.

So rollout on this model shows where information flows on average, a pattern set by the
positions more than by the strokes; it does not show, digit by digit, which strokes the
model used. The paper's dog on a lawn is a harder test of this than a centred digit, and
the template control is what makes the difference visible.
"""),
code(r"""
# the sentences above, checked
assert like_template > 0.7                                        # mostly one template
inner, corners = template[1:3, 1:3].mean(), template[[0, 0, -1, -1], [0, -1, 0, -1]].mean()
assert inner > corners                                            # centre-weighted
assert med["corr_template"] > 0.5                                 # the digit-blind control already scores well
assert med["corr_deviation"] < med["corr_rollout"] - 0.25         # the deviation follows the ink much more weakly
assert bright_ink > chance                                        # better than a random patch
assert centre_ink > 1.5 * chance                                  # centre patches: ink far more often
if WELL_TRAINED:
    assert abs(med["corr_rollout"] - med["corr_template"]) < 0.1  # rollout: about as well as the template
"""),
md(r"""
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
   Do the maps become sharper? Measure it: the share of the class token's rollout that
   falls on its two strongest patches.
2. The fixed sin-cos position embedding (`sincos_pos_embed`) has the grid built in. Compare
   its same-row, same-column and neither similarities (`numpyvit.insight.analysis.row_column_similarity`) with
   the learned one's. What does the learned embedding gain by being free?
3. Find the first six test digits the model gets wrong and draw their rollout. Does the
   model look at the wrong place, or at the right place and misread it? Can rollout answer
   that at all? Compare how well it follows the ink on misclassified and on correctly
   classified digits.
"""),
*solution(r"""
def top2_rollout_share(R):
    '''Share of the class token's rollout over the patches on its 2 strongest patches: (B,).'''
    r = R[:, 0, 1:] / R[:, 0, 1:].sum(axis=1, keepdims=True)      # (B, P)
    return np.sort(r, axis=1)[:, -2:].sum(axis=1)

att_all = attention_maps(model, x)                                # (L, n, h, N, N)
share = {name: top2_rollout_share(attention_rollout(att_all, **kwargs)).mean()
         for name, kwargs in (("mean (default)", {}), ("max", {"head_fusion": "max"}),
                              ("discard 0.9", {"discard_ratio": 0.9}))}
for name, s in share.items():
    print(f"{name:>14}: {s:.0%} of the rollout on the 2 strongest patches (2/16 = 12% if even)")
for kwargs in ({"head_fusion": "max"}, {"discard_ratio": 0.9}):
    fig = plot_rollout(images[:6], rollout_map(attention_rollout(att, **kwargs), grid), y_test[:6])
    fig.suptitle(f"Attention rollout with {kwargs}")
    display(fig)
# Both options sharpen the maps, by very different amounts. Discarding the weak weights
# removes the near-uniform background that blurs the product of six matrices: the two
# strongest patches get a much larger share. "max" fusion keeps, for each pair of tokens,
# its strongest head; the selective heads of section 4 then count fully instead of being
# averaged with the others, but every weak pair is raised too, so it sharpens only a little.
assert share["discard 0.9"] > max(share["max"], share["mean (default)"])
if WELL_TRAINED:
    assert share["discard 0.9"] > 1.5 * share["mean (default)"]      # "much larger"
    assert share["mean (default)"] < share["max"] < 1.5 * share["mean (default)"]   # "only a little"
""", "Solution 1 (click to expand)"),
*solution(r"""
sincos = row_column_similarity(pos_embed_similarity(sincos_pos_embed(model.config.dim, grid), grid))
for name, r in (("sin-cos", sincos), ("learned", rc)):
    print(f"{name:>8}: same row {r['same_row']:+.3f}, same column {r['same_column']:+.3f}, neither {r['neither']:+.3f}")
# The sin-cos embedding is smooth by construction and symmetric in rows and columns: every
# position is very similar to every other (all three averages above 0.75), a little more
# within a row or column. The learned one keeps unrelated positions apart (near or below 0),
# so each position is easy to tell apart, and being free it encodes only what the task
# rewarded: here the row, not the column.
assert min(sincos.values()) > 0.75
assert abs(sincos["same_row"] - sincos["same_column"]) < 1e-6
if WELL_TRAINED:
    assert max(rc.values()) < min(sincos.values())
""", "Solution 2 (click to expand)"),
*solution(r"""
n_look = 2000 if FAST else len(x_test)
_, _, probs = evaluate(model, normalize(x_test[:n_look]), y_test[:n_look])
wrong = probs.argmax(axis=1) != y_test[:n_look]                    # (n_look,) bool
first = np.flatnonzero(wrong)[:6]
fig = plot_rollout(x_test[first], rollout_map(attention_rollout(attention_maps(model, normalize(x_test[first]))), grid),
                   [f"{t}, predicted {pr}" for t, pr in zip(y_test[first], probs[first].argmax(axis=1))])
display(fig)

# every test digit's rollout, held against the ink as in section 5 (one template for all)
look = rollout_controls(rollout_maps_for_model(model, normalize(x_test[:n_look])), ink_per_patch(x_test[:n_look], p))
corr_wrong = np.nanmedian(look["corr_rollout"][wrong])
corr_right = np.nanmedian(look["corr_rollout"][~wrong])
print(f"{wrong.sum()} misclassified of {n_look}; median correlation of rollout with the ink: "
      f"misclassified {corr_wrong:.2f}, correct {corr_right:.2f}")
# Rollout cannot answer the question. The maps of misclassified digits follow the ink as
# closely as those of correctly classified ones (medians within 0.05): for right and wrong
# answers alike they are mostly the same template. Whether the model misread the right
# patches or looked at the wrong ones has to be tested another way, e.g. by blanking
# patches and watching the prediction change.
assert abs(corr_wrong - corr_right) < 0.05
""", "Solution 3 (click to expand)"),
]
