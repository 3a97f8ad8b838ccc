# Notebook 5: Training a ViT on MNIST. The cells, in order; see build_notebooks.py.

CELLS = [
md(r"""
# 5. Training a ViT on MNIST

Time to train. This notebook writes the whole training loop out, about fifteen lines with
numpyvit's classes: data, model, loss, optimiser, learning-rate schedule, backward pass.
By default it runs the *quick* recipe (3 epochs, a couple of minutes on a laptop's CPU,
about 97% test accuracy), with the curves updating live as it trains. Then it looks at
what the model gets wrong, and saves it for notebook 6.

**What you will learn**

- the training loop of a ViT, step by step, with nothing hidden;
- AdamW with decoupled weight decay, linear warm-up then cosine decay of the learning
  rate, gradient clipping, and shift augmentation, and why a ViT wants each of them;
- how to read a confusion matrix and a gallery of the model's most confident mistakes;
- how to save a checkpoint and load it back.

**Two switches.** Set `FULL_RECIPE = True` below for the tuned recipe (the
`TrainConfig` defaults: 30 epochs with rotation and zoom augmentation, ten times longer,
about 99.3% test accuracy). The environment variable `NUMPYVIT_FAST=1` is for automated
tests: it shrinks the run to 6,000 training images for one epoch. Leave it unset.
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

from numpyvit import (AdamW, DataParallel, SoftmaxCrossEntropy, TrainConfig, ViTConfig, VisionTransformer,
                      augment, clip_grad_norm, evaluate, iterate_batches, load_mnist, load_model, lr_at,
                      normalize, save_checkpoint)
from numpyvit import PRESETS
from numpyvit.insight.plots import plot_confusion, plot_mistakes
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
at many positions. Here are eight training digits and one random shift of each:
"""),
code(r"""
shifted = augment(x_train[:8], np.random.default_rng(0), shift=cfg.shift, rotate=cfg.rotate, scale=cfg.scale)
fig, axes = plt.subplots(2, 8, figsize=(9, 2.5), layout="constrained")
for i in range(8):
    axes[0, i].imshow(x_train[i], cmap="gray")
    axes[1, i].imshow(shifted[i], cmap="gray")
for ax in axes.flat:
    ax.set_xticks([]); ax.set_yticks([])
axes[0, 0].set_ylabel("original"); axes[1, 0].set_ylabel("augmented");
"""),
md(r"""
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
"""),
code(r"""
model = VisionTransformer(model_cfg, seed=cfg.seed)
optimizer = AdamW(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
loss_fn = SoftmaxCrossEntropy(cfg.label_smoothing)
print(f"{model.num_parameters():,} parameters; training on {len(x_train):,} images")
live = LiveCurves(total_steps, every=max(1, total_steps // 40))

step, start = 0, time.perf_counter()
for epoch in range(cfg.epochs):
    epoch_rng = np.random.default_rng([cfg.seed, epoch])          # this epoch's order and augmentation
    for idx in iterate_batches(len(x_train), cfg.batch_size, epoch_rng, drop_last=True):
        xb = normalize(augment(x_train[idx], epoch_rng, cfg.shift, cfg.rotate, cfg.scale))  # (B, 1, 28, 28)
        yb = y_train[idx]                                          # (B,)
        optimizer.lr = lr_at(step, total_steps, cfg.lr, warmup_steps, cfg.min_lr)
        logits = model.forward(xb)                                 # (B, 10)
        loss = loss_fn.forward(logits, yb)
        model.zero_grad()
        model.backward(loss_fn.backward())                         # every parameter's gradient
        clip_grad_norm(model, cfg.clip_grad)
        optimizer.step()
        step += 1
        live.step(loss, np.mean(logits.argmax(axis=1) == yb))
    test_loss, test_acc, _ = evaluate(model, x_test_n, y_test)     # eval mode, batches of 500
    live.epoch(test_loss, test_acc)
    print(f"epoch {epoch + 1}/{cfg.epochs}: test loss {test_loss:.4f}, test accuracy {test_acc:.4f}, "
          f"{time.perf_counter() - start:.0f} s so far")
"""),
md(r"""
In the first epoch the running training accuracy sits *below* the test accuracy, which
looks backwards. It is not: the training numbers are averaged over the epoch while the
model is still improving, and they are measured on shifted digits; the test point is
measured at the end of the epoch, on clean digits. Overfitting would show the other way
round, as training accuracy pulling away from test accuracy.

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
any JSON-able notes about the run. It opens with plain `np.load`, no pickle. Notebook 6
loads this one.
"""),
code(r"""
ARTIFACT = Path("artifacts/vit_mnist.npz")
notes = {"made_by": "notebooks/05_training_a_vit_on_mnist.ipynb", "full_recipe": FULL_RECIPE, "fast": FAST,
         "train_config": cfg.to_dict(), "test_acc": test_acc, "test_images": len(y_test)}
save_checkpoint(ARTIFACT, model, train_state=notes)
print(f"saved {ARTIFACT} ({ARTIFACT.stat().st_size / 1e6:.1f} MB)")

restored = load_model(ARTIFACT)                                   # a fresh model, in eval mode
same = np.array_equal(restored.forward(x_test_n[:100]).argmax(1), preds[:100])
print("the loaded model makes the same predictions:", same)
"""),
md(r"""
## The same from the command line

The package's trainer runs this same loop, and adds a progress bar, a metrics file,
a checkpoint after every epoch and exact resumption after an interruption:

```
python -m numpyvit train --preset quick --out runs/quick     # this notebook's recipe
python -m numpyvit train --out runs/default                  # the full recipe
python -m numpyvit eval runs/default --plot                  # accuracy, confusion matrix, mistakes
```

Notebook 6 looks for `runs/default` first, so if you train the full recipe it analyses
that model.

## Using every core

The trainer adds one thing more, for speed. NumPy runs matrix products on every core, but
elementwise work (LayerNorm, GELU, softmax, the residual adds) on one, and that is about
half of a step. `DataParallel(model)` splits each batch into one chunk per core and runs
each chunk's forward and backward in its own thread, on a replica of the model that shares
its weights; the replicas' gradients are then summed into `model.grads`. NumPy lets go of
Python's lock inside its array operations, which is what lets plain threads run them side
by side. The logits and gradients are the whole batch's, up to float rounding:
"""),
code(r"""
net = DataParallel(model)                        # one worker thread per available core
xb, yb = x_test_n[:256], y_test[:256]

def forward_backward(run):
    # one forward and backward pass through `run`: the logits, and one gradient as a sample
    logits = run.forward(xb)
    loss_fn.forward(logits, yb)
    optimizer.zero_grad()
    run.backward(loss_fn.backward())
    return logits, model.blocks[0].attn.qkv.grads["weight"].copy()

(logits1, grad1), (logits2, grad2) = forward_backward(model), forward_backward(net)
print(f"{net.workers} worker(s); largest difference: logits {np.abs(logits1 - logits2).max():.1e}, "
      f"a qkv weight gradient {np.abs(grad1 - grad2).max():.1e}")
for name, run in (("the model, whole batch", model), (f"DataParallel, {net.workers} worker(s)", net)):
    start = time.perf_counter()
    for _ in range(5):
        forward_backward(run)
    print(f"{name}: {(time.perf_counter() - start) / 5 * 1e3:.0f} ms per forward and backward of 256 images")
net.close()
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
off = cm.copy()
np.fill_diagonal(off, 0)                                   # mistakes only
for flat in np.argsort(off, axis=None)[::-1][:3]:
    t, p = np.unravel_index(flat, off.shape)
    print(f"true {t} predicted as {p}: {off[t, p]} times")
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
