# Notebook 5: Your turn. The cells, in order; see build_notebooks.py.
#
# Each exercise is a markdown cell (what to compute, the shapes), a stub cell, a check cell and
# two folded hints. The stub cells carry the metadata "exercise": <function name>, so that
# tests/test_notebooks.py can run this notebook with the answer key
# (notebooks/solutions/your_turn.py) imported in their place and assert every check passes and
# the capstone runs. The hints carry the metadata "folded": "hint": the handout
# (tools/handout.py) keeps them, while it drops every solution and answer.


def stub(name, params):
    """The learner's cell: a function with the fixed signature that is not written yet."""
    cell = code(f"def {name}({params}):\n    # your code here\n    raise NotImplementedError")
    cell.metadata["exercise"] = name
    return cell


def hints(first, second):
    """Two folded hints, the second more explicit than the first; neither is the answer."""
    cells = [answer(first, "Hint (click to expand)"), answer(second, "Hint 2, more explicit (click to expand)")]
    for cell in cells:
        cell.metadata["folded"] = "hint"
    return cells


def exercise(name, params, text, hint, hint2):
    """The cells of one exercise: what to compute, the stub, the check, the two hints."""
    return [md(text), stub(name, params), code(f'check("{name}", {name})'), *hints(hint, hint2)]


CELLS = [
md(r"""
# 5. Your turn: the ViT, written by you

Notebooks 1 to 4 built the ViT from the package's parts and derived their gradients. Here you
write twelve of those parts yourself, each checked the moment you write it, and then run a
whole ViT on your own code: gradient-checked, then trained on MNIST beside the package's.

Terms used here, in English and Chinese: [the glossary](../docs/glossary.md).

**What you will practise**

- reshapes and transposes that cut images into patches and tokens into heads (notebooks 1, 2);
- attention's forward pass and the interpolation of a position embedding;
- the chain rule on tensors, and where a gradient sums over the batch and token axes (notebook 4);
- reading a failed check, and checking a whole model you assembled.
"""),
md(r"""
**How it works.** Each exercise has a text cell, a stub for you to fill in, a `check` cell
and two folded hints (the second more explicit). `check` runs your function on random
float64 inputs and compares it with the package's own code (for backward passes also with
a numerical gradient). It prints `PASS`, or `FAIL` with what is wrong and a hint, and never
stops the notebook.

**The `FAIL` lines below are expected:** the notebook is saved with the stubs in place.
"""),
code(SETUP),
code(r"""
import os
import time

from numpyvit.exercises import NAMES, check

FAST = os.environ.get("NUMPYVIT_FAST") == "1"     # the test suite's quick run: a shorter capstone
print(NAMES)
"""),
md(r"""
**Shape legend:** `B` batch, `C` channels, `H, W` image height and width, `p` patch size,
`P` patches, `N = P + 1` tokens, `D` width, `h` heads, `Dh = D / h` head width, `K` classes.
Patches are numbered from 0, row by row.

The answer key is `notebooks/solutions/your_turn.py`. To compare with it, replace a stub
cell by, for example, `from solutions.your_turn import patchify` (that is how the test
suite runs this notebook). Try first.

# Part 1: forward passes

The rearrangements must match the package **exactly** (they copy numbers, they compute
none); attention and the interpolation to a relative error of $10^{-10}$ (rounding only).
"""),
*exercise("patchify", "images, p", r"""
## 1. Cutting images into patches (notebook 1)

| | shape |
|---|---|
| `images` | `(B, C, H, W)`, with `H` and `W` multiples of `p` |
| `p` | the patch side, an int |
| return `patches` | `(B, P, C*p*p)`, `P = (H/p)(W/p)` |

Patch 0 is the top-left square, patch 1 the one to its right; each patch is flattened
channel by channel, each channel row by row: `(C, p, p)` order, the layout of the patch
projection's `(D, C, p, p)` kernel. `Patchify.forward` is the reference.
""", r"""
Write the image's two spatial axes as (grid position, position inside the patch):
`H = (H/p) * p` and `W = (W/p) * p`. A reshape can do that without moving any number.
""", r"""
After `images.reshape(B, C, H//p, p, W//p, p)` the axes are (batch, channel, grid row,
row in patch, grid column, column in patch). Transpose them so the two grid axes follow the
batch and the three patch axes come last, in the order (channel, row, column); then one
reshape flattens both groups.
"""),
*exercise("interpolate_pos_embed", "pos_embed, new_grid", r"""
## 2. A position embedding at another resolution (paper, section 3.2)

A ViT trained on a $g \times g$ grid of patches can read larger images (more patches of the
same size) if its position embedding is resized to the new $G \times G$ grid. Each new cell
takes the **bilinear** mix of the old cells nearest its centre, centres measured as fractions
of the image (cell $i$ of $n$ sits at $(i + 0.5)/n$); outside the outermost old centres,
clamp to the edge. The class token's row (row 0) has no place on the grid: keep it.

| | shape |
|---|---|
| `pos_embed` | `(1, 1 + g*g, D)`, the patch rows in patch order |
| `new_grid` | `G`, an int |
| return | `(1, 1 + G*G, D)` |

The reference is `numpyvit.models.resize.resize_pos_embed`.
""", r"""
Resize one axis at a time. Along one axis, new cell $j$ is a weighted mix of at most two
old cells, so the whole step is a $(G, g)$ matrix whose rows sum to 1; applying it to the
rows and then to the columns of the $(g, g, D)$ grid is the bilinear interpolation.
""", r"""
New cell $j$'s centre, in units of old cells, is $c_j = (j + 0.5)\,g/G - 0.5$, clipped to
$[0, g-1]$. With $l = \lfloor c_j \rfloor$ and $r = \min(l + 1, g - 1)$, the row $j$ of the
matrix holds $1 - (c_j - l)$ at column $l$ and $c_j - l$ at column $r$. `np.einsum` applies
it along an axis of your choice.
"""),
*exercise("split_heads", "x, h", r"""
## 3. Splitting the tokens into heads (notebook 2)

| | shape |
|---|---|
| `x` | `(B, N, D)` |
| `h` | the number of heads, an int dividing `D` |
| return | `(B, h, N, Dh)` |

Head $j$ owns the $j$-th block of `Dh` consecutive channels, `x[..., j*Dh:(j+1)*Dh]`, the
layout `Attention.forward` uses for its queries, keys and values.
""", r"""
This is a reshape of the last axis, then a transpose: no number changes.
""", r"""
`x.reshape(B, N, h, Dh)` keeps every token's channels together and cuts them into `h`
blocks. Then the heads must become a batch-like axis next to `B`: swap axes 1 and 2.
"""),
*exercise("attention_forward", "q, k, v", r"""
## 4. Scaled dot-product attention (notebook 2)

$$\text{out} = \operatorname{softmax}\!\Big(\frac{q\,k^\top}{\sqrt{D_h}}\Big)\, v,$$

per batch element and head, the softmax over the keys (the last axis of the scores).

| | shape |
|---|---|
| `q`, `k`, `v` | `(B, h, N, Dh)` |
| return `out` | `(B, h, N, Dh)` |
""", r"""
`@` on `(B, h, N, Dh)` arrays multiplies the last two axes and carries batch and heads
along. The scores are `(B, h, N, N)`: one row per query, one column per key.
""", r"""
`k.swapaxes(-1, -2)` transposes only the last two axes. For the softmax, subtract each
row's maximum (`keepdims=True`) before `np.exp`, then divide by the row sums; write it as a
small function of its own, you will want it again in exercise 11.
"""),
*exercise("merge_heads", "x", r"""
## 5. Merging the heads (notebook 2)

The inverse of `split_heads`: each token's `h` head outputs side by side, head 0's `Dh`
channels first.

| | shape |
|---|---|
| `x` | `(B, h, N, Dh)` |
| return | `(B, N, D)`, `D = h * Dh` |
""", r"""
Undo the two steps of `split_heads` in reverse order.
""", r"""
First bring the token axis back next to the batch, `(B, N, h, Dh)`, with a transpose; then
one reshape joins the last two axes. (A reshape straight from `(B, h, N, Dh)` would mix
tokens of different heads.)
"""),
md(r"""
# Part 2: backward passes (notebook 4)

Your function receives the upstream gradient (`dout` $= dY$) and returns the gradients of
the inputs; $dX = \partial L / \partial X$ has $X$'s shape. `check` compares each with the
package's backward pass and with the numerical gradient of $L = \sum \text{out} \odot
\text{dout}$, to a relative error of $10^{-6}$: tight enough that the exact erf GELU's
derivative, within $10^{-3}$ of the tanh form's, fails.
"""),
*exercise("linear_backward", "x, W, dout", r"""
## 6. Linear

$$y = x W^\top + b, \qquad y_o = \textstyle\sum_i W_{oi}\, x_i + b_o \ \text{ for every row } x .$$

| | shape |
|---|---|
| `x` | `(..., D_in)`: rows `(B, D_in)`, or tokens `(B, N, D_in)` |
| `W` | `(D_out, D_in)`, as in PyTorch's `nn.Linear` |
| `dout` $= dy$ | `(..., D_out)` |
| return `(dx, dW, db)` | `(..., D_in)`, `(D_out, D_in)`, `(D_out,)` |

`b` is not an argument (no gradient depends on its value), but `db` is yours to return.
""", r"""
Take one entry $y_o$ of one row and ask which entries of $x$, $W$ and $b$ it touches; each
gradient has the shape of what it differentiates.
""", r"""
$W$ and $b$ are used by *every* row (every sample and token), so their gradients add up all
rows' contributions. Reshape `x` and `dout` to 2-D `(rows, features)`: then
$dW = dy^\top x$ is one matrix product that does the sum, and `db` sums `dout` over the rows.
`dx = dout @ W` needs no reshape.
"""),
*exercise("cross_entropy_backward", "logits, labels", r"""
## 7. Softmax cross-entropy

The mean over the batch of each sample's negative log-probability of its label:

$$L = \frac1B \sum_b -\log p_{b, y_b}, \qquad p_b = \operatorname{softmax}(z_b) .$$

| | shape |
|---|---|
| `logits` $= z$ | `(B, K)` |
| `labels` $= y$ | `(B,)`, integers in `[0, K)` |
| return `dlogits` | `(B, K)` |

There is no `dout`: $L$ is the end of the chain.
""", r"""
Write one sample's loss as $-z_y + \log \sum_k e^{z_k}$ and differentiate by $z_k$, for
$k = y$ and $k \ne y$. Then the mean: how much does one sample's logit move $L$?
""", r"""
The derivative is the softmax minus the one-hot label, divided by $B$.
`probs[np.arange(B), labels]` picks each row's entry at its label; compute the softmax with
each row's maximum subtracted first, so `exp` cannot overflow.
"""),
*exercise("softmax_backward", "att, datt", r"""
## 8. Softmax

Over the last axis, row by row: $a_i = e^{s_i} / \sum_k e^{s_k}$.

| | shape |
|---|---|
| `att` $= a$ = softmax(scores) | `(..., n)`: attention's `(B, h, N, N)`, or rows `(B, K)` |
| `datt` $= da$ | `(..., n)` |
| return `dscores` $= ds$ | `(..., n)` |

You get the softmax's output, not the scores: the gradient can be written with $a$ alone.
""", r"""
Differentiate $a_i$ by $s_j$ with the quotient rule, once for $i = j$ and once for
$i \ne j$, and write both results with $a$ only. Every $a_i$ depends on every $s_j$ of its
row, through the denominator.
""", r"""
The Jacobian is $\operatorname{diag}(a) - a a^\top$. Applied to $da$ it needs one number per
row, $\sum_i a_i\, da_i$ (with `keepdims=True`); do not build the $n \times n$ matrix.
"""),
*exercise("layernorm_backward", "x, weight, dout, eps", r"""
## 9. LayerNorm

For every row $x \in \mathbb{R}^D$ (every token of every sample):

$$\mu = \tfrac1D \textstyle\sum_c x_c, \quad \sigma^2 = \tfrac1D \sum_c (x_c - \mu)^2, \quad
r = (\sigma^2 + \epsilon)^{-1/2}, \quad \hat x = (x - \mu)\, r, \quad y = \gamma \odot \hat x + \beta .$$

| | shape |
|---|---|
| `x`, `dout` | `(..., D)`: `(B, N, D)` or `(B, D)` |
| `weight` $= \gamma$ | `(D,)` |
| `eps` | a float: the check uses the package's `1e-6`, and `0.1` |
| return `(dx, dweight, dbias)` | `(..., D)`, `(D,)`, `(D,)` |

Recompute $\mu$, $r$ and $\hat x$ from `x` (a layer's forward pass would have saved them).
""", r"""
The parameters first: $\gamma$ and $\beta$ are used in every row, so their gradients sum
over every axis but the last. Then $d\hat x = dy \odot \gamma$, and $x_j$ reaches
$\hat x_i$ three ways: directly, through $\mu$ and through $\sigma^2$.
""", r"""
With $\partial \mu / \partial x_j = 1/D$ and $\partial \sigma^2 / \partial x_j = 2 (x_j - \mu)/D$
the result is $r$ times three terms: $d\hat x$, minus the row mean of $d\hat x$, minus
$\hat x$ times the row mean of $d\hat x \odot \hat x$.
"""),
*exercise("gelu_backward", "x, dout", r"""
## 10. GELU, tanh form

numpyvit's GELU (PyTorch's `gelu(x, approximate='tanh')`), element by element:

$$g(x) = \tfrac12\, x\, (1 + t), \qquad t = \tanh\!\big(c\,(x + 0.044715\, x^3)\big), \qquad c = \sqrt{2/\pi} .$$

| | shape |
|---|---|
| `x`, `dout` | any shape, the same |
| return `dx` | the same shape |
""", r"""
Every entry is independent, so the backward pass is $g'(x)$ times `dout`, entry by entry.
""", r"""
The product rule on $\tfrac12\, x\,(1 + t)$ gives $\tfrac12(1 + t) + \tfrac12 x\, t'$, and
through the tanh $t' = (1 - t^2)\, c\,(1 + 3 \cdot 0.044715\, x^2)$. The exact GELU's
derivative is within $10^{-3}$ of this, and fails the check.
"""),
*exercise("attention_backward", "q, k, v, dout", r"""
## 11. Attention

Backwards through exercise 4: $S = q k^\top / \sqrt{D_h}$, $A = \operatorname{softmax}(S)$,
$\text{out} = A v$.

| | shape |
|---|---|
| `q`, `k`, `v`, `dout` | `(B, h, N, Dh)` |
| return `(dq, dk, dv)` | `(B, h, N, Dh)` each |
""", r"""
Recompute $A$ inside your function, then walk back: out, the softmax (call your
`softmax_backward`), the scores. For a product $C = P R$: $dP = dC\, R^\top$ and
$dR = P^\top dC$.
""", r"""
On these arrays transpose only the last two axes (`.swapaxes(-1, -2)`). The scale
$1/\sqrt{D_h}$ multiplied the scores, so it multiplies both $dq$ and $dk$, and not $dv$.
"""),
md(r"""
# Part 3: a broadcast is a sum

Notebook 4's rule: a tensor copied along an axis in the forward pass receives, in the
backward pass, the *sum* of its copies' gradients along that axis.
"""),
*exercise("embed_backward", "dtokens", r"""
## 12. The class token and the position embedding

`VisionTransformer.embed` builds the first block's tokens from the patch embeddings:

$$\text{tokens} = \operatorname{concat}(\text{cls\_token broadcast to the batch},\ \text{patches}) + \text{pos\_embed}.$$

| | shape |
|---|---|
| `cls_token` | `(1, 1, D)`, one token shared by every image |
| `pos_embed` | `(1, N, D)`, added to every image |
| `dtokens` | `(B, N, D)`, the gradient reaching the tokens |
| return `(dcls_token, dpos_embed)` | `(1, 1, D)`, `(1, N, D)` |
""", r"""
Both parameters have a batch axis of 1 and the tokens one of `B`: each was copied `B` times.
""", r"""
The class token is token 0 of every image: its gradient is `dtokens[:, :1]`, summed over the
batch. The position embedding is added to all `N` tokens of every image: sum `dtokens`
over the batch. Keep the batch axis (`keepdims=True`); a mean instead of a sum is `B` times
too small.
"""),
md(r"""
# Part 4: the capstone, a ViT on your own code

`numpyvit.exercises.capstone.your_vit` builds the package's `VisionTransformer` and swaps
its layers for subclasses that call your functions: your `patchify` cuts the images, your
`split_heads`, `attention_forward` and `merge_heads` run attention, and every backward pass
is yours but the images' own gradient. First it asks whether all eleven functions it needs
pass their checks; until they do, the cells below skip.
"""),
code(r"""
import inspect

from numpyvit.exercises import capstone
from numpyvit.exercises.capstone import NEEDED, WithLoss, YourCrossEntropy, missing, your_vit

not_ready = missing(globals())
READY = not not_ready
if READY:
    print(f"all {len(NEEDED)} functions the capstone needs pass their checks")
else:
    print(f"the capstone needs {len(NEEDED)} of your functions; {len(not_ready)} are not ready, "
          f"so the capstone's cells skip:")
    for name, why in not_ready:
        print(f"  {name}: {why}")
"""),
md(r"""
This is your attention inside the model (the other layers read the same way):
"""),
code(r"""
print(inspect.getsource(capstone.YourAttention))
"""),
md(r"""
## The whole model, gradient-checked

A tiny ViT in float64 (8 x 8 images, 2 blocks, width 8), moved to a random point, its loss
your cross-entropy: `gradcheck` compares every parameter's gradient, and the images', with
the numerical derivative, as notebook 4 did for the package's model.
"""),
code(r"""
from numpyvit import ViTConfig, format_table, gradcheck, max_rel_error, random_point

if READY:
    tiny = ViTConfig(image_size=8, patch_size=4, dim=8, depth=2, heads=2, mlp_dim=16)
    model64 = random_point(your_vit(globals(), tiny, dtype=np.float64))
    images, labels = rng.standard_normal((3, 1, 8, 8)), np.array([0, 2, 1])
    rows = gradcheck(WithLoss(model64, YourCrossEntropy(globals())), images, (labels,), max_checks=20)
    print(format_table(rows))
else:
    print("skipped: the capstone's functions are not ready (see above)")
"""),
code(r"""
if READY:
    print(f"{len(rows)} tensors, worst relative error {max_rel_error(rows):.1e}")
    assert max_rel_error(rows) < 1e-6          # notebook 4 holds the package's model to 1e-8
"""),
md(r"""
## Trained beside the package's

A small ViT on MNIST (patch 7, width 32, 2 blocks), float32, trained twice from the same
seed on the same batches: once the package's, once yours. Both compute the same arithmetic
in a different order, so their losses should differ by rounding alone. How large is
rounding? A third run trains the package's model in float64: its distance from the float32
run is what float32 rounding alone does to the curve.
"""),
code(r"""
from numpyvit import AdamW, SoftmaxCrossEntropy, VisionTransformer, iterate_batches, load_mnist, lr_at, normalize

STEPS, BATCH = (60, 32) if FAST else (300, 64)
small = ViTConfig(dim=32, depth=2, heads=2, mlp_dim=64)
x_train, y_train, _, _ = load_mnist()
x_sub, y_sub = x_train[:STEPS * BATCH // 2], y_train[:STEPS * BATCH // 2]   # two epochs' worth


def train(model, loss, dtype=np.float32):
    # STEPS steps of AdamW, warm-up then cosine, on batches in the same seeded order every call
    opt, order, losses = AdamW(model, weight_decay=0.05), np.random.default_rng(0), []
    while len(losses) < STEPS:
        for idx in iterate_batches(len(x_sub), BATCH, order, drop_last=True):
            if len(losses) == STEPS:
                break
            opt.lr = lr_at(len(losses), STEPS, 2e-3, STEPS // 10)
            model.zero_grad()
            losses.append(loss.forward(model.forward(normalize(x_sub[idx], dtype=dtype)), y_sub[idx]))
            model.backward(loss.backward())
            opt.step()
    return np.array(losses)
"""),
code(r"""
if READY:
    t0 = time.perf_counter()
    curve_package = train(VisionTransformer(small, seed=0), SoftmaxCrossEntropy())
    curve_yours = train(your_vit(globals(), small, seed=0), YourCrossEntropy(globals()))
    curve_float64 = train(VisionTransformer(small, seed=0, dtype=np.float64), SoftmaxCrossEntropy(), np.float64)
    print(f"{STEPS} steps of batch {BATCH}, three runs in {time.perf_counter() - t0:.0f} s; loss "
          f"{curve_package[0]:.3f} -> {curve_package[-10:].mean():.3f} (mean of the last 10 steps)")
"""),
code(r"""
if READY:
    yours_off = np.abs(curve_yours - curve_package)
    rounding = np.abs(curve_float64 - curve_package)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
    ax.plot(curve_package, label="package"); ax.plot(curve_yours, "--", label="yours")
    ax.set(xlabel="step", ylabel="training loss", title="the two loss curves"); ax.legend()
    bx.semilogy(np.maximum(yours_off, 1e-9), label="|yours - package| (equal: drawn at 1e-9)")
    bx.semilogy(np.maximum(rounding, 1e-9), label="|package float64 - package|", alpha=0.7)
    bx.set(xlabel="step", title="their distance, and float32 rounding's"); bx.legend()
"""),
md(r"""
The bound: your curve may be as far from the package's as float32 rounding moves the
package's own curve (its float64 run), twice over, since two float32 computations each
round their own way.
"""),
code(r"""
if READY:
    print(f"max |yours - package| {yours_off.max():.1e}, max |float64 - float32| {rounding.max():.1e}, "
          f"over {STEPS} steps")
    assert yours_off.max() <= 2 * rounding.max()
"""),
md(r"""
## What to remember

- A rearrangement (patches, heads) moves numbers and computes none: check it exactly.
- The backward pass of a reshape is the inverse reshape; of a broadcast, a sum.
- A gradient has the shape of what it differentiates; a shared parameter sums its uses.
- Check each piece, then the assembled model: a whole-model gradient check catches the glue.
- Two float32 runs of the same maths agree only up to rounding, which grows with training.
"""),
]
