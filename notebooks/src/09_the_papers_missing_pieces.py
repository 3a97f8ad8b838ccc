# Notebook 9: The paper's missing pieces. The cells, in order; see build_notebooks.py.
#
# Three pieces of the ViT paper a student expects to see and does not find in notebooks 1-8:
# what "inductive bias" means (section 3.1), fine-tuning at a higher resolution (section 3.2)
# and the class token against average pooling (Appendix D.3). The untrained models' maps are
# computed live; the trained models' numbers come from tools/paper_pieces.py's result file.

CELLS = [
md(r"""
# 9. The paper's missing pieces

Terms used here, in English and Chinese: [the glossary](../docs/glossary.md).

Three things the ViT paper says in passing, each measured here on MNIST:

1. **Inductive bias** (section 3.1): a CNN has locality and translation equivariance built
   into every layer; a ViT has much less, and must learn them from the data.
2. **Fine-tuning at a higher resolution** (section 3.2): keep the patch size, so a larger
   image gives more patches, and interpolate the learned position embedding in 2-D.
3. **Class token or average pooling** (Appendix D.3, Figure 9): classify the extra token,
   or the mean of the patch tokens?

**What you will learn**

- what translation equivariance is, as a number you can compute, and where a ViT loses it;
- what a ViT trained at 28x28 does with 56x56 digits, before and after a short fine-tune;
- whether the class token matters, judged against the spread of reruns.
"""),
md(r"""
The untrained models below are built and measured live. The trained ones come from

```
OPENBLAS_NUM_THREADS=1 python tools/paper_pieces.py
```

which trains fifteen small models and three fine-tunes (under half an hour on one core) and
writes every number this notebook quotes to `docs/figures/paper_pieces.json`.
"""),
code(SETUP),
code(r"""
import json
from pathlib import Path

import numpyvit
from numpyvit import ViTConfig, VisionTransformer, load_mnist, normalize, pos_embed_similarity
from numpyvit.data.augment import shift_images
from numpyvit.data.resample import on_canvas, upsample
from numpyvit.insight.analysis import neighbour_similarity_summary
from numpyvit.insight.equivariance import (resnet_feature_maps, resnet_on_canvas, resnet_shift_errors,
                                           room_to_shift, shift_error, vit_shift_errors, vit_token_maps)
from numpyvit.insight.findings import differ, finding
from numpyvit.models.resize import interpolation_weights, resize_pos_embed
from numpyvit.models.resnet import ResNet, ResNetConfig

RESULTS = Path(numpyvit.__file__).resolve().parents[1] / "docs" / "figures"
result = json.loads((RESULTS / "paper_pieces.json").read_text())
pieces, runs = result["pieces"], result["runs"]
x_train, y_train, x_test, y_test = load_mnist()
print(f"results measured on {result['cpu']}, {result['threads']}; "
      f"{result['training_s'] / 60:.0f} min of training in all")
"""),
md(r"""
## 1. What "inductive bias" means

A map $f$ of images is **shift-equivariant** when shifting the input shifts its output:
$f(Sx) = S f(x)$. A convolution is, because it applies the same filter at every position.
The paper's point (section 3.1) is that a ResNet is built of such layers in every stage,
while in a ViT only the per-token MLPs are: the position embedding gives every cell of the
grid its own vector, and self-attention looks everywhere at once.

`shift_error(f(Sx), f(x), k)` measures it: the distance between the shifted image's map and
the original map moved by k cells, relative to the original map (**aligned**, 0 for an
equivariant map), beside the same distance without moving the map (**unaligned**, the
reference: 0 for a map that stays put).
"""),
md(r"""
**The shift.** One cell of each model's last grid: 7 px (one patch) for the ViT, 8 px for the
ResNet, whose stem and stages halve the map three times (2, 2, 4, 8 px per cell). We use the
digits with 8 blank columns on the right, so no ink leaves the frame.
"""),
code(r"""
room = room_to_shift(x_test, 8)
digits = x_test[room][:200]
print(f"{room.sum():,} of {len(x_test):,} test digits have 8 blank columns on the right")
vit0, resnet0 = VisionTransformer(ViTConfig(), seed=0), ResNet(ResNetConfig(), seed=0)   # untrained
live_vit = vit_shift_errors(vit0, digits)
live_resnet = resnet_shift_errors(resnet0, digits[:10], 8, canvas=112)
for name, (aligned, unaligned) in {**live_resnet, **live_vit}.items():
    model = "ResNet" if name in live_resnet else "ViT"
    print(f"untrained {model:>6} {name:>10}: aligned {aligned:.4f}, unaligned {unaligned:.2f}")
"""),
md(r"""
**Why a canvas for the ResNet.** Its convolutions pad the map with zeros at the border,
where the digit's background is not zero (after `normalize`, it is -0.42). Each layer carries
that border a few pixels inwards, and the deeper stages see 47 and 103 px around each cell: on
a 28 px image every cell of them feels the border, which does not move with the digit. Set
on a 112 x 112 canvas, the digit is far from it, and we compare the cells over the digit.
"""),
code(r"""
d = digits[list(y_test[room][:200]).index(4)][None]          # the first 4 among them, (1, 28, 28)
resnet112 = resnet_on_canvas(resnet0, 112)
layer2 = lambda img: resnet_feature_maps(resnet112, normalize(on_canvas(img, 112)))["layer2"][0, 0, 9:19, 9:20]
token = lambda img: vit_token_maps(vit0, normalize(img))["+ position"][0, 0]
rows = {"ResNet, layer2\n(one channel)": (layer2, 8, 2), "ViT, + position\n(one channel)": (token, 7, 1)}
fig, axes = plt.subplots(2, 5, figsize=(10, 4.2))
for row, (title, (f, px, k)) in zip(axes, rows.items()):
    before, after = f(d), f(shift_images(d, 0, px))
    moved = np.full_like(before, np.nan)
    moved[:, k:] = before[:, :-k]                          # f(x) moved k cells right
    v = np.abs(before).max()
    shown = {"digit": d[0], f"shifted {px} px": shift_images(d, 0, px)[0], "f(x), moved": moved,
             "f(shifted)": after, "f(shifted) - f(x) moved": after - moved}
    for ax, (name, img) in zip(row, shown.items()):
        grey = name == "digit" or name.startswith("shifted")
        ax.imshow(img, cmap="gray" if grey else "RdBu_r", vmin=None if grey else -v, vmax=None if grey else v)
        ax.set_xticks([]); ax.set_yticks([]); ax.set_title(name, fontsize=8)
    row[0].set_ylabel(title, fontsize=8)
plt.tight_layout(); plt.show()
"""),
md(r"""
**Untrained**, every map of the ResNet moves with the digit: the aligned error is 0 in the
stem and the first two stages and under 0.2% in the last, whose 103 px field still reaches
the canvas's border, against unaligned references of 68% and more. The ViT's patch
embedding, a convolution with stride 7, is exactly equivariant too. Adding the position
embedding breaks it, by about 20%, and every block keeps that 20%. That is little, because
the position embedding starts small (random, standard deviation 0.02) beside the patch
embeddings: the untrained ViT is nearly equivariant by accident, and nothing in its
architecture keeps it so.
"""),
code(r"""
assert all(aligned < 2e-3 for aligned, _ in live_resnet.values())       # every stage moves with the digit
assert min(unaligned for _, unaligned in live_resnet.values()) > 0.67   # ... and a map that stayed would not
assert live_vit["patches"][0] < 1e-6                                    # the patch embedding is a convolution
assert 0.15 < live_vit["+ position"][0] < 0.25                          # the position embedding is not: ~20%
assert all(0.15 < live_vit[f"block {i}"][0] < 0.25 for i in range(1, 7))   # the blocks keep it at ~20%
"""),
md(r"""
**Trained models.** The same measure on the trained models (from the result file): the
default ViT and the ResNet, each trained with the quick recipe's random shifts of up to
2 px and once without them (the recipe: section 2).
"""),
code(r"""
eq = pieces["shift"]["equivariance"]["models"]
labels = {"vit-cls-s0": "trained, shift +-2 px", "vit-noshift-s0": "trained, no shift",
          "resnet-s0": "trained, shift +-2 px", "resnet-noshift-s0": "trained, no shift"}
panels = {"ResNet (on the canvas), shift 8 px": (live_resnet, {n: eq[n]["canvas"] for n in ("resnet-s0", "resnet-noshift-s0")}),
          "ViT, shift 7 px (one patch)": (live_vit, {n: eq[n]["tokens"] for n in ("vit-cls-s0", "vit-noshift-s0")})}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 2]})
for ax, (title, (untrained, trained)) in zip(axes, panels.items()):
    names = list(untrained)
    ax.plot(names, [untrained[n][0] for n in names], "o-", color="grey", ms=9, label="untrained")
    for (run, errors), colour in zip(trained.items(), ("C0", "C1")):
        ax.plot(names, [errors[n][0] for n in names], "o-", color=colour, label=labels[run])
        ax.plot(names, [errors[n][1] for n in names], ":", color=colour, label=f"{labels[run]}: unaligned")
    ax.set_title(title); ax.set_ylabel("relative error"); ax.set_ylim(0, 1.6); ax.tick_params(axis="x", labelsize=8)
axes[1].legend(fontsize=7, ncol=2)
plt.tight_layout(); plt.show()
"""),
code(r"""
for run in labels:
    errors = eq[run]["tokens"] if run.startswith("vit") else eq[run]["canvas"]
    print(f"{run:>18}: " + ", ".join(f"{n} {a:.3f} ({u:.2f})" for n, (a, u) in errors.items()))
"""),
md(r"""
**Trained**, the ResNet's maps still move with the digit, with and without shift
augmentation: its equivariance is built in. The ViT's position embedding has grown, and
adding it now moves the tokens off the shifted grid by over one and a half times the
untrained 20%. The blocks add to that, most without shift augmentation: after the last
block, moving the map explains little of what the shift changed (aligned close to
unaligned). Trained with shifts, the ViT's tokens are nearer equivariant, but far from the
ResNet's 0: what the convolution has by construction, the ViT learns from examples.
"""),
code(r"""
vit_runs = ("vit-cls-s0", *pieces["shift"]["reruns"])                  # the same recipe, other seeds
last_block = {run: eq[run]["tokens"]["block 6"][0] for run in vit_runs}
rerun_spread = max(last_block.values()) - min(last_block.values())
assert all(a < 5e-3 for run in ("resnet-s0", "resnet-noshift-s0") for a, _ in eq[run]["canvas"].values())
finding(all(eq[run]["tokens"]["block 6"][0] > eq[run]["tokens"]["+ position"][0] + 0.1 for run in vit_runs + ("vit-noshift-s0",)),
        "the blocks add over 0.1 to the error the position embedding made",
        ", ".join(f"{run} {eq[run]['tokens']['+ position'][0]:.3f} -> {eq[run]['tokens']['block 6'][0]:.3f}" for run in vit_runs + ("vit-noshift-s0",)))
finding(all(eq[run]["tokens"]["+ position"][0] > 1.5 * live_vit["+ position"][0] for run in vit_runs + ("vit-noshift-s0",)),
        "trained, the position embedding moves the tokens off the shifted grid by over 1.5 times the untrained error",
        ", ".join(f"{run} {eq[run]['tokens']['+ position'][0]:.3f}" for run in vit_runs + ("vit-noshift-s0",))
        + f"; untrained {live_vit['+ position'][0]:.3f}")
noshift = eq["vit-noshift-s0"]["tokens"]["block 6"]
finding(noshift[0] > 0.8 * noshift[1], "without shifts, after the last block the aligned error is within 20% of the unaligned one",
        f"aligned {noshift[0]:.3f}, unaligned {noshift[1]:.3f}")
finding(differ(noshift[0], max(last_block.values()), rerun_spread, ("no shift", "shift")) == "no shift ahead",
        "trained with shifts, the last block's tokens are nearer equivariant than without, beyond the spread of seeds",
        f"aligned error {noshift[0]:.3f} without; {', '.join(f'{v:.3f}' for v in last_block.values())} with, on {len(vit_runs)} seeds")
finding(min(last_block.values()) > 0.3, "... and still far from equivariant", f"at least {min(last_block.values()):.3f}")
"""),
md(r"""
## 2. What it does to predictions

Equivariant maps, averaged over the image at the end (the ResNet's global average pooling),
give the same prediction wherever the digit sits; the ViT can only learn that from shifted
examples. The test digits are shifted by 0 to 7 px in each of the four directions (the
accuracy is the mean over the four), ink allowed to leave the frame for both models alike.
**The recipe:** the quick preset shortened to 2 epochs for the ViT
(AdamW at 3e-3, batch 128, random shifts of up to 2 px, no rotation or zoom); the ResNet
with the same recipe compressed to 300 steps, since it learns in fewer (its warm-up the same
quarter of the schedule); each once more without shifts.
"""),
code(r"""
under = pieces["shift"]["accuracy_under_shift"]
xs = x_test[:under["images"]]
edges = lambda k: [xs[:, -k:], xs[:, :k], xs[:, :, -k:], xs[:, :, :k]]   # what a shift of k px down, up, right, left pushes out
ink_lost = [0.0] + [np.mean([np.any(e > 0, axis=(1, 2)).mean() for e in edges(k)]) for k in under["shifts_px"][1:]]
print(f"{'digits losing ink':>18}: " + " ".join(f"{v:.1%}" for v in ink_lost))
for run, acc in under["models"].items():                              # the reruns: section 1's seeds
    print(f"{run:>18} (test {runs[run]['test_acc']:.2%}, {runs[run]['steps']} steps, "
          f"{runs[run]['train_s'] / 60:.1f} min): " + " ".join(f"{a:.1%}" for a in acc))
fig, ax = plt.subplots(figsize=(6, 3.4))
for run in pieces["shift"]["runs"]:
    acc = under["models"][run]
    ax.plot(under["shifts_px"], acc, "o-" if run.startswith("vit") else "s--",
            label=f"{'ViT' if run.startswith('vit') else 'ResNet'}, {labels[run]}")
ax.set_xlabel("shift (px), the mean over four directions"); ax.set_ylabel("test accuracy")
ax.set_title(f"{under['images']:,} test digits, shifted"); ax.legend(fontsize=8)
plt.tight_layout(); plt.show()
"""),
md(r"""
Unshifted, the four models are within a few points of each other. Shifted, the ViT trained
without shifts falls fastest: 3 px cost it over 10 points more than the ResNet trained
without them. Trained with shifts of up to 2 px, the ViT holds its accuracy to 2 px and
loses it from 3 px on, as far as its examples reached; the ResNet with the same
augmentation stays ahead at every larger shift. The ResNet is not invariant either: its
strided layers are equivariant only to shifts by whole cells (see Going deeper), and from
4 px on a fifth or more of the shifted digits lose ink out of the frame.
"""),
code(r"""
acc, px = under["models"], under["shifts_px"]
drop = lambda run, k: acc[run][0] - acc[run][px.index(k)]                 # points lost at a shift of k px
unshifted = [acc[run][0] for run in pieces["shift"]["runs"]]
finding(max(unshifted) - min(unshifted) < 0.03, "unshifted, the four models are within 3 points of each other",
        f"{min(unshifted):.1%} to {max(unshifted):.1%}")
finding(drop("vit-noshift-s0", 3) > drop("resnet-noshift-s0", 3) + 0.10,
        "without shift augmentation, 3 px cost the ViT over 10 points more than the ResNet",
        f"ViT {drop('vit-noshift-s0', 3):.1%}, ResNet {drop('resnet-noshift-s0', 3):.1%}")
finding(max(drop(r, 2) for r in vit_runs) < 0.03 and min(drop(r, 3) for r in vit_runs) > 0.05,
        "with shifts of up to 2 px in training, the ViT loses under 3 points at 2 px and over 5 at 3 px, on every seed",
        "; ".join(f"{r}: {drop(r, 2):.1%} at 2 px, {drop(r, 3):.1%} at 3 px" for r in vit_runs))
finding(all(acc["resnet-s0"][i] > max(acc[r][i] for r in vit_runs) for i, k in enumerate(px) if k >= 3),
        "with the same augmentation, the ResNet is ahead of every ViT seed at every shift of 3 px or more",
        ", ".join(f"{k} px: {acc['resnet-s0'][i]:.1%} vs {max(acc[r][i] for r in vit_runs):.1%}" for i, k in enumerate(px) if k >= 3))
finding(drop("resnet-noshift-s0", 3) > 0.03, "the ResNet trained without shifts is not invariant either",
        f"it loses {drop('resnet-noshift-s0', 3):.1%} at 3 px")
assert ink_lost[px.index(3)] < 0.1 and min(ink_lost[px.index(4):]) > 0.2    # from 4 px on, a fifth or more lose ink
"""),
md(r"""
**One whole patch, no ink lost.** The digits with 7 blank columns on the right, shifted right
by 7 px: the ViT's patches then hold exactly what their left neighbours held (notebook 1's
grid, moved one column), and nothing of the digit leaves the frame.
"""),
code(r"""
one = pieces["shift"]["one_patch"]
print(f"{one['digits']:,} test digits, shifted {one['shift_px']} px right")
for run, acc in one["models"].items():
    print(f"{run:>18}: {acc['unshifted']:.2%} -> {acc['shifted']:.2%}")
"""),
md(r"""
A whole patch is the one shift under which the ViT's input, patch by patch, is exactly the
same as before, only in other places; with nothing lost from the frame, this is the cleanest
test of what the position embedding does. The ViTs lose 40 to 53 points, the ResNets 1 to 4:
for the ResNet a digit one patch to the right is nearly the same digit, for the ViT a
different input.
"""),
code(r"""
lost = {run: a["unshifted"] - a["shifted"] for run, a in one["models"].items()}
vit_lost = [lost[r] for r in (*vit_runs, "vit-noshift-s0")]
resnet_lost = [lost[r] for r in ("resnet-s0", "resnet-noshift-s0")]
finding(0.39 < min(vit_lost) and max(vit_lost) < 0.54 and 0.01 < min(resnet_lost) and max(resnet_lost) < 0.04,
        "shifted by one patch, the ViTs lose 40 to 53 points, the ResNets 1 to 4",
        ", ".join(f"{r} {v:.1%}" for r, v in lost.items()))
"""),
md(r"""
## 3. A higher resolution: interpolating the position embedding

Section 3.2 of the paper fine-tunes at a higher resolution than the pre-training, with the
same patch size: the grid grows. The patch embedding and the blocks work on any number of
tokens, but the learned position embedding has one row per cell of the old grid, so the
paper interpolates it in 2-D, by where each cell sits in the image. Here a model trained on
28x28 digits (a 4 x 4 grid) reads the same digits drawn at 56x56, every pixel repeated 2x2
(an 8 x 8 grid). `resize_pos_embed` mixes, along each axis, the two old cells whose
centres are nearest the new cell's centre, centres measured as fractions of the image:
"""),
code(r"""
A = interpolation_weights(4, 8)              # (8, 4): new cell j's weight on old cell i, along one axis
print(A)
base_pos = np.array(pieces["interpolation"]["pos_embed_base"])[None]          # (1, 17, 64), trained at 28x28
interp_pos = resize_pos_embed(base_pos, 8)                                     # (1, 65, 64)
print(base_pos.shape, "->", interp_pos.shape)
"""),
md(r"""
New cell 1 has its centre at 3/16 of the width, a quarter of the way from old cell 0's
centre (1/8) to old cell 1's (3/8): weights 0.75 and 0.25. The two outer cells of the new
grid lie outside the old centres and copy the edge. The class token's row is kept as it is.
"""),
code(r"""
assert np.allclose(A.sum(1), 1) and np.array_equal(A[1], [0.75, 0.25, 0, 0])
assert np.array_equal(interp_pos[0, 0], base_pos[0, 0])                       # the class token's row
grid4, grid8 = base_pos[0, 1:].reshape(4, 4, 64), interp_pos[0, 1:].reshape(8, 8, 64)
assert np.allclose(grid8[0, 0], grid4[0, 0]) and np.allclose(grid8[7, 7], grid4[3, 3])   # the corners copy
assert np.allclose(grid8[1, 1], 0.75 * (0.75 * grid4[0, 0] + 0.25 * grid4[0, 1])
                   + 0.25 * (0.75 * grid4[1, 0] + 0.25 * grid4[1, 1]))        # bilinear: rows, then columns
"""),
code(r"""
sims = {"trained at 28x28 (4 x 4)": (pos_embed_similarity(base_pos, 4), 4),
        "interpolated to 8 x 8": (pos_embed_similarity(interp_pos, 8), 8)}
where = [(0, 0), (1, 2), (3, 1), (3, 3)]      # old cells; on the new grid the cell (2r, 2c) at the same place
fig, axes = plt.subplots(2, 4, figsize=(8, 4.4))
for row, (title, (sim, g)) in zip(axes, sims.items()):
    for ax, (r, c) in zip(row, where):
        rr, cc = (r, c) if g == 4 else (2 * r, 2 * c)
        ax.imshow(sim[rr, cc], cmap="viridis", vmin=-1, vmax=1); ax.set_xticks([]); ax.set_yticks([])
        ax.set_title(f"patch {rr * g + cc}", fontsize=8)
    row[0].set_ylabel(title, fontsize=8)
fig.suptitle("cosine similarity of one position embedding with all the others")
plt.tight_layout(); plt.show()
"""),
md(r"""
After its 2 epochs, each position embedding of the base model resembles mostly itself, and
a little the others of its row (as notebook 7 found for the 30-epoch model). The
interpolated grid draws the same picture at twice the resolution, smoothed: averaged over
2 x 2 blocks, each new cell's map correlates with its old cell's. Neighbours on the new grid
are alike by construction (they mix the same old vectors), so that smoothness was not learned.
"""),
code(r"""
from numpyvit.insight.analysis import row_column_similarity
by_line = row_column_similarity(sims["trained at 28x28 (4 x 4)"][0])
finding(by_line["same_row"] > by_line["same_column"] + 0.05, "at 28x28, rows are more alike than columns",
        f"same row {by_line['same_row']:.3f}, same column {by_line['same_column']:.3f}")
s4, s8 = sims["trained at 28x28 (4 x 4)"][0], sims["interpolated to 8 x 8"][0]
corr = [np.corrcoef(s8[2 * r, 2 * c].reshape(4, 2, 4, 2).mean((1, 3)).ravel(), s4[r, c].ravel())[0, 1]
        for r in range(4) for c in range(4)]
finding(np.mean(corr) > 0.8, "each interpolated cell's similarity map, averaged over 2 x 2 blocks, follows its old cell's",
        f"correlation {np.mean(corr):.2f} on average over the 16 cells, {min(corr):.2f} at the least")
"""),
md(r"""
**Does it work?** The 56x56 test digits through three starts: the interpolated embedding;
the old 4 x 4 grid **tiled** 2 x 2 (the right vectors in the wrong places: cell (4, 4) gets
cell (0, 0)'s); and one **drawn afresh** as at initialisation (no position at all). Each is
then fine-tuned for 100 steps (12,800 training digits, upsampled; AdamW at 3e-4, a tenth of
the base rate; shifts of up to 4 px, the base's 2 at the doubled scale).
"""),
code(r"""
interp = pieces["interpolation"]
starts = interp["starts"]
print(f"the base model on 28x28 test digits: {interp['base_test_acc_28']:.2%}")
for name, s in starts.items():
    print(f"56x56, {name:>14}: {s['before']:.2%} before, {s['after']:.2%} after the fine-tune ({s['train_s']:.0f} s)")
fig, ax = plt.subplots(figsize=(6, 3))
x = np.arange(len(starts))
ax.bar(x - 0.2, [s["before"] for s in starts.values()], 0.4, label="before the fine-tune")
ax.bar(x + 0.2, [s["after"] for s in starts.values()], 0.4, label="after 100 steps")
ax.axhline(interp["base_test_acc_28"], color="k", ls=":", label="the base at 28x28")
ax.set_xticks(x, list(starts)); ax.set_ylabel("test accuracy at 56x56"); ax.legend(fontsize=8)
plt.show()
"""),
md(r"""
Interpolated, the 28x28 model reads the 56x56 digits at about 70% without any training; the
tiled grid scores about 20% and the fresh one about 32%: the interpolation keeps most of what
the position embedding knew, and its **place** on the grid is what counts (the tiled grid
has every right vector). After the 100 steps the interpolated start reaches about 91%; the
controls stay below 60%: the fine-tune does not repair a wrong position embedding. Even the
interpolated start stays below the 96% of the base at 28x28: every patch now holds a
quarter of what it held, drawn twice as large, a new input to the patch embedding; and the
larger digits hold no more detail, so here there is nothing to gain.
"""),
code(r"""
cls_seeds = pieces["pooling"]["test_acc"]["cls"].values()       # the base recipe on three seeds (section 4)
spread = max(cls_seeds) - min(cls_seeds)
i, t, r = (starts[k] for k in ("interpolated", "tiled", "re-initialised"))
finding(i["before"] > max(t["before"], r["before"]) + 0.2, "before any fine-tune, the interpolated start leads both controls by over 20 points",
        f"{i['before']:.2%} against {t['before']:.2%} (tiled) and {r['before']:.2%} (fresh)")
finding(i["after"] > max(t["after"], r["after"]) + 0.2 and max(t["after"], r["after"]) < 0.6,
        "after 100 steps it still leads by over 20 points; the controls stay below 60%",
        f"{i['after']:.2%} against {t['after']:.2%} and {r['after']:.2%}")
finding(differ(interp["base_test_acc_28"], i["after"], spread, ("28x28", "56x56")) == "28x28 ahead",
        "the fine-tuned model at 56x56 stays below the base at 28x28, beyond the spread of reruns",
        f"{i['after']:.2%} against {interp['base_test_acc_28']:.2%}, rerun spread {spread:.2%}")
"""),
md(r"""
What did the 100 steps do to the position embedding? Little: it moved by a few percent of
its size, every cell keeping its direction (AdamW at 3e-4 moves a weight by about the rate
per step at most, so 100 steps cannot move it far).
"""),
code(r"""
tuned_pos = np.array(interp["pos_embed_fine_tuned"])[None]                     # (1, 65, 64)
moved = np.linalg.norm(tuned_pos[0, 1:] - interp_pos[0, 1:]) / np.linalg.norm(interp_pos[0, 1:])
cosine = np.sum(tuned_pos[0, 1:] * interp_pos[0, 1:], 1) / (np.linalg.norm(tuned_pos[0, 1:], axis=1)
                                                           * np.linalg.norm(interp_pos[0, 1:], axis=1))
finding(moved < 0.1 and cosine.min() > 0.99, "the fine-tune moved the interpolated position embedding by under 10% of its size",
        f"moved {moved:.1%}; cosine to where it started {cosine.min():.4f} at the least")
"""),
md(r"""
## 4. Class token or average pooling?

The ViT classifies an extra learned token, the class token, as BERT does. Appendix D.3 of the
paper tries the alternative: average the patch tokens and classify the mean ("GAP"). Its
Figure 9 finds the two about equally good, but only with a learning rate chosen for each: at
the class token's rate, GAP did clearly worse. `ViTConfig(pool="mean")` is our GAP, with one
difference: the class token stays in the sequence (attended to, never read). Both train with
the base recipe of section 2 on three seeds, and average pooling once more at a third of the
rate (1e-3) and above it (5e-3):
"""),
code(r"""
pool = pieces["pooling"]["test_acc"]
for name, by_seed in pool.items():
    print(f"{name:>14}: " + ", ".join(f"seed {s} {a:.2%}" for s, a in by_seed.items())
          + f"  (mean {np.mean(list(by_seed.values())):.2%}, range {max(by_seed.values()) - min(by_seed.values()):.2%})")
fig, ax = plt.subplots(figsize=(6, 2.8))
for i, (name, by_seed) in enumerate(pool.items()):
    ax.plot([i] * len(by_seed), list(by_seed.values()), "o", color="C0" if name == "cls" else "C1")
    ax.plot([i - 0.15, i + 0.15], [np.mean(list(by_seed.values()))] * 2, "k-")
names = {"cls": "class token, lr 3e-3", "mean": "average, lr 3e-3", "mean, lr 0.001": "average, lr 1e-3",
         "mean, lr 0.005": "average, lr 5e-3"}
ax.set_xticks(range(len(pool)), [names[n] for n in pool])
ax.set_ylabel("test accuracy"); ax.set_title("three seeds each (dots) and their mean (bar)")
plt.tight_layout(); plt.show()
"""),
md(r"""
At the class token's rate, average pooling is about a point behind, beyond the spread of
seeds. A lower rate makes it much worse; at 5e-3 its seeds scatter over a point, and the gap
to the class token falls inside that spread: no difference by our rule, although each of its
seeds is below each of the class token's. So we agree with the paper that the choice of rate
decides how average pooling fares; whether, with the rate tuned, it matches the class token
on MNIST, these three rates and three seeds cannot tell. Every run had the same budget, 2
epochs, and none was trained until it stopped improving: this is a comparison at equal
budget, and the budget, not convergence, decided where each run ended.
"""),
code(r"""
mean_of = {name: np.mean(list(by_seed.values())) for name, by_seed in pool.items()}
spread_of = lambda *names: max(max(pool[n].values()) - min(pool[n].values()) for n in names)
at_same_rate = differ(mean_of["cls"], mean_of["mean"], spread_of("cls", "mean"), ("class token", "average"))
at_higher = differ(mean_of["cls"], mean_of["mean, lr 0.005"], spread_of("cls", "mean, lr 0.005"), ("class token", "average"))
at_lower = differ(mean_of["cls"], mean_of["mean, lr 0.001"], spread_of("cls", "mean, lr 0.001"), ("class token", "average"))
print(f"lr 3e-3: {at_same_rate}; average at 5e-3: {at_higher}; average at 1e-3: {at_lower}")
finding(at_same_rate == "class token ahead", "at the class token's rate, average pooling is behind beyond the seeds' spread",
        f"{mean_of['cls']:.2%} against {mean_of['mean']:.2%}, spread {spread_of('cls', 'mean'):.2%}")
finding(at_lower == "class token ahead" and mean_of["mean, lr 0.001"] < mean_of["mean"] - 0.02, "at 1e-3 it is worse still",
        f"{mean_of['mean, lr 0.001']:.2%}")
finding(at_higher == "no difference" and max(pool["mean, lr 0.005"].values()) < min(pool["cls"].values()),
        "at 5e-3 the gap is inside the spread, though every seed is below every class-token seed",
        f"{mean_of['mean, lr 0.005']:.2%} against {mean_of['cls']:.2%}, spread {spread_of('cls', 'mean, lr 0.005'):.2%}")
"""),
md(r"""
## Going deeper

**Why 8 px for the ResNet and not 7?** A convolution with stride s samples every s-th
position, so it is equivariant only to shifts by whole multiples of s. The ResNet's stem has
stride 2: shifted by 7 px, its map is neither the old one moved 3 cells nor moved 4. The
ViT's patch embedding is the extreme case of the same rule, a convolution with stride 7:
equivariant to whole patches only (a 3 px shift changes every patch).
"""),
code(r"""
canvas = on_canvas(digits[:10], 112)
stem = lambda img: resnet_feature_maps(resnet112, normalize(img))["stem"]
before, cells = stem(canvas), np.arange(21, 35)                 # the stem's cells over the digit (2 px each)
for px in (6, 7, 8):
    after = stem(shift_images(canvas, 0, px))
    errors = {k: shift_error(after, before, k, rows=cells, cols=cells)[0] for k in (3, 4)}
    print(f"shift {px} px: aligned error moved 3 cells {errors[3]:.3f}, moved 4 cells {errors[4]:.3f}")
    assert min(errors.values()) < 1e-6 if px % 2 == 0 else min(errors.values()) > 0.3
"""),
md(r"""
**The border.** Without the canvas, on the 28 px digits themselves, the zero padding reaches
every cell of the deeper stages, and the trained ResNet's maps are far from equivariant
there: a CNN can read where it is from its padding (Islam et al. 2020, "How much position
information do convolutional neural networks encode?"). The result file has those numbers:
"""),
code(r"""
for run in ("resnet-s0", "resnet-noshift-s0"):
    print(f"{run:>18}, 28 px, no canvas: " + ", ".join(f"{n} {a:.3f} ({u:.2f})"
                                                     for n, (a, u) in eq[run]["no_canvas"].items()))
finding(all(eq[run]["no_canvas"]["layer3"][0] > 0.5 * eq[run]["no_canvas"]["layer3"][1] for run in ("resnet-s0", "resnet-noshift-s0")),
        "on the 28 px digits, the last stage's aligned error is over half its unaligned one",
        ", ".join(f"{run}: {eq[run]['no_canvas']['layer3'][0]:.3f} of {eq[run]['no_canvas']['layer3'][1]:.3f}" for run in ("resnet-s0", "resnet-noshift-s0")))
"""),
md(r"""
## What to remember

> - **Translation equivariance** is a number: $f(Sx)$ against $S f(x)$. Convolutions have it built in (for whole cells of their stride, away from the border); the ViT's patch embedding too, and its position embedding takes it away.
> - A ViT learns robustness to shifts from its examples, and only as far as they reach: trained with 2 px, it holds to 2 px; the ResNet stays ahead beyond.
> - At a higher resolution, **interpolate the position embedding by location** (section 3.2): without it (tiled, fresh) a short fine-tune does not recover.
> - **Class token or average pooling** is a question of the learning rate as much as of the head: at the class token's rate and a 2-epoch budget, average pooling was a point behind.
"""),
]
