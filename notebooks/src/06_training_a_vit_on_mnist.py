# Notebook 6: Training a ViT on MNIST. The cells, in order; see build_notebooks.py.

CELLS = [
md(r"""
# 5. Training a ViT on MNIST

Time to train. This notebook writes the whole training loop out, about fifteen lines with
numpyvit's classes: data, model, loss, optimiser, learning-rate schedule, backward pass.
Before training it runs the two sanity checks a careful practitioner never skips. By
default it runs the *quick* recipe (3 epochs, a couple of minutes on a laptop's CPU, about
97% test accuracy), with the curves updating live as it trains, and records what happens
inside the network meanwhile: gradient norms, update sizes, clipping, attention entropy,
and the position embeddings finding the image's grid. Then it looks at what the model gets
wrong, and saves it for notebook 7.

**What you will learn**

- the training loop of a ViT, step by step, with nothing hidden;
- AdamW with decoupled weight decay, linear warm-up then cosine decay of the learning
  rate, gradient clipping, and shift augmentation, and why a ViT wants each of them;
- two checks to run before any long training: the first loss, and overfitting one batch;
- how to read a run's dynamics: gradient norms per block, update-to-weight ratios,
  attention entropy, and what gradient clipping did;
- how the position embeddings learn the 2-D layout of the patches during training;
- how to read a confusion matrix and a gallery of the model's most confident mistakes;
- how to save a checkpoint and load it back.

**Two switches.** Set `FULL_RECIPE = True` below for the tuned recipe (the
`TrainConfig` defaults: 30 epochs with rotation and zoom augmentation, ten times longer,
about 99.3% test accuracy). The environment variable `NUMPYVIT_FAST=1` is for automated
tests: it shrinks the run to 6,000 training images for one epoch, and the findings below
are then stated for that shorter run. Leave it unset.
"""),
code(SETUP),
code(r"""
import os
import time
from dataclasses import replace
from pathlib import Path

FULL_RECIPE = False                               # True: the tuned 30-epoch recipe
FAST = os.environ.get("NUMPYVIT_FAST") == "1"     # set by the test suite only
"""),
code(r"""
from IPython.display import display
from matplotlib.figure import Figure

from numpyvit import (AdamW, SoftmaxCrossEntropy, TrainConfig, ViTConfig, VisionTransformer, augment,
                      clip_grad_norm, evaluate, iterate_batches, load_mnist, load_model, lr_at, normalize,
                      pos_embed_similarity, save_checkpoint)
from numpyvit import PRESETS
from numpyvit.insight.plots import plot_confusion, plot_dynamics, plot_mistakes
from numpyvit.training.dynamics import TrainingDynamics
"""),
md(r"""
## Data

60,000 training and 10,000 test digits, kept as raw bytes (`uint8`). Images are
normalised batch by batch, after augmentation, so the full training set never needs a
float copy.
"""),
code(r"""
x_train, y_train, x_test, y_test = load_mnist()
if FAST:                                           # the test suite's smoke run
    x_train, y_train, x_test, y_test = x_train[:6000], y_train[:6000], x_test[:2000], y_test[:2000]
x_test_n = normalize(x_test)                       # (n_test, 1, 28, 28) float32, for evaluation
print(f"train {x_train.shape} {x_train.dtype}, test {x_test.shape} -> normalised {x_test_n.shape} {x_test_n.dtype}")
"""),
md(r"""
## The recipe

A preset is a pair of overrides: one for the model (`ViTConfig`) and one for the training
run (`TrainConfig`). Every field carries a comment in `numpyvit/training/trainer.py` and
`numpyvit/models/vit.py`; the ones that matter most are printed here.
"""),
code(r"""
model_fields, train_fields = PRESETS["default" if FULL_RECIPE else "quick"]
model_cfg = ViTConfig(**model_fields)
cfg = TrainConfig(**train_fields)
if FAST:
    cfg = replace(cfg, epochs=1)

steps_per_epoch = len(x_train) // cfg.batch_size   # every step sees a full batch
total_steps = cfg.epochs * steps_per_epoch
warmup_steps = round(cfg.warmup_epochs * steps_per_epoch)
print(model_cfg)
print(f"epochs {cfg.epochs}, batch {cfg.batch_size}, peak lr {cfg.lr}, weight decay {cfg.weight_decay}, "
      f"clip {cfg.clip_grad}, augmentation: shift {cfg.shift} px, rotate {cfg.rotate} deg, scale {cfg.scale}")
print(f"{steps_per_epoch} steps per epoch, {total_steps} in all, {warmup_steps} of warm-up")
"""),
md(r"""
Three choices in it deserve a word.

**AdamW.** Adam scales each parameter's step by a running estimate of its gradient's size,
which copes with the very different gradient scales of embeddings, attention and the head.
*Decoupled* weight decay (Loshchilov & Hutter 2019) shrinks the weights directly,
$w \leftarrow w - \eta\lambda w$, instead of adding $\lambda w$ to the gradient, where
Adam's scaling would weaken it. Biases, norm gains, the class token and the position
embedding are not decayed. The ViT paper trains with Adam and strong weight decay too.

**Warm-up, then cosine decay.** Early in training Adam's statistics are poor and a large
step can throw a transformer into a bad region it never leaves. So the learning rate
rises linearly from ~0 over the first half epoch, then follows half a cosine down to 0 at
the end (`lr_at`):
"""),
code(r"""
lrs = [lr_at(s, total_steps, cfg.lr, warmup_steps, cfg.min_lr) for s in range(total_steps)]
fig, ax = plt.subplots(figsize=(5, 2.2), layout="constrained")
ax.plot(lrs)
ax.axvline(warmup_steps, color="gray", ls=":", label="end of warm-up")
for e in range(1, cfg.epochs):
    ax.axvline(e * steps_per_epoch, color="gray", lw=0.5)
ax.set_xlabel("step"); ax.set_ylabel("learning rate"); ax.legend();
"""),
md(r"""
**Augmentation.** A CNN is built to recognise a pattern wherever it appears; a ViT has to
learn that from data (the paper calls this its weaker *inductive bias*, section 3.1).
Shifting every training image by up to 2 pixels in each direction shows it the same digit
at many positions. Here are four training digits, each with three random shifts (and, in
the full recipe, rotations and zooms); the grid
lines are 7 pixels apart, the patch grid the model cuts the image into, and the red cross
marks each image's centre of ink, so the shift can be read off against the fixed grid:
"""),
code(r"""
def centre_of_ink(image):
    # the intensity-weighted mean (row, column) of an image
    rows, cols = np.indices(image.shape)
    return (rows * image).sum() / image.sum(), (cols * image).sum() / image.sum()

digits = x_train[:4]
views = [digits] + [augment(digits, np.random.default_rng(k), shift=cfg.shift, rotate=cfg.rotate, scale=cfg.scale)
                    for k in range(3)]                       # 4 x (4, 28, 28)
fig, axes = plt.subplots(4, 4, figsize=(8, 8.4), layout="constrained")
moved = []
for i in range(4):
    r0, c0 = centre_of_ink(views[0][i].astype(float))
    for j, view in enumerate(views):
        ax = axes[i, j]
        ax.imshow(view[i], cmap="gray")
        r, c = centre_of_ink(view[i].astype(float))
        ax.plot(c, r, "r+", ms=14, mew=2)
        for t in range(7, 28, 7):
            ax.axhline(t - 0.5, color="tab:cyan", lw=0.6); ax.axvline(t - 0.5, color="tab:cyan", lw=0.6)
        ax.set_xticks([]); ax.set_yticks([])
        if j:
            moved.append((r - r0, c - c0))
            ax.set_title(f"ink moved ({r - r0:+.1f}, {c - c0:+.1f}) px", fontsize=8)
        else:
            ax.set_title("original", fontsize=8)
moved = np.array(moved)
print(f"the centre of ink moved by up to {np.abs(moved).max():.1f} px along a side; the shift is at most {cfg.shift} px")
assert np.abs(moved).max() >= 1                                    # a visible shift
if not (cfg.rotate or cfg.scale):                                  # whole-pixel shifts only
    assert np.abs(moved).max() <= cfg.shift + 1e-9
"""),
md(r"""
## Two checks before training

A long run that was broken from the start is the most expensive bug there is. Two checks
take seconds and catch most of them.

**The first loss.** A freshly initialised network has small weights and logits near 0, so
its softmax gives every one of the 10 classes probability about $1/10$, and the
cross-entropy of any label is $-\ln(1/10) = \ln 10 \approx 2.30$. A first loss far from
that means the initialisation, the loss or the labels are wrong.
"""),
code(r"""
first_model = VisionTransformer(model_cfg, seed=cfg.seed)
first_loss = SoftmaxCrossEntropy().forward(first_model.forward(normalize(x_train[:cfg.batch_size])),
                                           y_train[:cfg.batch_size])
print(f"first loss {first_loss:.4f}, ln 10 = {np.log(10):.4f}")
assert abs(first_loss - np.log(10)) < 0.1
"""),
md(r"""
**Overfit one batch.** With the augmentation, the weight decay and the schedule switched
off (a constant learning rate, the recipe's peak), a model that can learn at all must drive
the loss on a single small batch to almost zero: it has 200,000 parameters and only 32
images to remember. If it cannot, the bug is in
the model, the backward pass or the optimiser, and no amount of data will help.
"""),
code(r"""
one_batch = normalize(x_train[:32]), y_train[:32]
overfit = VisionTransformer(model_cfg, seed=cfg.seed)
overfit_opt, overfit_loss = AdamW(overfit, lr=cfg.lr, weight_decay=0.0), SoftmaxCrossEntropy()
overfit_losses = []
for _ in range(150):
    overfit_losses.append(overfit_loss.forward(overfit.forward(one_batch[0]), one_batch[1]))
    overfit.zero_grad()
    overfit.backward(overfit_loss.backward())
    overfit_opt.step()
fig, ax = plt.subplots(figsize=(5, 2.4), layout="constrained")
ax.semilogy(overfit_losses)
ax.set_xlabel("step on the same 32 images"); ax.set_ylabel("training loss"); ax.grid(alpha=0.3)
print(f"loss on the one batch: {overfit_losses[0]:.3f} at the start, {overfit_losses[-1]:.4f} after "
      f"{len(overfit_losses)} steps")
assert overfit_losses[-1] < 0.01
"""),
md(r"""
Both pass: the first loss is $\ln 10$, and one batch is learned by heart.

## Live curves

A small helper redraws one figure in place while the loop runs: the training loss and
accuracy (averaged over the last few dozen steps) and, after each epoch, the test loss and
accuracy. It is plain matplotlib and not part of the training.
"""),
code(r"""
class LiveCurves:
    # training loss/accuracy redrawn every `every` steps, test points after each epoch
    def __init__(self, total_steps, every):
        self.total, self.every = total_steps, every
        self.loss, self.acc, self.tests = [], [], []       # per step; (step, loss, acc) per epoch
        self.fig = Figure(figsize=(9, 3), layout="constrained")
        self.ax_loss, self.ax_acc = self.fig.subplots(1, 2)
        self.handle = display(self.fig, display_id=True)

    def step(self, loss, acc):
        self.loss.append(loss)
        self.acc.append(acc)
        if len(self.loss) % self.every == 0:
            self.draw()

    def epoch(self, test_loss, test_acc):
        self.tests.append((len(self.loss), test_loss, test_acc))
        self.draw()

    def draw(self):
        n = len(self.loss) // self.every * self.every                  # whole windows only
        ends = np.arange(self.every, n + 1, self.every)                # last step of each window
        for ax, values, col, name in ((self.ax_loss, self.loss, 1, "loss"), (self.ax_acc, self.acc, 2, "accuracy")):
            ax.clear()
            ax.plot(ends, np.reshape(values[:n], (-1, self.every)).mean(axis=1), label="train (running)")
            if self.tests:
                t = np.array(self.tests)
                ax.plot(t[:, 0], t[:, col], "o-", label="test")
            ax.set_xlim(0, self.total); ax.set_xlabel("step"); ax.set_title(name); ax.grid(alpha=0.3)
            ax.legend()
        self.ax_loss.set_yscale("log")
        self.ax_acc.set_ylim(0.8 if n and np.mean(self.acc[-self.every:]) > 0.9 else 0, 1)
        self.handle.update(self.fig)
"""),
md(r"""
## The training loop

Read it top to bottom: per epoch a fresh, seeded order and augmentation; per step a batch
of 128 images augmented and normalised, the learning rate set from the schedule, a
forward pass, the loss, a backward pass that fills every parameter's gradient, clipping,
and one AdamW update. After each epoch the model is evaluated on the test set.

The lines marked `# measure` record what the sections after training look at: the
package's `TrainingDynamics` (the same recorder `numpyvit.train` uses) takes each
parameter group's gradient norm and update size on a few sampled steps and the attention
entropy on 128 fixed test digits every quarter epoch; `grad_norms` keeps every step's
gradient norm before clipping; `pos_snapshots` copies the position embedding at a few
points. They only read the model: the training is the same with or without them.
"""),
code(r"""
model = VisionTransformer(model_cfg, seed=cfg.seed)
optimizer = AdamW(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
loss_fn = SoftmaxCrossEntropy(cfg.label_smoothing)
print(f"{model.num_parameters():,} parameters; training on {len(x_train):,} images")
live = LiveCurves(total_steps, every=max(1, total_steps // 40))
period = steps_per_epoch // 4                                      # dynamics: a row every quarter epoch
dynamics = TrainingDynamics(model, x_test_n[:128], every=max(1, period // 4))
dynamics.end_period(epoch=0.0)                                     # the attention of the untrained model
grad_norms, pos_snapshots = [], {}
snapshot_at = sorted({0, steps_per_epoch // 2, steps_per_epoch})

step, start = 0, time.perf_counter()
for epoch in range(cfg.epochs):
    epoch_rng = np.random.default_rng([cfg.seed, epoch])          # this epoch's order and augmentation
    for idx in iterate_batches(len(x_train), cfg.batch_size, epoch_rng, drop_last=True):
        if step in snapshot_at:
            pos_snapshots[step] = model.params["pos_embed"].copy()  # measure
        xb = normalize(augment(x_train[idx], epoch_rng, cfg.shift, cfg.rotate, cfg.scale))  # (B, 1, 28, 28)
        yb = y_train[idx]                                          # (B,)
        optimizer.lr = lr_at(step, total_steps, cfg.lr, warmup_steps, cfg.min_lr)
        logits = model.forward(xb)                                 # (B, 10)
        loss = loss_fn.forward(logits, yb)
        model.zero_grad()
        model.backward(loss_fn.backward())                         # every parameter's gradient
        dynamics.gradients(step)                                   # measure
        norm = clip_grad_norm(model, cfg.clip_grad)                # the norm before clipping
        optimizer.step()
        dynamics.updated(step, norm, cfg.clip_grad)                # measure
        grad_norms.append(norm)                                    # measure
        step += 1
        if step % period == 0:
            dynamics.end_period(epoch=step / steps_per_epoch)      # measure
        live.step(loss, np.mean(logits.argmax(axis=1) == yb))
    test_loss, test_acc, _ = evaluate(model, x_test_n, y_test)     # eval mode, batches of 500
    live.epoch(test_loss, test_acc)
    print(f"epoch {epoch + 1}/{cfg.epochs}: test loss {test_loss:.4f}, test accuracy {test_acc:.4f}, "
          f"{time.perf_counter() - start:.0f} s so far")
pos_snapshots[step] = model.params["pos_embed"].copy()            # and after the last step
grad_norms = np.array(grad_norms)
first_train_acc = np.mean(live.acc[:steps_per_epoch])             # running accuracy over epoch 1
print(f"epoch 1: running training accuracy {first_train_acc:.4f}, test accuracy after it {live.tests[0][2]:.4f}")
assert first_train_acc < live.tests[0][2]
"""),
md(r"""
In the first epoch the running training accuracy sits *below* the test accuracy, which
looks backwards. It is not: the training numbers are averaged over the epoch while the
model is still improving, and they are measured on shifted digits; the test point is
measured at the end of the epoch, on clean digits. Overfitting would show the other way
round, as training accuracy pulling away from test accuracy.

## Inside the run: the training dynamics

The loss says *whether* a model learns; these say *where* and *how*. `plot_dynamics` draws
the recorder's rows (the command line draws the same figure, `dynamics.png`, for every
run of `python -m numpyvit train`, from the run folder's `dynamics.jsonl`):

- **gradient norm per group** (top left): the size of each part's gradient before
  clipping, one row per parameter group from the input (top) to the head (bottom). It
  shows whether the gradient reaches the first blocks or fades on its way back;
- **update / weight** (top right): how far one optimiser step moves each group, relative
  to its size. A common rule of thumb puts it around $10^{-3}$: a group that stays far
  below hardly trains, one that stays far above is being thrown around;
- **attention entropy** (bottom left): how spread out each layer's attention is, on 128
  fixed test digits. $\ln N$ (dashed) is attention spread evenly over all $N = 17$
  tokens; lower means each query concentrates on fewer tokens;
- **gradient clipping** (bottom right): the share of steps whose gradient norm was above
  the threshold and was scaled down, and the mean and largest norm before clipping.
"""),
code(r"""
rows = dynamics.rows
plot_dynamics(rows)
"""),
code(r"""
trained = [r for r in rows if r["grad_norm"]]                      # the rows with sampled steps
findings = []

# update / weight: per row, the median over the groups
median_ratio = np.array([np.median(list(r["update_ratio"].values())) for r in trained])
peak = int(median_ratio.argmax())
print("median update / weight per row (epoch: ratio):",
      ", ".join(f"{r['epoch']:.2g}: {m:.1e}" for r, m in zip(trained, median_ratio)))
least = {min(r["update_ratio"], key=r["update_ratio"].get) for r in trained}
findings.append(f"updates: largest at epoch {trained[peak]['epoch']:.2g}, near the peak of the learning rate, "
                f"with a median of {median_ratio[peak]:.1e} (above the rule of thumb), then shrinking with the "
                f"learning rate to {median_ratio[-1]:.1e}; the group that moved least in each row was a LayerNorm "
                f"({', '.join(sorted(least))})")
assert median_ratio[peak] > 1e-3 and median_ratio[-1] < 0.3 * median_ratio[peak]
assert all("norm" in g for g in least)

# gradient norm of the first and the last block
def block_norm(r, i):
    return np.sqrt(sum(r["grad_norm"][f"blocks.{i}.{part}"] ** 2 for part in ("norm", "attn", "mlp")))
first_block = np.mean([block_norm(r, 0) for r in trained])
last_block = np.mean([block_norm(r, model_cfg.depth - 1) for r in trained])
findings.append(f"gradients: block 1's mean gradient norm ({first_block:.2f}) is larger than block "
                f"{model_cfg.depth}'s ({last_block:.2f}): nothing fades on the way back")
assert first_block > last_block

# attention entropy, row 0 the untrained model
entropy = np.array([r["attn_entropy"] for r in rows])              # (rows, layers)
uniform = rows[0]["attn_entropy_uniform"]
print(f"attention entropy per layer, untrained: {np.round(entropy[0], 2)}, at the end: {np.round(entropy[-1], 2)}"
      f" (ln N = {uniform:.2f})")
assert np.all(entropy[0] > 0.99 * uniform)
if FAST:          # a few dozen steps: too few to change the attention
    findings.append(f"attention: uniform before training (within 1% of ln N) and still within 5% of it after "
                    f"this short run's {step} steps")
    assert np.all(entropy[-1] > 0.95 * uniform)
else:
    sharpest = int(entropy[-1].argmin())
    findings.append(f"attention: uniform before training (within 1% of ln N); at the end every layer is at least "
                    f"10% below it, layer {sharpest + 1} the sharpest ({entropy[-1, sharpest]:.2f} nats), "
                    f"the first layer the least sharp ({entropy[-1, 0]:.2f})")
    assert np.all(entropy[-1] < 0.9 * uniform)
    assert 0 < sharpest < model_cfg.depth - 1 and entropy[-1].argmax() == 0
print("\nFindings:\n- " + "\n- ".join(findings))
"""),
md(r"""
How to read them, with the findings printed above for this run:

- **update / weight** follows the learning rate: it grows through the warm-up, is largest
  around the peak, and falls towards 0 as the cosine decays; the rule of thumb fits the
  middle of such a schedule, not its ends. The LayerNorm gains
  move least relative to their size: they sit near 1 and their gradients are small. A
  group stuck orders of magnitude below the others would be a part that does not train;
- **gradient norms** that shrank block by block towards the input would mean the signal
  fades on its way back. The residual connections prevent that: each block's input
  gradient includes the output gradient unchanged (notebook 4);
- **attention entropy** starts at $\ln N$ in every layer: with small random weights all
  scores are near 0, so every query attends to all 17 tokens equally. As the model learns
  what to look at, the entropy falls.

## Gradient clipping, in this run

Clipping bounds the size of one step. After the backward pass, `clip_grad_norm` measures
the norm of *all* gradients together, $\|g\| = \sqrt{\sum_i g_i^2}$, and if it is above
the threshold $c$ (here 1) it scales every gradient by $c / \|g\|$. The direction is kept,
only the length is capped. The gradient norm of every step of this run:
"""),
code(r"""
fig, ax = plt.subplots(figsize=(8, 2.8), layout="constrained")
ax.semilogy(grad_norms, lw=0.6, label="global gradient norm, before clipping")
ax.axhline(cfg.clip_grad, color="tab:red", ls="--", label=f"clip threshold {cfg.clip_grad}")
for e in range(1, cfg.epochs):
    ax.axvline(e * steps_per_epoch, color="gray", lw=0.5)
ax.set_xlabel("step"); ax.set_ylabel("gradient norm"); ax.legend(); ax.grid(alpha=0.3)

clipped = grad_norms > cfg.clip_grad
print(f"{clipped.sum()} of {len(grad_norms)} steps clipped ({clipped.mean():.0%}); gradient norm: median "
      f"{np.median(grad_norms):.2f}, largest {grad_norms.max():.2f} at step {grad_norms.argmax()}, "
      f"{grad_norms.max() / cfg.clip_grad:.0f} times the threshold")
assert clipped.mean() > 0.5 and np.median(grad_norms) > cfg.clip_grad
assert grad_norms.max() > 5 * cfg.clip_grad
"""),
md(r"""
In this run clipping was not a rare emergency brake: the threshold lies below the typical
gradient norm, so it scaled most steps (the printed share), and the spikes reached several
times the threshold. What does that do to AdamW? Adam divides each gradient by a running
average of its size, so scaling *every* gradient by the same constant would change nothing.
What clipping changes is the *relative* weight of the steps: a spike enters Adam's running
averages at length 1 instead of, say, 20. Unclipped, it would inflate the second-moment
average $v$, which forgets slowly ($\beta_2 = 0.999$, about a thousand steps), and shrink
every step after it; clipped, each step counts about equally.

## The position embeddings find the grid

The model is given its 16 patches as a plain sequence; nothing tells it that patch 5 is
below patch 1. The only way to learn it is through the position embeddings. As in notebook
6 (and the ViT paper's Figure 7), we compare every position's embedding with every other's
by cosine similarity, at a few points of this run. Each panel is a $4 \times 4$ arrangement
of $4 \times 4$ tiles: the tile in row $r$, column $c$ shows how similar the patch at
$(r, c)$ is to each of the 16 positions. The colour scale stops at $\pm 0.5$ so that the
small similarities show; each position's similarity with itself, 1, is the brightest cell
of its tile.
"""),
code(r"""
grid = int(np.sqrt(model_cfg.num_patches))
rows_of, cols_of = np.divmod(np.arange(grid * grid), grid)         # each patch's row and column
same_row = (rows_of[:, None] == rows_of) & (cols_of[:, None] != cols_of)
same_col = (cols_of[:, None] == cols_of) & (rows_of[:, None] != rows_of)
neither = (rows_of[:, None] != rows_of) & (cols_of[:, None] != cols_of)
steps_shown = sorted(pos_snapshots)
fig, axes = plt.subplots(1, len(steps_shown), figsize=(3.6 * len(steps_shown), 4.2), layout="constrained")
alike = {}
for ax, s in zip(axes, steps_shown):
    sim = pos_embed_similarity(pos_snapshots[s], grid)             # (g, g, g, g)
    flat = sim.reshape(grid * grid, grid * grid)                   # (P, P)
    alike[s] = {name: flat[mask].mean() for name, mask in (("row", same_row), ("column", same_col),
                                                           ("neither", neither))}
    # tile (r, c) at block (r, c) of one image, a blank line between tiles
    tiles = np.full((grid * (grid + 1) - 1,) * 2, np.nan)
    for r in range(grid):
        for c in range(grid):
            tiles[r * (grid + 1):r * (grid + 1) + grid, c * (grid + 1):c * (grid + 1) + grid] = sim[r, c]
    im = ax.imshow(tiles, cmap="viridis", vmin=-0.5, vmax=0.5)      # each tile's own position (1) saturates
    ax.set_xticks([]); ax.set_yticks([])
    ax.set_title(f"after {s} steps ({s / steps_per_epoch:.2g} epochs)\nsame row {alike[s]['row']:+.2f}, "
                 f"same column {alike[s]['column']:+.2f},\nneither {alike[s]['neither']:+.2f}", fontsize=8)
fig.colorbar(im, ax=axes, shrink=0.8, extend="both", label="cosine similarity (scale cut at +-0.5)")
start, end = alike[steps_shown[0]], alike[steps_shown[-1]]
assert all(abs(v) < 0.1 for v in start.values())                  # random at the start: no layout
if FAST:          # a few dozen steps
    print(f"after this short run's {steps_shown[-1]} steps the embeddings are still close to random: "
          f"same row {end['row']:+.2f}, same column {end['column']:+.2f}, neither {end['neither']:+.2f}")
    assert all(abs(v) < 0.1 for v in end.values())
else:
    print(f"at the end positions in the same row are alike ({end['row']:+.2f}), those in the same column "
          f"hardly ({end['column']:+.2f}), the rest dissimilar ({end['neither']:+.2f})")
    assert end["row"] > end["neither"] + 0.1 and end["row"] > end["column"] + 0.1 and end["column"] < 0.05
"""),
md(r"""
At initialisation the embeddings are random: no two positions are more alike than any
others (every mean near 0). Training builds the layout in, and the printed means say how
far it got in this run. In the full quick run the rows come first: positions in the same
row become alike (many tiles grow a bright horizontal band along their own row), while
positions in the same column are hardly alike (a mean similarity near or below 0). (Notebook 7 and the README analyse the 30-epoch recipe's
embeddings.) The model learns the 2-D layout from a 1-D sequence only because
the digits' strokes connect neighbouring patches.

## What does it get wrong?

`evaluate` returns the loss, the accuracy and every test image's predicted probabilities.
The confusion matrix counts, for each true digit (row), what the model said (column); the
diagonal is the correct answers.
"""),
code(r"""
test_loss, test_acc, probs = evaluate(model, x_test_n, y_test)    # probs: (n_test, 10)
preds = probs.argmax(axis=1)                                      # (n_test,)
print(f"test accuracy {test_acc:.4f}: {np.sum(preds != y_test)} mistakes in {len(y_test):,} images")

cm = np.zeros((10, 10), dtype=int)
np.add.at(cm, (y_test, preds), 1)                                 # cm[true, predicted] += 1
plot_confusion(cm)
"""),
md(r"""
The mistakes the model is *most sure of* are the most instructive. `plot_mistakes` sorts
the wrong predictions by the probability the model gave its answer. Many are digits a
person would hesitate over too; some are plain errors.
"""),
code(r"""
plot_mistakes(x_test, y_test, preds, probs, max_images=15)
"""),
md(r"""
## Save it

A checkpoint is one `.npz` file: every weight under its timm name, the model config, and
any JSON-able notes about the run. It opens with plain `np.load`, no pickle. Notebook 7
loads this one.
"""),
code(r"""
ARTIFACT = Path("artifacts/vit_mnist.npz")
notes = {"made_by": "notebooks/06_training_a_vit_on_mnist.ipynb", "full_recipe": FULL_RECIPE, "fast": FAST,
         "train_config": cfg.to_dict(), "test_acc": test_acc, "test_images": len(y_test)}
save_checkpoint(ARTIFACT, model, train_state=notes)
print(f"saved {ARTIFACT} ({ARTIFACT.stat().st_size / 1e6:.1f} MB)")

restored = load_model(ARTIFACT)                                   # a fresh model, in eval mode
same = np.array_equal(restored.forward(x_test_n[:100]).argmax(1), preds[:100])
print("the loaded model makes the same predictions:", same)
assert same
"""),
md(r"""
## The same from the command line

The package's trainer runs this same loop, and adds a progress bar, a metrics file and
the dynamics above (`metrics.jsonl`, `dynamics.jsonl`, drawn as `curves.png` and
`dynamics.png`), a checkpoint after every epoch and exact resumption after an
interruption:

```
python -m numpyvit train --preset quick --out runs/quick     # this notebook's recipe
python -m numpyvit train --out runs/default                  # the full recipe
python -m numpyvit eval runs/default --plot                  # accuracy, confusion matrix, mistakes
```

Notebook 7 looks for `runs/default` first, so if you train the full recipe it analyses
that model.

The trainer also splits every batch across the machine's cores (`DataParallel`), which
this notebook leaves out to keep the loop plain; how that works and what it buys is in
`docs/performance.md` and the README's Speed section.
"""),
md(r"""
## Exercises

1. Which three (true, predicted) pairs does the model confuse most often? Do they make
   sense?
2. Why warm up? Train two fresh models for 60 steps on the first 7,680 training images
   with a peak learning rate of 1e-2, one with 20 warm-up steps and one without, and
   compare their losses.
3. The test accuracy printed after the first epoch of the quick recipe is well above the
   running training accuracy of the same epoch. Name two reasons.
"""),
*solution(r"""
# A confusion "makes sense" when the mistaken digits look more like the class the model chose
# than like their own: measure it as the correlation of each mistaken image with the average
# training digit of either class, and count which is closer.
off = cm.copy()
np.fill_diagonal(off, 0)                                   # mistakes only
means = np.stack([x_train[y_train == k].mean(axis=0).ravel() for k in range(10)])   # (10, 784)
for flat in np.argsort(off, axis=None)[::-1][:3]:
    t, p = np.unravel_index(flat, off.shape)
    wrong = np.flatnonzero((y_test == t) & (preds == p))
    imgs = x_test[wrong].reshape(len(wrong), -1).astype(np.float64)
    corr = np.corrcoef(np.concatenate([imgs, means[[t, p]]]))[:len(wrong), -2:]   # (n, 2): own, chosen
    closer = int(np.sum(corr[:, 1] > corr[:, 0]))
    print(f"true {t} predicted as {p}: {off[t, p]} times; {closer} of them correlate more with "
          f"the average {p} than with the average {t}")
""", "Solution 1 (click to expand)"),
*solution(r"""
def short_run(warmup, steps=20 if FAST else 60, lr=1e-2):
    m = VisionTransformer(model_cfg, seed=0)
    opt = AdamW(m, lr=lr, weight_decay=cfg.weight_decay)
    losses = []
    for s in range(steps):
        idx = np.arange(s * 128, (s + 1) * 128) % len(x_train)
        opt.lr = lr_at(s, steps, lr, warmup)
        loss = loss_fn.forward(m.forward(normalize(x_train[idx])), y_train[idx])
        m.zero_grad(); m.backward(loss_fn.backward()); clip_grad_norm(m, 1.0); opt.step()
        losses.append(loss)
    return losses

fig, ax = plt.subplots(figsize=(5, 2.5), layout="constrained")
for warmup in (0, 20):
    ax.plot(short_run(warmup), label=f"{warmup} warm-up steps")
ax.set_xlabel("step"); ax.set_ylabel("training loss"); ax.legend();
""", "Solution 2 (click to expand)"),
answer(r"""
(a) The training accuracy is a running average over the whole epoch, most of it measured
while the model was still much worse than at the end; the test accuracy is measured once,
after the epoch. (b) The training images are augmented (shifted), which makes them harder
than the clean test images. Neither is a sign of a problem; overfitting would look the
opposite way.
""", "Solution 3 (click to expand)"),
]
