# Notebook 7: What did the ViT learn? The cells, in order; see build_notebooks.py.

CELLS = [
md(r"""
# 7. What did the ViT learn?

Terms used here, in English and Chinese: [the glossary](../docs/glossary.md).

Section 4.5 of the ViT paper opens up a trained model with a few figures: the patch
filters, the position embeddings, how far each head looks (its Figure 7) and where the class
token's attention lands (Figure 6). This notebook draws each for our MNIST ViT and holds what
it sees against a baseline that cannot know the answer.

**What you will learn**

- how to read each of the paper's analysis figures, and what it measures;
- why every such figure needs a baseline: the untrained model, shuffled labels, a
  digit-blind map;
- where the paper's findings carry over to a 4 x 4 grid of patches, and where they do not.
"""),
md(r"""
**Which model?** The first that exists of: the command line's full-recipe run
(`runs/default`, 30 epochs, if it finished), the model notebook 6 saved (the quick recipe, 3
epochs, about 97%), or else a quick model trained here. The committed outputs describe the
30-epoch run (its accuracy is printed below). Each statement about the trained model is a
`finding()`: on the committed model it must hold; on yours it prints `holds` or `does not
hold for this model` with the numbers. Every finding below also held on three quick models
(notebook 6's recipe, seeds 0 to 2, about 97%); what changed from run to run is printed, not
claimed.
"""),
code(SETUP),
code(r"""
import json
import os
from dataclasses import replace
from pathlib import Path

CHECKPOINT = Path("../runs/default/last.npz")   # the command line's full-recipe run, if you made one
ARTIFACT = Path("artifacts/vit_mnist.npz")      # saved by notebook 6
FAST = os.environ.get("NUMPYVIT_FAST") == "1"   # set by the test suite only
"""),
code(r"""
import numpyvit
from numpyvit import (PRESETS, DataParallel, TrainConfig, ViTConfig, VisionTransformer, attention_maps, attention_rollout,
                      evaluate, load_mnist, load_model, normalize, patch_embed_components, pos_embed_similarity,
                      rollout_map, sincos_pos_embed, train)
from numpyvit.insight.analysis import (INK_LEVEL, attention_distance_for_model, distance_baselines, ink_patches,
                                       ink_per_patch, patch_distances, rollout_controls, rollout_maps_for_model,
                                       row_column_similarity, summarize)
from numpyvit.insight.findings import finding
from numpyvit.insight.plots import (plot_attention_distance, plot_attention_maps, plot_patch_components,
                                    plot_pos_embed_similarity, plot_rollout)
from numpyvit.training.checkpoint import load_checkpoint
from IPython.display import display
"""),
code(r"""
def finished(path):
    '''True for a checkpoint whose run reached its last epoch (notebook 6's model has no epoch count).'''
    train = load_checkpoint(path)["train"]
    return train.get("epoch", 0) >= train.get("train_config", {}).get("epochs", 0) or "epoch" not in train

x_train, y_train, x_test, y_test = load_mnist()
source = next((s for s in (CHECKPOINT, ARTIFACT) if s.exists() and finished(s)), None)
if CHECKPOINT.exists() and source != CHECKPOINT:
    print(f"{CHECKPOINT} is a run still training (or stopped early): not used")
if source is None:   # no trained model yet: the quick recipe with the package's trainer (a few minutes)
    model_fields, train_fields = PRESETS["quick"]
    cfg = TrainConfig(**train_fields)
    if FAST:
        cfg = replace(cfg, epochs=1, train_subset=6000)
    with DataParallel(VisionTransformer(ViTConfig(**model_fields), seed=cfg.seed)) as net:   # every core
        train(net, cfg, (x_train, y_train, x_test, y_test), out_dir="artifacts/quick_run", progress=False)
    source = Path("artifacts/quick_run/last.npz")

model = load_model(source)                       # in eval mode
untrained = VisionTransformer(model.config, seed=0)
epochs = load_checkpoint(source)["train"].get("train_config", {}).get("epochs")
n_test = 2000 if FAST else len(x_test)
_, acc, _ = evaluate(model, normalize(x_test[:n_test]), y_test[:n_test])
print(f"model from {source}: {epochs} epochs, test accuracy {acc:.4f} on {n_test:,} images")
"""),
md(r"""
The measurements that average over images use the first test digits (how many is printed
below). Several ask whether a patch *holds ink*: it does when its mean pixel is above 10% of
white.
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
$7 \times 7$ image. The paper shows their principal components: the patterns that, mixed,
make up the filters, in order of the share of the variance each explains (49 of them, one per
pixel of a patch; mid-grey is 0). We count the components needed for 90% of the variance,
against the same count for the untrained model's random filters, which is not 49: a finite
random sample never spreads its variance perfectly evenly.
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
**What the paper found:** the top components of ViT-L/32's filters look like plausible basis
functions for the fine structure inside a patch, like the first filters of a CNN.

**What we see:** training concentrates the filters' variance: the trained filters need less
than half as many components for 90% of it as the random ones they started from. They have
not collapsed onto a handful of patterns, though: 8 to 16 components still matter. Compare the
leading components with the last ones: which look like pieces of a pen stroke?
"""),
code(r"""
finding(2 * k90 < k90_untrained, "the trained filters need less than half as many components for 90% of the "
        "variance as the untrained ones", f"{k90} against {k90_untrained}")
finding(8 <= k90 <= 16, "8 to 16 components still matter, not a handful", f"{k90}")
"""),
md(r"""
## 2. The position embeddings

Nothing told the model that its 16 patches form a $4 \times 4$ grid: it saw them as patches 0
to 15 of a sequence. As in the paper's Figure 7 (centre), the tile titled "patch $i$" sits
where patch $i$ sits in the image and shows the cosine similarity of its embedding with all 16
positions'. We average the similarity over three kinds of pairs of different patches: same
grid row, same grid column, neither. The untrained model's random embeddings are the baseline.
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
**What the paper found:** closer patches have more similar embeddings, and patches in the
same row or column are similar too: the 1-D embedding learns the grid on its own.

**What we see:** the untrained averages are all close to 0. After training, patches in the
same row have clearly similar embeddings, while patches in the same column are on average no
more similar than chance (near 0), and pairs that share neither become slightly *dissimilar*.
"""),
code(r"""
assert all(abs(v) < 0.05 for v in rc_untrained.values())        # random embeddings (seed 0): all near 0
finding(rc["same_row"] > 0.1 and rc["same_row"] > max(rc["same_column"], rc["neither"]) + 0.1,
        "same-row pairs are clearly similar, more than the other pairs", f"row {rc['same_row']:+.3f}")
finding(abs(rc["same_column"]) < 0.1, "same-column pairs are no more similar than chance (|mean| < 0.1)",
        f"{rc['same_column']:+.3f}")
finding(rc["neither"] < 0, "pairs that share neither are slightly dissimilar", f"{rc['neither']:+.3f}")
"""),
md(r"""
Does that mean the model "knows the row but not the column"? Cosine similarity measures shared
components, not what an embedding encodes. Any 16 distinct vectors let a lookup tell every
position apart, column included. The sharper question: is the column encoded *the same way*
in every row, so that the other 15 positions predict the 16th's column? Leave each position
out in turn, average the embeddings of the other positions in each column (each row), and name
the column (row) whose average lies nearest to the one left out. Chance is 1 in 4; the
baseline is the same read-out of shuffled labels, four positions per label.
"""),
code(r"""
def held_out_readout(emb, labels):
    '''Share of positions whose label the nearest label-average of the *other* positions names.'''
    right = 0
    for i in range(len(labels)):
        others = np.arange(len(labels)) != i
        means = np.stack([emb[others & (labels == k)].mean(axis=0) for k in range(labels.max() + 1)])  # (K, D)
        right += np.linalg.norm(means - emb[i], axis=1).argmin() == labels[i]
    return right / len(labels)

emb = model.params["pos_embed"][0, 1:].astype(np.float64)            # (P, D), patch positions only
row_of, col_of = np.divmod(np.arange(grid * grid), grid)
readout = {"row": held_out_readout(emb, row_of), "column": held_out_readout(emb, col_of)}
shuffled = np.array([held_out_readout(emb, rng.permutation(col_of)) for _ in range(200)])
beaten_by = {k: np.mean(shuffled >= v) for k, v in readout.items()}  # share of shuffles scoring as well
print(f"held-out read-out: row {readout['row']:.0%}, column {readout['column']:.0%}; shuffled labels: mean "
      f"{shuffled.mean():.0%}, at least the row's score {beaten_by['row']:.1%}, the column's {beaten_by['column']:.0%}")
"""),
md(r"""
The row generalises: the other 15 positions name the 16th's row far more often than
shuffled labels allow. The column does not: its held-out score is within the range of
shuffled labels. So the embeddings carry the row along a direction shared by the grid, and the
column only as distinct vectors the rest of the network could still tell apart. Why the model
learned it so is a hypothesis, not tested here: the patch content may already say the column.
"""),
code(r"""
finding(beaten_by["row"] < 0.05, "the row read-out beats at least 95% of shuffled labellings",
        f"{readout['row']:.0%}, shuffles at least as good: {beaten_by['row']:.1%}")
finding(beaten_by["column"] >= 0.05, "the column read-out is no better than shuffled labels",
        f"{readout['column']:.0%}, shuffles at least as good: {beaten_by['column']:.0%}")
"""),
md(r"""
## 3. How far does each head look?

For every head, weight the pixel distance between a query patch and each key patch by the
attention between them, and average over all queries and images (patch tokens only). This
*mean attention distance* is the transformer's counterpart of a CNN's receptive field. Three
reference patterns, scored over the same queries:

- **self**: every patch attends only to itself: 0 px;
- **uniform**: evenly over all 16 patches, averaged over the queries (a centre patch is near
  everything, a corner patch far);
- **ink**: evenly over the patches of its image that hold ink. A head that merely looks *at
  the digit* scores this, below uniform because the digit sits in the middle.
"""),
code(r"""
d = patch_distances(grid, p)                                      # (P, P) pixels between patch centres
centre, corner = 5, 0                                             # patch 5: row 1, column 1
local = d[centre, [1, 4, 5, 6, 9]].mean()                         # itself and its 4 neighbours, equally
distances = attention_distance_for_model(model, x)               # (L, h) in pixels
distances_untrained = attention_distance_for_model(untrained, x)  # (L, h)
base = distance_baselines(has_ink, p, grid)                       # {"self", "uniform", "ink"} in pixels
layer_means = distances.mean(axis=1)                              # (L,)
print(f"uniform attention from a centre patch: {d[centre].mean():.1f} px, from a corner patch: "
      f"{d[corner].mean():.1f} px; a centre patch on itself and its 4 neighbours equally: {local:.1f} px")
print(f"baselines: self {base['self']:.1f} px, uniform {base['uniform']:.1f} px, ink {base['ink']:.1f} px")
print(f"trained heads: {distances.min():.1f} to {distances.max():.1f} px (mean {distances.mean():.1f}); "
      f"{np.sum(distances < base['ink'])} of {distances.size} below the ink baseline")
print(f"untrained heads: {distances_untrained.min():.1f} to {distances_untrained.max():.1f} px")
print("mean over the heads, layer by layer:", layer_means.round(1))
fig = plot_attention_distance(distances, patch_size=p, grid=grid)
fig.axes[0].axhline(base["ink"], color="tab:green", ls="-.", lw=1, label=f"ink baseline ({base['ink']:.1f} px)")
fig.axes[0].legend(fontsize=7)
fig
"""),
md(r"""
**What the paper found:** some low-layer heads attend to most of the image, others stay
local; the distance grows with depth.

**What we see:** the untrained model sits on the uniform line. Trained, the heads move below
it on average, which could be read as "more local". The ink baseline says otherwise: no head
goes more than 2 px below it, so looking evenly at the digit explains the drop. No head comes
near local attention (5.6 px for a patch on itself and its neighbours): every one is above
the 7 px of one patch. Nor does the distance grow with depth: the layers' means stay within
2 px of one another. On this 4 x 4 grid that says less than it seems: layer 1 already sits
within 2 px of the uniform line, so even a growth all the way up to uniform would be small,
about the 1.4 px (5% of the image width) that notebook 8's rule asks of a growth. Whether
local heads, or growth, appear on a finer grid is an experiment, not a figure:
[notebook 8](08_testing_the_papers_claims.ipynb) runs it on the 7 x 7 grid.
"""),
code(r"""
assert base["ink"] < base["uniform"]                                 # the digit sits in the middle
assert np.all(np.abs(distances_untrained - base["uniform"]) < 0.1)   # untrained: on the uniform line
assert round(local, 1) == 5.6
finding(distances.mean() < base["uniform"] - 0.5, "on average the heads sit below the uniform line",
        f"mean {distances.mean():.1f} px, uniform {base['uniform']:.1f} px")
finding(distances.min() > base["ink"] - 2, "no head more than 2 px below the ink baseline",
        f"lowest {distances.min():.1f} px, ink {base['ink']:.1f} px")
finding(distances.min() > p, "no head local: every one above one patch (7 px)", f"lowest {distances.min():.1f} px")
finding(np.ptp(layer_means) < 2, "no growth with depth: the layer means within 2 px", f"{layer_means.round(1)}")
room = base["uniform"] - layer_means[0]
finding(room < 2, "layer 1 within 2 px of the uniform line: little room to grow", f"{room:.1f} px below uniform")
"""),
md(r"""
## 4. Attention maps, head by head

For one digit, every head's attention *from the class token* to the 16 patches, layer by
layer: the class token is what the classifier reads, so this is where each head gathers
information for the decision. Below the figure, two numbers over all the images: how often a
head puts more than half of the class token's attention on just two patches (even attention
would put 2/16 there), and how often the patch a head attends to most holds ink.
"""),
code(r"""
att = attention_maps(model, x[:6])                # (L, B, h, N, N) = (6, 6, 4, 17, 17)
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
holds ink far more often than a patch picked at random. A single head is hard to interpret
further: after the first layer every token carries information mixed in from the others.
"""),
code(r"""
finding(selective > 0.5, "in most (head, image) cases more than half the attention falls on 2 patches",
        f"{selective:.0%}")
finding(top_holds_ink > has_ink.mean() + 0.2, "the most-attended patch holds ink far more often than a random "
        "patch (by 20 points or more)", f"{top_holds_ink:.0%} against {has_ink.mean():.0%}")
"""),
md(r"""
## 5. Attention rollout

*Attention rollout* (Abnar & Zuidema 2020, the paper's Figure 6) follows information through
*all* the layers. Each layer's attention, averaged over the heads, is mixed with the identity
for the residual connection, and the layers' matrices are multiplied:

$$A_\ell = \tfrac12\big(\bar W_\ell + I\big) \text{ (rows renormalised)},\qquad
R = A_L \cdots A_2 A_1 .$$

Row 0 of $R$ over the patch columns: how much each input patch contributes to the class token
at the end.
"""),
code(r"""
R = attention_rollout(att)                        # (B, N, N) = (6, 17, 17)
maps = rollout_map(R, grid)                       # (B, g, g), each scaled to max 1
plot_rollout(images[:6], maps, y_test[:6])
"""),
md(r"""
**What the paper found:** the model attends to the image regions that matter for the class.

**Does ours?** MNIST digits are centred, so a map bright in the middle for *every* image would
overlap the ink too. The control: the mean rollout map of many test digits, a *template* of
where rollout looks whatever the digit. A map minus the template, its *deviation*, is what is
particular to the image. Per image we correlate (Pearson) the ink per patch with the map, its
deviation, and the template.
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
"""),
code(r"""
fig = plt.figure(figsize=(10, 4.2), layout="constrained")          # the template, then six digits
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
**What we see:** the rollout maps are mostly one centre-weighted template: each map correlates
strongly with it (median above 0.7), and it is brighter on the four centre patches than in the
corners. That template, blind to the digit, already correlates well with the ink (median above
0.5), because digits are centred, and the rollout maps do about as well (within 0.1 of it).
The deviation, what is particular to each image, follows the ink much more weakly.
"""),
code(r"""
inner, corners = template[1:3, 1:3].mean(), template[[0, 0, -1, -1], [0, -1, 0, -1]].mean()
finding(like_template > 0.7, "each map is mostly the template (median correlation above 0.7)", f"{like_template:.2f}")
finding(inner > corners, "the template is brighter on the centre patches than in the corners",
        f"centre {inner:.2f}, corners {corners:.2f}")
finding(med["corr_template"] > 0.5, "the digit-blind template correlates with the ink (median above 0.5)",
        f"{med['corr_template']:.2f}")
finding(abs(med["corr_rollout"] - med["corr_template"]) < 0.1, "rollout follows the ink about as well as the "
        "template (within 0.1)", f"rollout {med['corr_rollout']:.2f}, template {med['corr_template']:.2f}")
finding(med["corr_deviation"] < med["corr_rollout"] - 0.25, "the deviation follows the ink much more weakly "
        "(by more than 0.25)", f"deviation {med['corr_deviation']:.2f}")
"""),
md(r"""
A second view: how often does each map's brightest patch hold ink? Against three references:
a patch picked at random, the template's brightest patch (one fixed patch for every digit),
and a patch picked among the four centre ones.
"""),
code(r"""
ink_r_mask = ink_r > INK_LEVEL                                    # (n, P)
bright_ink = ink_r_mask[np.arange(N_ROLLOUT), flat.argmax(axis=1)].mean()   # each map's brightest patch
chance = ink_r_mask.mean()                                        # a random patch
template_ink = ink_r_mask[:, template.argmax()].mean()            # one fixed patch for every image
centre_ink = ink_r_mask[:, [5, 6, 9, 10]].mean()                  # the four centre patches
print(f"holds ink: the map's brightest patch {bright_ink:.0%}, a random patch {chance:.0%}, the template's "
      f"brightest (patch {template.argmax()}) {template_ink:.0%}, a centre patch {centre_ink:.0%}")
"""),
md(r"""
The brightest patch holds ink more often than a random patch, but less often than a centre
patch does: always pointing at the centre would do at least as well. Against the template's
brightest patch (one fixed patch for every digit) the verdict changes from run to run, so it is
printed, not claimed: in the rollout experiment's 30-epoch run (its result file, printed
below) that patch held ink less often than a random patch, a low bar rather than a demanding
comparison; for this notebook's model the shares are printed above. Either way rollout shows
where information flows on average, a pattern set by the positions more than by the strokes,
not which strokes the model used digit by digit.
"""),
code(r"""
finding(bright_ink > chance, "the map's brightest patch holds ink more often than a random patch",
        f"{bright_ink:.0%} against {chance:.0%}")
finding(centre_ink > bright_ink, "a centre patch holds ink more often than the map's brightest patch",
        f"{centre_ink:.0%} against {bright_ink:.0%}")
results = Path(numpyvit.__file__).resolve().parents[1] / "docs" / "figures"   # the experiments' result files
experiment = next(m for m in json.loads((results / "rollout.json").read_text())["models"] if m["patch"] == 7)
print(f"the rollout experiment's {experiment['checkpoint']}: the template's brightest patch holds ink in "
      f"{experiment['template_brightest_holds_ink']:.0%}, a random patch in {experiment['ink_patch_share']:.0%}")
finding(experiment["template_brightest_holds_ink"] < experiment["ink_patch_share"], "in the experiment's run the "
        "template's brightest patch holds ink less often than a random patch")
"""),
md(r"""
## Summary

`numpyvit.insight.analysis.summarize` condenses the numbers behind sections 2 and 3 into a few
lines; `python -m numpyvit analyze <checkpoint>` writes all of these figures to a folder.
"""),
code(r"""
print(summarize(distances, sim))
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
finding(share["discard 0.9"] > 1.5 * share["mean (default)"] and share["discard 0.9"] > share["max"],
        "discarding sharpens the most, by more than 1.5 times the default's share",
        ", ".join(f"{k} {v:.0%}" for k, v in share.items()))
finding(share["mean (default)"] < share["max"] < 1.5 * share["mean (default)"], "max fusion sharpens only a little",
        f"{share['max']:.0%} against {share['mean (default)']:.0%}")
""", "Solution 1 (click to expand)"),
*solution(r"""
sincos = row_column_similarity(pos_embed_similarity(sincos_pos_embed(model.config.dim, grid), grid))
for name, r in (("sin-cos", sincos), ("learned", rc)):
    print(f"{name:>8}: same row {r['same_row']:+.3f}, same column {r['same_column']:+.3f}, neither {r['neither']:+.3f}")
# The sin-cos embedding is smooth by construction and symmetric in rows and columns: every
# position is very similar to every other (all three averages above 0.75), a little more
# within a row or column. The learned one keeps unrelated positions apart (near or below 0),
# so each position is easy to tell apart, and being free it shares across positions only
# what training rewarded: here mostly the row (section 2's read-out).
assert min(sincos.values()) > 0.75
assert abs(sincos["same_row"] - sincos["same_column"]) < 1e-6
finding(max(rc.values()) < min(sincos.values()), "every learned average is below every sin-cos one",
        f"learned at most {max(rc.values()):+.3f}, sin-cos at least {min(sincos.values()):+.3f}")
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
finding(abs(corr_wrong - corr_right) < 0.05, "no difference between misclassified and correct digits "
        "(medians within 0.05)", f"{corr_wrong:.2f} against {corr_right:.2f}")
""", "Solution 3 (click to expand)"),
md(r"""
## Going deeper: your own digit

The model only ever saw digits made the MNIST way (LeCun et al. 1998): light ink on a
background of exactly 0, the ink's bounding box scaled to 20 px on its longer side, and its
centre of mass at the centre of the 28 x 28 frame. A photo of a digit is none of that: dark
ink on grey paper, lit unevenly, anywhere in the frame; shrunk whole to 28 x 28 it becomes
a small, off-centre digit on grey, unlike anything the model saw.
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
"""),
code(r"""

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
> **What to remember**
> - Every analysis figure needs a baseline that cannot know the answer: the untrained model, shuffled labels, a digit-blind template.
> - On a 4 x 4 grid the heads look at the digit, not locally; the distance cannot grow much with depth there, since layer 1 already sits near uniform.
> - Cosine similarity shows shared components; what an embedding encodes needs a read-out (the row generalises, the column does not).
> - Rollout maps here are mostly one template: where information flows on average, not which strokes decided.
"""),
]
