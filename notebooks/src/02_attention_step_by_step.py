# Notebook 2: Attention, step by step. The cells, in order; see build_notebooks.py.

CELLS = [
md(r"""
# 2. Attention, step by step

Self-attention is the one place in a transformer where tokens exchange information. Every
token asks a question (its *query*), every token offers a description of itself (its
*key*) and a message (its *value*); each token then receives an average of all the
messages, weighted by how well its query matched each key:

$$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V$$

(Vaswani et al. 2017; the ViT paper writes the same thing as its equations 5-8 in
appendix A.)

Terms used here, in English and Chinese: [the glossary](../docs/glossary.md).
"""),
md(r"""
**What you will learn**

- how $Q$, $K$, $V$, the scores and the attention weights are computed, by hand on a
  4-token example, and that numpyvit's `Attention` computes exactly the same;
- why the scores are divided by $\sqrt{d_k}$, measured rather than asserted: what it does
  to the softmax, to the gradients of the scores and of the queries, and to the attention
  of a model trained with and without it;
- that multi-head attention is nothing but reshapes around one batched matrix product;
- what an attention matrix looks like over the patches of a real digit;
- why attention by itself is blind to the order of the tokens.
"""),
md(r"""
**Notation:** `B` batch, `P` patches (numbered from 0), `N = P + 1` tokens (the class
token is token 0, patch $i$ is token $i + 1$), `D` embedding width, `h` heads,
`Dh` = D/h head width ($d_k$ in the formula).
"""),
code(SETUP),
code(r"""
import json
import os
from pathlib import Path

import matplotlib

import numpyvit

from numpyvit import (AdamW, Attention, LayerNorm, Patchify, SoftmaxCrossEntropy, ViTConfig,
                      VisionTransformer, class_balanced_subset, clip_grad_norm, load_mnist, lr_at,
                      normalize, softmax, softmax_backward)
from numpyvit.insight.diagrams import draw_attention
from numpyvit.insight.findings import differ, finding
"""),
md(r"""
`softmax` normalises over the last axis, whatever the shape: a single $(N, N)$ score matrix
here, a stack of them shaped $(B, h, N, N)$ inside `Attention`, each row (one query's scores
over the keys) on its own. It returns a new array and leaves its input as it was.

## A tiny example by hand

Four tokens of width $D = 4$, stacked as the rows of $X$. Each of $Q$, $K$, $V$ is a linear
map of $X$ with its own weight matrix (stored as (out, in), the way `Linear` stores them,
hence the transposes).
"""),
code(r"""
X = rng.standard_normal((4, 4)).round(1)            # (N, D): 4 tokens, width 4
W_q, W_k, W_v = rng.standard_normal((3, 4, 4)).round(1)

Q = X @ W_q.T                                       # (N, Dh) queries: what each token looks for
K = X @ W_k.T                                       # (N, Dh) keys: what each token offers
V = X @ W_v.T                                       # (N, Dh) values: what each token passes on
print("X =\n", X, "\nQ =\n", Q, "\nK =\n", K, sep="")
"""),
md(r"""
Entry $(i, j)$ of $Q K^\top$ is the dot product of query $i$ with key $j$: how well token
$j$ answers token $i$'s question. Dividing by $\sqrt{d_k} = \sqrt{4} = 2$ keeps these scores
at a moderate size (the next section shows why).
"""),
code(r"""
d_k = Q.shape[1]
scores = Q @ K.T / np.sqrt(d_k)                     # (N, N): row i = query i against every key
print("scores =\n", scores, sep="")
"""),
md(r"""
The softmax turns each row of scores into weights that are positive and sum to 1:
$a_{ij} = e^{s_{ij}} / \sum_{j'} e^{s_{ij'}}$. Row $i$ says how token $i$ divides its
attention among the 4 tokens (itself included).
"""),
code(r"""
A = softmax(scores)                                 # (N, N), row-wise softmax
print("A =\n", A, sep="")
print("row sums:", A.sum(axis=1))
"""),
md(r"""
The output for token $i$ is the weighted average of the value vectors, $\sum_j a_{ij} v_j$:
a matrix product.
"""),
code(r"""
out = A @ V                                         # (N, N) @ (N, Dh) -> (N, Dh)
print("out =\n", out, sep="")
"""),
md(r"""
## The same with `Attention`

numpyvit's `Attention` computes $Q$, $K$ and $V$ with one fused `Linear` layer, `qkv`, of
shape $(3D, D)$: its output's first $D$ numbers are the query, the next $D$ the key, the
last $D$ the value (timm's layout). After the heads it applies one more linear map, `proj`.
Load our three matrices into `qkv`, make `proj` the identity, and the layer must reproduce
the hand computation. (`dtype=np.float64` so that the comparison is exact to 1e-12.)
"""),
code(r"""
attn = Attention(dim=4, heads=1, rng=0, dtype=np.float64)
print("qkv.weight", attn.qkv.params["weight"].shape, "  proj.weight", attn.proj.params["weight"].shape)
attn.qkv.params["weight"][...] = np.concatenate([W_q, W_k, W_v])   # (3D, D): rows of q, then k, then v
attn.proj.params["weight"][...] = np.eye(4)                         # biases are zero already

y = attn.forward(X[None])                           # (B, N, D) = (1, 4, 4)
print("output matches the hand computation: ", np.allclose(y[0], out, atol=1e-12))
print("attention weights match:             ", np.allclose(attn.att[0, 0], A, atol=1e-12))
print("attn.att", attn.att.shape, " (B, h, N, N)")
"""),
md(r"""
## Why divide by $\sqrt{d_k}$?

Suppose the entries of a query $q$ and a key $k$ are independent, with mean 0 and variance
1. Their dot product $q \cdot k = \sum_{m=1}^{d_k} q_m k_m$ is a sum of $d_k$ terms of
variance 1, so it has variance $d_k$: the scores grow like $\sqrt{d_k}$. Dividing by
$\sqrt{d_k}$ brings them back to variance 1 whatever the head width.
"""),
md(r"""
Why would large scores hurt? The softmax of large numbers is nearly one-hot: one weight near
1, the rest near 0. Its Jacobian, $\partial a_i / \partial s_j = a_i(\delta_{ij} - a_j)$
(derived in notebook 4), is then small, so little gradient reaches the scores. That is the
usual argument.
"""),
md(r"""
Let us measure it. We take 2,000 random $17 \times 17$ attention matrices
(our ViT has 17 tokens) with unit-variance queries and keys, compute the scores
$s = c\, q k^\top$ without ($c = 1$) and with ($c = 1/\sqrt{d_k}$) the scaling, and push
a random upstream gradient $\partial L/\partial a$ with unit entries (drawn alike for both)
back through the softmax, to the scores and one step further, to the queries, which $W_q$ learns through:
$\partial L/\partial q = c\,(\partial L/\partial s)\,k$.
"""),
code(r"""
def gradient_sizes(q, k, c, rng):
    # scores s = c q k^T, att = softmax(s); a random unit upstream gradient pushed back through
    s = c * (q @ k.swapaxes(-1, -2))                                 # (B, 1, N, N)
    att = softmax(s)
    datt = rng.standard_normal(att.shape)                            # dL/datt, unit entries
    ds = softmax_backward(att, datt)                                 # dL/ds  (B, 1, N, N)
    dq = c * ds @ k                                                  # dL/dq  (B, 1, N, d_k)
    return {"spread": s.std(),                                       # std of the scores
            "max weight": att.max(axis=-1).mean(),                   # mean largest weight of a row
            "dL/ds": np.linalg.norm(ds) / np.linalg.norm(datt),     # share the softmax lets through
            "dL/dq": np.sqrt((dq ** 2).sum(axis=-1).mean())}         # length of one query's gradient
"""),
code(r"""
widths = (4, 16, 64, 256)
cols = ("spread", "max weight", "dL/ds", "dL/dq")
table = {}                                                           # (d_k, "unscaled" | "scaled") -> sizes
for d_k in widths:
    q, k = rng.standard_normal((2, 2000, 1, 17, d_k))                # each (B, h, N, Dh), unit variance
    for name, c in (("unscaled", 1.0), ("scaled", 1 / np.sqrt(d_k))):
        table[d_k, name] = gradient_sizes(q, k, c, rng)

print(f"{'':>4} | {'without scaling: q.k':^43} | {'with scaling: q.k / sqrt(d_k)':^43}")
print(f"{'d_k':>4} | " + " ".join(f"{c:>10}" for c in cols) + " | " + " ".join(f"{c:>10}" for c in cols))
for d_k in widths:
    print(f"{d_k:>4} | " + " | ".join(" ".join(f"{table[d_k, name][c]:>10.3f}" for c in cols)
                                      for name in ("unscaled", "scaled")))
un = {c: np.array([table[d_k, "unscaled"][c] for d_k in widths]) for c in cols}
sc = {c: np.array([table[d_k, "scaled"][c] for d_k in widths]) for c in cols}
"""),
md(r"""
Read the table in pairs of columns. **With the scaling** (right) nothing depends on $d_k$:
the scores' spread is 1, the largest weight of a row averages about 0.24, and both
gradients keep their size at every width. **Without it** (left) the spread grows as
$\sqrt{d_k}$ and the softmax saturates: at $d_k = 64$, the head width of ViT-B, the largest
weight averages 0.84, at 256 it is 0.92. But the gradient does not vanish:
"""),
md(r"""
- the share of the gradient the softmax lets through to the scores, $\partial L/\partial s$,
  falls steadily, yet only by about half from $d_k = 4$ to 256, and at $d_k = 4$ and 16 it
  is *larger* than with the scaling;
- the gradient with respect to the queries, $\partial L/\partial q$, *grows* with $d_k$ and
  is larger than the scaled one at every width: $\partial s/\partial q = k$ is a vector of
  length about $\sqrt{d_k}$ (the scaling divides that back out), and its growth outweighs
  the softmax's shrinking share.
"""),
md(r"""
So for unit-variance queries and keys, "without the scaling the gradient vanishes" is too
strong. What the scaling does, measurably, is make all of this independent of the head
width: how sharp attention is at the start, and how large its gradients are, so that one
initialisation and one learning rate suit any $d_k$. Each sentence above is checked here:
"""),
code(r"""
# with the scaling nothing depends on d_k
assert np.allclose(sc["spread"], 1, atol=0.02)
assert np.all(np.abs(sc["max weight"] - 0.24) < 0.015)
for c in ("dL/ds", "dL/dq"):
    assert np.ptp(sc[c]) < 0.05 * sc[c].mean(), c                  # the same size at every width
# without it: spread sqrt(d_k), saturation, dL/ds falls by about half, dL/dq grows
assert np.allclose(un["spread"], np.sqrt(widths), rtol=0.02)
assert f"{un['max weight'][2]:.2f}" == "0.84" and f"{un['max weight'][3]:.2f}" == "0.92"
assert np.all(np.diff(un["dL/ds"]) < 0) and 0.45 < un["dL/ds"][3] / un["dL/ds"][0] < 0.6
assert np.all(np.diff(un["dL/dq"]) > 0) and np.all(un["dL/dq"] > sc["dL/dq"])
# the small-d_k rows: more reaches the unscaled scores at d_k = 4 and 16, less from 64 on
assert list(un["dL/ds"] > sc["dL/ds"]) == [True, True, False, False]
print("every claim above holds")
"""),
md(r"""
### Why more gradient reaches the unscaled scores at small $d_k$

The gradient through a softmax is not largest for the softest attention. On its diagonal
the Jacobian has $a_j(1 - a_j)$: with nearly uniform weights ($1/17$ each) every entry is
small; the entries grow as a few weights rise towards $1/2$, and shrink again only once one
weight takes nearly everything. So the share that gets through should rise with the
spread of the scores, peak, and fall. Sweep the spread of random scores and measure the
same share as in the table:
"""),
code(r"""
spreads = 2.0 ** np.arange(-2, 5.01, 0.5)            # std of the scores, 0.25 ... 32
through = []
for sd in spreads:
    att = softmax(sd * rng.standard_normal((2000, 1, 17, 17)))       # (B, 1, N, N)
    datt = rng.standard_normal(att.shape)
    through.append(np.linalg.norm(softmax_backward(att, datt)) / np.linalg.norm(datt))
through = np.array(through)
peak = spreads[through.argmax()]
at = dict(zip(spreads, through))
print(f"the share peaks at spread {peak:.2f} ({through.max():.3f}); spread 1: {at[1.0]:.3f}, "
      f"2: {at[2.0]:.3f}, 4: {at[4.0]:.3f}, 32: {at[32.0]:.3f}")
"""),
code(r"""
fig, ax = plt.subplots(figsize=(6.8, 3), layout="constrained")
ax.plot(spreads, through, "-", color="gray", lw=1, label="random scores of that spread")
ax.plot(np.ones(len(widths)), sc["dL/ds"], "s", color="tab:blue", label="scaled: spread 1, every d_k")
ax.plot(np.sqrt(widths), un["dL/ds"], "o", color="tab:red", label="unscaled: spread sqrt(d_k)")
for d_k, y in zip(widths, un["dL/ds"]):
    ax.annotate(f"d_k={d_k}", (np.sqrt(d_k), y), textcoords="offset points", xytext=(4, 5), fontsize=8)
ax.set_xscale("log", base=2)
ax.set_xticks(spreads[::2], [f"{v:g}" for v in spreads[::2]])
ax.set_xlabel("spread of the scores (std)"); ax.set_ylabel("share of dL/da reaching the scores")
ax.legend(fontsize=8); ax.grid(alpha=0.3)
"""),
code(r"""
assert 1.4 < peak < 3                                 # a peak at moderate spread, about 2
assert at[2.0] > at[1.0] and at[4.0] > at[1.0] > at[32.0]
"""),
md(r"""
The share peaks at a spread of about 2. The scaled scores sit at spread 1, on the rising
side, for every $d_k$. The unscaled ones sit at $\sqrt{d_k}$: at $d_k = 4$ that is 2, next
to the peak, which is why that row lets more gradient through than the scaled one; at
$d_k = 16$ (spread 4) it is past the peak but still above spread 1; from $d_k = 64$ on
(spread 8 and more) it is below. The scaling does not put the softmax where its gradient
is largest; it keeps it in the same place whatever the head width.

"""),
md(r"""
### Training with and without the scaling

The table measured random queries and keys. A model that trains makes its own. Train a
small ViT, two blocks with one head each, so that $d_k = D = 64$ as in ViT-B's heads, for
1,500 steps of 64 images on 10,000 MNIST digits (the same number of each class), once as it
is and once with the scaling removed (`attn.scale = 1` in every block):
"""),
code(r"""
FAST = os.environ.get("NUMPYVIT_FAST") == "1"        # the test suite's smoke run
n_train, steps, n_test = (3000, 300, 2000) if FAST else (10000, 1500, 10000)
x_train, y_train, x_test, y_test = load_mnist()
subset = class_balanced_subset(y_train, n_train, seed=0)
x_small, y_small = normalize(x_train[subset]), y_train[subset]
x_eval, y_eval = normalize(x_test[:n_test]), y_test[:n_test]

def train_small(scaled, seed):
    model = VisionTransformer(ViTConfig(depth=2, heads=1), seed=seed)   # d_k = D = 64
    if not scaled:
        for blk in model.blocks:
            blk.attn.scale = model.dtype.type(1.0)   # scores = q k^T; forward and backward read attn.scale
    loss_fn, opt = SoftmaxCrossEntropy(), AdamW(model, lr=3e-3, weight_decay=0.05)
    order = np.random.default_rng(seed + 100)        # which digits each step sees
    for step in range(steps):
        batch = order.choice(n_train, 64, replace=False)
        opt.lr = lr_at(step, steps, peak_lr=3e-3, warmup_steps=steps // 10)
        loss_fn.forward(model.forward(x_small[batch]), y_small[batch])
        model.zero_grad()
        model.backward(loss_fn.backward())
        clip_grad_norm(model, 1.0)
        opt.step()
    model.eval()
    return model
"""),
md(r"""
For each trained model we measure the test accuracy and, per block, two things about its
attention on the test digits: the entropy of a row, $-\sum_j a_j \ln a_j$, averaged over
digits and tokens ($\ln 17 = 2.83$ nats for uniform attention, 0 for one-hot), and the
share of a random upstream gradient that the softmax lets through to the scores, as in
the table above.
"""),
code(r"""
def attention_report(model, seed):
    # accuracy; per block, the rows' mean entropy (nats) and the share the softmax lets through
    draws = np.random.default_rng(1000 + seed)       # the random upstream gradients
    correct, entropy, share = 0, [], []
    for i in range(0, n_test, 1000):
        correct += np.sum(model.forward(x_eval[i:i + 1000]).argmax(axis=1) == y_eval[i:i + 1000])
        atts = [blk.attn.att for blk in model.blocks]                  # each (B, h, N, N)
        # a weight that underflowed to 0 contributes 0 * ln(tiny) = 0, as 0 ln 0 should
        entropy.append([-(a * np.log(np.maximum(a, np.finfo(a.dtype).tiny))).sum(-1).mean() for a in atts])
        datts = [draws.standard_normal(a.shape).astype(a.dtype) for a in atts]
        share.append([np.linalg.norm(softmax_backward(a, d)) / np.linalg.norm(d) for a, d in zip(atts, datts)])
    return {"accuracy": correct / n_test, "entropy": np.mean(entropy, axis=0), "share": np.mean(share, axis=0)}

def print_runs(runs):
    print(f"{'':>8} {'seed':>4} {'accuracy':>9} | {'entropy, block 1, 2':>19} | {'share, block 1, 2':>17}")
    for r in runs:
        print(f"{r['arm']:>8} {r['seed']:>4} {r['accuracy']:>9.2%} | {r['entropy'][0]:>9.2f} {r['entropy'][1]:>9.2f}"
              f" | {r['share'][0]:>8.3f} {r['share'][1]:>8.3f}")
"""),
md(r"""
Each model takes tens of seconds to train, so the notebook trains one of each, with seed 0. (With `NUMPYVIT_FAST=1`, as the test suite runs it, the run is 300 steps on 3,000
digits, tested on 2,000: a smoke test, on which the findings below need not hold.)
"""),
code(r"""
models, live = {}, []
for name in ("scaled", "unscaled"):
    models[name] = train_small(name == "scaled", seed=0)
    live.append({"arm": name, "seed": 0, **attention_report(models[name], seed=0)})
print_runs(live)
"""),
md(r"""
One run of each cannot tell an effect of the scaling from the luck of the seed. So
`tools/nb02_spread.py` ran this same recipe (the same `train_small`, line for line) once
for seeds 0 to 7 of both arms, and committed every run's numbers, with the CPU they came
from, in `docs/figures/nb02_scaling_spread.json`. Here they are:
"""),
code(r"""
spread_file = Path(numpyvit.__file__).resolve().parents[1] / "docs" / "figures" / "nb02_scaling_spread.json"
seeds_result = json.loads(spread_file.read_text())
runs, summary = seeds_result["runs"], seeds_result["summary"]
print(f"measured on {seeds_result['cpu']}, NumPy {seeds_result['numpy']}, {len(summary['seeds'])} seeds")
print_runs(sorted(runs, key=lambda r: (r["arm"] != "scaled", r["seed"])))
"""),
md(r"""
**Accuracy.** Seed by seed, the gap between the two arms changes sign: the unscaled model
is ahead on some seeds and behind on others. Its standard deviation over the seeds sets the
spread a comparison has to beat: twice that for one run of each, as in the live run above;
that divided by $\sqrt{8}$ for the means of the eight seeds. Both comparisons fall inside
their spread:
"""),
code(r"""
gap = summary["gap_unscaled_minus_scaled"]
print(f"gap unscaled - scaled, seed by seed: {', '.join(f'{g:+.2%}' for g in gap['per_seed'])}")
one, means = summary["spread_one_run_each"], summary["spread_of_the_means"]
live_acc = {r["arm"]: r["accuracy"] for r in live}
verdict_live = differ(live_acc["unscaled"], live_acc["scaled"], one, ("unscaled", "scaled"))
verdict_means = differ(summary["accuracy"]["unscaled"]["mean"], summary["accuracy"]["scaled"]["mean"],
                       means, ("unscaled", "scaled"))
print(f"this notebook's seed 0: {live_acc['unscaled'] - live_acc['scaled']:+.2%} against a spread of "
      f"{one:.2%}: {verdict_live}")
print(f"the means of 8 seeds:   {gap['mean']:+.2%} against a spread of {means:.2%}: {verdict_means}")
"""),
code(r"""
finding(gap["min"] < 0 < gap["max"], "the accuracy gap changes sign from seed to seed",
        f"from {gap['min']:+.2%} to {gap['max']:+.2%}")
finding(verdict_means == "no difference", "no difference in accuracy over the 8 seeds",
        f"mean gap {gap['mean']:+.2%}, spread {means:.2%}")
finding(verdict_live == "no difference", "no difference in accuracy between this notebook's two runs",
        f"gap {live_acc['unscaled'] - live_acc['scaled']:+.2%}, spread {one:.2%}");
"""),
md(r"""
**Attention.** Without the scaling, every block's attention ended sharper than with it, on
all eight seeds. How much sharper varies from seed to seed: on seven of them one block
became nearly one-hot, its entropy below 0.5 nats (block 2, on seed 2 block 1); on seed 3
the sharpest block stayed at 1.34 nats. With the scaling no block went below 1.29.
"""),
code(r"""
ent = {(r["arm"], r["seed"]): np.array(r["entropy"]) for r in runs}          # (arm, seed) -> (blocks,)
seeds = summary["seeds"]
sharper = [bool(np.all(ent["unscaled", s] < ent["scaled", s])) for s in seeds]
sharpest = {arm: np.array([ent[arm, s].min() for s in seeds]) for arm in ("scaled", "unscaled")}
print("unscaled sharper in every block:", sharper)
print("sharpest block, unscaled:", sharpest["unscaled"].round(2), " scaled:", sharpest["scaled"].round(2))
"""),
code(r"""
finding(all(sharper), "without the scaling every block's attention is sharper, on every seed",
        f"{sum(sharper)} of {len(seeds)} seeds")
finding(np.sum(sharpest["unscaled"] < 0.5) == 7 and sharpest["unscaled"].max() < 1.4,
        "unscaled: one block below 0.5 nats on 7 of 8 seeds, the sharpest never above 1.4",
        f"sharpest blocks {', '.join(f'{v:.2f}' for v in sharpest['unscaled'])}")
which = [int(ent["unscaled", s].argmin()) + 1 for s in seeds if sharpest["unscaled"][s] < 0.5]
finding(which == [2, 2, 1, 2, 2, 2, 2], "that block is block 2, on seed 2 block 1", f"blocks {which}")
finding(sharpest["scaled"].min() > 1.25, "scaled: no block below 1.29 nats",
        f"sharpest {sharpest['scaled'].min():.2f}")
live_ent = {r["arm"]: r["entropy"] for r in live}
finding(np.all(live_ent["unscaled"] < live_ent["scaled"]),
        "this notebook's seed 0: every block sharper without the scaling",
        f"unscaled {live_ent['unscaled'][0]:.2f}, {live_ent['unscaled'][1]:.2f}; "
        f"scaled {live_ent['scaled'][0]:.2f}, {live_ent['scaled'][1]:.2f}");
"""),
md(r"""
**Gradient.** Where a block went below 0.25 nats (on six seeds), its softmax now lets
through less than half the gradient that the scaled model's same block does. So the
shrinking gradient the table barely showed for random queries and keys does appear once a
model trains without the scaling: its scores grow as the weights learn, some rows harden
until one key takes nearly all the weight, and then little gradient is left to change them.
"""),
code(r"""
share = {(r["arm"], r["seed"]): np.array(r["share"]) for r in runs}
hard = [(s, b) for s in seeds for b in range(2) if ent["unscaled", s][b] < 0.25]   # (seed, block)
ratios = [share["unscaled", s][b] / share["scaled", s][b] for s, b in hard]
print("blocks below 0.25 nats:", ", ".join(f"seed {s} block {b + 1}" for s, b in hard))
print("their share through, as a fraction of the scaled model's:", ", ".join(f"{r:.2f}" for r in ratios))
finding(len({s for s, _ in hard}) == 6 and max(ratios) < 0.5,
        "where a block fell below 0.25 nats, less than half the scaled model's share gets through",
        f"{len(hard)} blocks on {len({s for s, _ in hard})} seeds, largest fraction {max(ratios):.2f}");
"""),
code(r"""
fig, axes = plt.subplots(1, 2, figsize=(10, 2.9), width_ratios=[1, 1.6], layout="constrained")
for i, (name, colour) in enumerate((("scaled", "tab:blue"), ("unscaled", "tab:red"))):
    ents = np.array([ent[name, s] for s in seeds])                  # (seeds, blocks)
    xs = np.arange(2) + (i - 0.5) * 0.36
    axes[0].bar(xs, ents.mean(axis=0), width=0.34, color=colour, alpha=0.7, label=f"{name} (mean of 8 seeds)")
    axes[0].plot(np.broadcast_to(xs, ents.shape), ents, "k.", ms=4)   # each seed
axes[0].axhline(np.log(17), ls="--", color="gray", lw=1, label="uniform: ln 17")
axes[0].set_xticks([0, 1], ["block 1", "block 2"]); axes[0].set_ylabel("attention entropy (nats)")
axes[0].set_ylim(0, 4.3); axes[0].legend(fontsize=7, loc="upper right")
for i, (name, colour) in enumerate((("scaled", "tab:blue"), ("unscaled", "tab:red"))):
    models[name].forward(x_eval[1:2])                               # test digit 1, the "2"
    axes[1].bar(np.arange(17) + (i - 0.5) * 0.4, models[name].blocks[1].attn.att[0, 0, 0], width=0.4,
                color=colour, alpha=0.8, label=name)
axes[1].set_xticks(range(17), ["cls"] + [str(j) for j in range(16)])
axes[1].set_xlabel("key: the class token, then patches 0 to 15"); axes[1].set_ylabel("weight")
axes[1].set_title("block 2, the class token's attention on one digit (this notebook's seed 0)", fontsize=9)
axes[1].legend(fontsize=8);
"""),
md(r"""
So on this problem the scaling bought no accuracy that eight short runs can detect. What it
does, on every seed, is keep attention softer while the model trains; and where attention
without it went nearly one-hot, the scaling kept the gradient that reaches the scores. The short runs cannot say whether that matters later or
on harder data; on 10,000 digits and 1,500 steps it did not.
"""),
md(r"""
## Multi-head attention is a reshape

With $h$ heads, each token's query, key and value are cut into $h$ pieces of width
$D_h = D/h$, and each piece attends on its own: $h$ independent attention patterns, each
free to look for something different. numpyvit never loops over the heads: it reshapes so
that the head becomes one more batch axis and runs every head in one matrix product. Here
are those reshapes, one line each, on the tokens of a real digit going into the first
block of an (untrained) ViT with $D = 64$ and $h = 4$ heads of width $D_h = 16$.
"""),
code(r"""
digit = x_test[1]                                                   # the "2" of notebook 1 (MNIST loaded above)
x = normalize(x_test[1:2])                                          # (1, 1, 28, 28)
model = VisionTransformer(ViTConfig(), seed=0)

# the block's input, as notebook 1 built it: class token + patch embeddings + positions
z0 = model.embed(x)                                                 # (1, 17, 64)
block = model.blocks[0]
xn = block.norm1.forward(z0)            # the block normalises its input first (notebook 3)
attn = block.attn
print("attention input", xn.shape, f" heads h = {attn.heads}, head width Dh = {attn.head_dim}")
"""),
code(r"""
B, N, D = xn.shape
h, Dh = attn.heads, attn.head_dim

qkv = attn.qkv.forward(xn)                    # (B, N, 3D) = (1, 17, 192)
split = qkv.reshape(B, N, 3, h, Dh)           # (B, N, 3, h, Dh): q|k|v, then head, then width
stacked = split.transpose(2, 0, 3, 1, 4)      # (3, B, h, N, Dh): heads become a batch axis
q, k, v = stacked                             # each (B, h, N, Dh) = (1, 4, 17, 16)
scores = q @ k.swapaxes(-1, -2) / np.sqrt(Dh) # (B, h, N, N): all 4 heads in one matmul
att = softmax(scores)                         # (B, h, N, N)
heads_out = att @ v                           # (B, h, N, Dh)
concat = heads_out.transpose(0, 2, 1, 3).reshape(B, N, D)   # (B, N, h*Dh): heads side by side
y = attn.proj.forward(concat)                 # (B, N, D): proj mixes the heads

for name, a in [("xn", xn), ("qkv", qkv), ("split", split), ("stacked", stacked), ("q, k, v", q),
                ("scores", scores), ("att", att), ("heads_out", heads_out), ("concat", concat), ("y", y)]:
    print(f"{name:>9} {a.shape}")
print("same as Attention.forward:", np.allclose(y, attn.forward(xn), atol=1e-6))
assert np.allclose(y, attn.forward(xn), atol=1e-6)
"""),
md(r"""
The reshape `(B, N, 3D) -> (B, N, 3, h, Dh)` is the whole of "splitting into heads": head
$k$'s query is simply columns $k D_h$ to $(k+1) D_h$ of the query part. And
"concatenating the heads" is the inverse transpose and reshape. Checked for head 2:
"""),
code(r"""
q_all = qkv[..., :D]                          # (B, N, D): the query part of qkv's output
print("head 2's queries are columns 32:48:", np.array_equal(q[:, 2], q_all[..., 2 * Dh:3 * Dh]))
print("head 2's output is concat[..., 32:48]:", np.array_equal(heads_out[:, 2], concat[..., 2 * Dh:3 * Dh]))
assert np.array_equal(q[:, 2], q_all[..., 2 * Dh:3 * Dh])
assert np.array_equal(heads_out[:, 2], concat[..., 2 * Dh:3 * Dh])
"""),
md(r"""
Splitting into heads costs no parameters: `qkv` and `proj` have $3D^2 + D^2 = 4D^2$ weights
(plus biases) whatever $h$ is. More heads means more, narrower, independent patterns.
"""),
code(r"""
counts = {heads: Attention(64, heads, rng=0).num_parameters() for heads in (1, 4, 8, 16)}
for heads, n in counts.items():
    print(f"heads = {heads:>2}, Dh = {64 // heads:>2}: {n:,} parameters")
assert set(counts.values()) == {4 * 64 * 64 + 4 * 64}      # 4 D^2 weights + 3D + D biases
"""),
md(r"""
## The attention matrix over a digit

What do the four heads of our untrained layer attend to? Nothing in particular: its
weights start tiny (standard deviation 0.02), so all scores are close to 0 and every weight
is close to $1/17 \approx 0.059$. Structure in attention is *learned*; notebook 7 shows what
the trained ViT's heads look at.
"""),
code(r"""
print(f"untrained attention weights: min {att.min():.4f}, max {att.max():.4f}, 1/17 = {1 / 17:.4f}")
assert np.all(np.abs(att - 1 / 17) < 0.1 / 17)     # every weight within 10% of 1/17
"""),
md(r"""
The models trained above have learned something. Here is one attention row of the scaled
one (seed 0) on our digit: the class token's query in its second block, the row whose
output the classifier reads. Attention is a weighted sum: the class token's output is
$\sum_j a_j v_j$, with one weight per key, drawn as one arrow per key (wider and darker for
a larger weight), and on the right the same weights on the patch grid:
"""),
code(r"""
trained = models["scaled"]
trained.forward(x)                                      # the digit alone, (1, 1, 28, 28)
row = trained.blocks[1].attn.att[0, 0, 0]               # (N,): block 2, the one head, query 0 = class token
draw_attention(row, grid=4, query=0, image=digit,
               title="The class token's attention in block 2 of the trained model: a weighted sum")
"""),
md(r"""
To see what attention *can* do before any training, build a layer by hand whose queries and
keys are the patches' own pixels. Keys $k_j$ and queries $q_i$ are the 49 pixels of each
patch, normalised over the patch with `LayerNorm` (mean 0, variance 1, as the block does
before attention), so $q_i \cdot k_j / \sqrt{49}$ measures how alike patches $i$ and $j$
look. No class token this time: $P = 16$ patches, a $16 \times 16$ matrix.
"""),
code(r"""
pixels = Patchify(patch_size=7).forward(x)[0]           # (P, 49) = (16, 49)
qk = LayerNorm(49).forward(pixels)                      # (16, 49): each patch mean 0, variance 1
content_att = softmax(qk @ qk.T / np.sqrt(49))         # (16, 16)
print("content_att", content_att.shape)
"""),
code(r"""
# one colour scale for all panels; the square-root scale makes small weights like 1/16 visible
scale = dict(cmap="inferno", norm=matplotlib.colors.PowerNorm(0.5, vmin=0, vmax=1))

def on_digit(ax, weights, query):
    # a (4, 4) grid of weights, each cell blown up to its 7 x 7 patch, under the digit's outline
    ax.imshow(np.kron(weights.reshape(4, 4), np.ones((7, 7))), **scale)
    ax.contour(digit, levels=[128], colors="white", linewidths=1)
    r, c = divmod(query, 4)
    ax.add_patch(plt.Rectangle((7 * c - 0.5, 7 * r - 0.5), 7, 7, fill=False, ec="tab:cyan", lw=2))
    ax.set_xticks([]); ax.set_yticks([])
    top = np.argsort(weights)[::-1][:2]
    if np.ptp(weights) < 1e-6:
        ax.set_title(f"row {query}: every patch {weights[0]:.2f}", fontsize=8)
    else:
        ax.set_title(f"row {query}: patch {top[0]} {weights[top[0]]:.2f}, "
                     f"patch {top[1]} {weights[top[1]]:.2f}", fontsize=8)

fig, axes = plt.subplots(1, 4, figsize=(11, 3), width_ratios=[1.4, 1, 1, 1], layout="constrained")
im = axes[0].imshow(content_att, **scale)
axes[0].set_xlabel("key patch j"); axes[0].set_ylabel("query patch i")
axes[0].set_title("attention matrix (16, 16)", fontsize=9)
for ax, i in zip(axes[1:], (0, 10, 14)):
    on_digit(ax, content_att[i], i)
fig.colorbar(im, ax=axes, shrink=0.8, label="attention weight");
"""),
md(r"""
Three kinds of rows stand out (on the right, each query patch is outlined in cyan and the
title gives its two largest weights):
"""),
md(r"""
- **Blank patches** (like patch 0) are constant, so after normalisation they are the zero
  vector: all their scores are 0 and they spread their attention evenly, $1/16$ each,
  collecting the average of everything.
- **Patches with ink** attend mostly to *themselves*: with the same vector as query and key,
  the best match of a patch is always itself.
- What is left goes to patches that *look alike*: patch 10 gives its second-largest weight
  to patch 11, which continues the same stroke, and patch 14 to its neighbours on the
  bottom stroke.
"""),
code(r"""
blank = pixels.std(axis=1) == 0                          # (16,): patches without ink
assert np.allclose(content_att[blank], 1 / 16)           # blank rows: 1/16 each
inky = np.flatnonzero(~blank)
assert np.array_equal(content_att[inky].argmax(axis=1), inky)   # an inky patch: itself first
second = {i: np.argsort(content_att[i])[-2] for i in (10, 14)}
print("second-largest weight: patch 10 ->", second[10], ", patch 14 ->", second[14])
assert second[10] == 11 and second[14] in (13, 15)       # the same stroke, a neighbour
"""),
md(r"""
The second point is why a real attention layer has separate learned matrices $W_q$ and
$W_k$: with $W_q \neq W_k$, a token's query can look for something other than itself ("the
stroke that continues mine", "the patch two rows below"), and the value matrix $W_v$
decides what gets passed along.
"""),
md(r"""
## Attention does not know where tokens are

Nothing in the formula refers to a token's position: permute the input tokens and the
output rows are permuted the same way, with the same values (the attention matrix's rows and
columns are permuted with them). This is why the ViT adds position embeddings to the
tokens before the first block (notebook 1).
"""),
code(r"""
perm = rng.permutation(N)
y = attn.forward(xn).copy()                  # (1, 17, 64)
y_perm = attn.forward(xn[:, perm])           # the same tokens, shuffled
print("attention(shuffled tokens) == shuffled attention(tokens):", np.allclose(y_perm, y[:, perm], atol=1e-6))
assert np.allclose(y_perm, y[:, perm], atol=1e-6)
"""),
md(r"""
> **What to remember**
> - Attention: $\operatorname{softmax}(QK^\top/\sqrt{d_k})\,V$; each row of weights sums to 1, and each token receives a weighted average of the values.
> - Dividing by $\sqrt{d_k}$ keeps the scores at variance 1 whatever the head width, so attention starts equally soft, with equally large gradients, at any $d_k$.
> - Trained without it, attention ends sharper in every block (on all 8 seeds here), sometimes nearly one-hot with little gradient left; the accuracy showed no difference.
> - Multi-head attention is reshapes around one batched matrix product: no extra parameters.
> - Attention ignores token order; position embeddings supply it.
"""),
md(r"""
## Exercises

1. Redo the tiny example with `Attention(dim=4, heads=2, rng=0)`: split each of $Q$, $K$, $V$
   into two heads of width 2 by hand (columns 0-1 and 2-3), compute each head's attention
   with $\sqrt{d_k} = \sqrt 2$, concatenate, and compare with the layer's output.
2. The attention matrix has $N^2$ entries per head. For a 224 x 224 image, how many tokens
   and how many bytes of float32 attention weights per image per layer does ViT-B (12 heads)
   store for patch sizes 32, 16 and 8? What does halving the patch size do to the cost?
3. Add the same vector $c$ to every key. Show that the attention weights do not change.
   (This is why, in notebook 4, the key part of `qkv`'s bias gets a gradient of exactly 0.)
"""),
*solution(r"""
attn2 = Attention(dim=4, heads=2, rng=0, dtype=np.float64)
attn2.qkv.params["weight"][...] = np.concatenate([W_q, W_k, W_v])
attn2.proj.params["weight"][...] = np.eye(4)

outs = []
for cols in (slice(0, 2), slice(2, 4)):              # head 0: columns 0-1, head 1: columns 2-3
    s = Q[:, cols] @ K[:, cols].T / np.sqrt(2)       # (N, N), d_k = 2 now
    outs.append(softmax(s) @ V[:, cols])             # (N, 2)
by_hand = np.concatenate(outs, axis=1)               # (N, 4): the heads side by side
print("two heads by hand == Attention(heads=2):", np.allclose(attn2.forward(X[None])[0], by_hand))
""", "Solution 1 (click to expand)"),
*solution(r"""
# N = (224/p)^2 patches + 1 class token; 12 heads of N x N float32 (4 bytes) weights.
for p in (32, 16, 8):
    n_tok = (224 // p) ** 2 + 1
    print(f"p = {p:>2}: N = {n_tok:>4} tokens, {12 * n_tok ** 2 * 4 / 1e6:7.1f} MB of attention per image per layer")
# Halving p gives 4x the tokens and so 16x the attention entries: attention's cost is
# quadratic in the number of tokens, the rest of the block's is linear.
""", "Solution 2 (click to expand)"),
*solution(r"""
# Every score in row i changes by the same amount q_i . c, and softmax ignores a constant
# added to a whole row: exp(s + t) / sum(exp(s + t)) = exp(s) / sum(exp(s)).
c = rng.standard_normal(4)
A_shifted = softmax(Q @ (K + c).T / np.sqrt(4))
print("attention unchanged:", np.allclose(A_shifted, A))
""", "Solution 3 (click to expand)"),
]
