# Notebook 3: The transformer block. The cells, in order; see build_notebooks.py.

CELLS = [
md(r"""
# 3. The transformer block

A ViT is a stack of identical blocks (6 in our model, 12 in ViT-B). Each block has two
halves, and each half reads a normalised copy of its input and *adds* its result back
(the paper's equations 2 and 3):

$$z'_\ell = \operatorname{MSA}(\operatorname{LN}(z_{\ell-1})) + z_{\ell-1},
\qquad z_\ell = \operatorname{MLP}(\operatorname{LN}(z'_\ell)) + z'_\ell .$$

Notebook 2 took attention (MSA) apart. This one looks at the rest: LayerNorm (LN), the
GELU activation, the MLP, and the residual connections (the "$+ z$") that hold them
together, by watching what each does to the activations of real digits.

Terms used here, in English and Chinese: [the glossary](../docs/glossary.md).
"""),
md(r"""
**What you will learn**

- what LayerNorm computes and what it does to the distribution of each token;
- what GELU looks like next to ReLU, and why its negative side matters;
- that the MLP works on every token separately, and what it does to its input's
  distribution;
- how the pre-norm residual block is wired, why it starts out close to the identity, and
  what happens to the tokens without the residual connections.

**Notation:** `B` batch, `P` patches, `N = P + 1` tokens (the class token is token 0,
patch $i$ is token $i + 1$), `D` embedding width, `M` MLP width, `h` heads.
"""),
code(SETUP),
code(r"""
import inspect

from numpyvit import GELU, Block, LayerNorm, Mlp, ViTConfig, VisionTransformer, load_mnist, normalize
from numpyvit.insight.diagrams import draw_block
"""),
md(r"""
## The input: tokens of 64 digits

As in notebooks 1 and 2, the first block's input is the class token and the patch
embeddings plus the position embedding. We take 64 test digits through an untrained ViT
($N = 17$ tokens, $D = 64$, MLP width $M = 128$).
"""),
code(r"""
x_train, y_train, x_test, y_test = load_mnist()
x = normalize(x_test[:64])                       # (64, 1, 28, 28)
model = VisionTransformer(ViTConfig(), seed=0)
z0 = model.embed(x)                              # [class token; patch embeddings] + positions
print("z0", z0.shape, " (B, N, D)")
"""),
md(r"""
## LayerNorm

LayerNorm normalises each token on its own, over its $D$ channels:

$$\mu = \frac1D \sum_{c} x_c,\qquad \sigma^2 = \frac1D \sum_c (x_c - \mu)^2,\qquad
\hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}},\qquad y = \gamma \odot \hat x + \beta,$$

with a learned gain $\gamma$ (`weight`, starting at 1) and shift $\beta$ (`bias`, starting
at 0), both of shape $(D,)$. Unlike BatchNorm it never mixes tokens or images, so it
behaves the same in training and at test time, for any batch size.
"""),
md(r"""
Our tokens arrive with different sizes. A blank patch is 49 pixels at the background value
$-0.42$, so every blank patch has the same embedding: a blank token is that one fixed vector
plus its position embedding. The class token starts near zero, so it is little more than
its position embedding. A patch with ink has its own, often larger, embedding. The sizes,
as standard deviations over the 64 channels:
"""),
code(r"""
pixels = model.patch_embed.patchify.forward(x)   # (B, P, 49)
blank = pixels.std(axis=-1) == 0                 # (B, P): patches with no ink at all
pos = model.params["pos_embed"][0]               # (N, D)
blank_vector = model.patch_embed.forward(np.full((1, 1, 28, 28), x.min(), np.float32))[0, 0]
stds = z0.std(axis=-1)                           # (B, N): one per token
print(f"{blank.sum()} blank patches of {blank.size}; background value {x.min():.2f}")
print(f"the blank patches' embedding: std {blank_vector.std():.3f}; position embeddings: "
      f"std {pos.std(axis=-1).min():.3f} to {pos.std(axis=-1).max():.3f}")
print(f"tokens: class {stds[:, 0].min():.3f}, blank {stds[:, 1:][blank].min():.3f} to "
      f"{stds[:, 1:][blank].max():.3f}, with ink {stds[:, 1:][~blank].min():.3f} to "
      f"{stds[:, 1:][~blank].max():.3f}")
"""),
code(r"""
b, i = np.nonzero(blank)                                     # image and patch of every blank patch
assert np.allclose(z0[b, 1 + i], blank_vector + pos[1 + i], atol=1e-6)   # one vector + its position
assert np.allclose(z0[:, 0], pos[0], atol=1e-5)             # the class token: its position, nearly
assert 0.05 < blank_vector.std() < 0.065 and pos.std(axis=-1).max() < 0.025
"""),
md(r"""
After LayerNorm every token has mean 0 and standard deviation 1:
"""),
code(r"""
ln = LayerNorm(64)
y = ln.forward(z0)                               # (64, 17, 64), statistics per token
for name, a in (("before", z0), ("after ", y)):
    m, s = a.mean(axis=-1), a.std(axis=-1)       # (B, N): one mean and one std per token
    print(f"{name}: token means from {m.min():+.3f} to {m.max():+.3f}, "
          f"token stds from {s.min():.3f} to {s.max():.3f}")
"""),
code(r"""
fig, axes = plt.subplots(1, 3, figsize=(11, 2.6), layout="constrained")
axes[0].hist(z0.std(axis=-1).ravel(), bins=50, color="tab:gray")
axes[0].set_title("before: std of each token")
axes[0].set_xlabel("standard deviation over the 64 channels")
axes[1].hist(z0.ravel(), bins=100, color="tab:gray")
axes[1].set_title("before: all values")
axes[2].hist(y.ravel(), bins=100, color="tab:blue")
axes[2].set_title("after LayerNorm: all values")
for ax in axes:
    ax.set_yticks([])
"""),
md(r"""
The tokens' widths vary by a factor of about 17 before (left: the lone bar near 0.02 is
the 64 class tokens, the tall spike near 0.06 the many blank patches, one fixed vector
plus their position); after, every token lives on the same scale (right).
"""),
code(r"""
widths = z0.std(axis=-1)                          # (B, N)
print(f"widest token / narrowest: {widths.max() / widths.min():.1f}")
assert 15 < widths.max() / widths.min() < 20      # "about 17"
assert np.allclose(y.std(axis=-1), 1, atol=2e-3) and np.allclose(y.mean(axis=-1), 0, atol=1e-6)   # std 0.999 to 1: epsilon
"""),
md(r"""
One consequence: LayerNorm's output does not change if a token is scaled or shifted as a
whole (apart from the tiny $\epsilon$ under the square root), so the attention and MLP that
read it cannot see a token's overall size, only its *pattern* across channels.
"""),
code(r"""
token = z0[:1, 6:7]                               # one token (an inky patch), (1, 1, D)
diff = np.abs(ln.forward(3 * token + 1) - ln.forward(token)).max()
print(f"largest change of LN(token) when the token becomes 3 * token + 1: {diff:.1e}")
assert diff < 1e-4                                # float32 rounding and epsilon, nothing more
"""),
md(r"""
## GELU

The MLP's non-linearity is the Gaussian Error Linear Unit (Hendrycks & Gimpel 2016),
$\operatorname{GELU}(x) = x\,\Phi(x)$ with $\Phi$ the standard normal's distribution
function: the input times the probability that a standard normal variable is below it.
Like BERT, GPT-2 and the original JAX ViT, numpyvit uses by default its tanh approximation
(`ViTConfig(act="gelu_tanh")`, the layer `GELU`):

$$\operatorname{GELU}(x) \approx \tfrac12 x\left(1 + \tanh\!\left(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\right)\right).$$

timm's ViT uses the exact form $x\,\Phi(x)$ with the error function; numpyvit has it too, as
`ViTConfig(act="gelu")` (the layer `GELUErf`). How far apart the two are is exercise 2.
"""),
md(r"""
GELU is close to ReLU for large $|x|$ but smooth, and it lets small negative values through
(its minimum is about $-0.17$ at $x \approx -0.75$). Its slope is zero only at that
minimum: negative below it, positive above. So a unit that is "off" still receives
gradient, where ReLU's would be exactly 0. The slope below comes straight from
`GELU.backward` with an upstream gradient of ones.
"""),
code(r"""
xs = np.linspace(-4, 4, 401)
gelu = GELU(dtype=np.float64)
ys = gelu.forward(xs)
slope = gelu.backward(np.ones_like(xs))          # d GELU / dx at every point
print(f"minimum {ys.min():.3f} at x = {xs[ys.argmin()]:.2f}; "
      f"slope at x = -2: {slope[xs.searchsorted(-2)]:.3f} (ReLU's: 0)")
assert abs(ys.min() + 0.17) < 0.005 and abs(xs[ys.argmin()] + 0.75) < 0.03
assert np.all(slope[xs < -0.8] < 0) and np.all(slope[xs > -0.7] > 0)

fig, axes = plt.subplots(1, 2, figsize=(9, 2.8), layout="constrained")
axes[0].plot(xs, np.maximum(xs, 0), "--", color="gray", label="ReLU")
axes[0].plot(xs, ys, label="GELU")
axes[0].set_title("activation")
axes[1].plot(xs, (xs > 0).astype(float), "--", color="gray", label="ReLU")
axes[1].plot(xs, slope, label="GELU")
axes[1].set_title("slope (from GELU.backward)")
for ax in axes:
    ax.axhline(0, color="black", lw=0.5); ax.axvline(0, color="black", lw=0.5)
    ax.legend(); ax.set_xlabel("x")
"""),
md(r"""
## The MLP

The MLP is two linear layers with GELU in between: $D \to M \to D$, here $64 \to 128 \to
64$ (the paper uses $M = 4D$; we use $2D$). It is applied to every token *separately*,
with the same weights: tokens exchange information only in attention, and the MLP then
processes what each token has gathered. Running the MLP on one token alone gives exactly
that token's row of the full output:
"""),
code(r"""
mlp = model.blocks[0].mlp
print(f"fc1 {mlp.fc1.params['weight'].shape}, fc2 {mlp.fc2.params['weight'].shape}  (out, in)")
full = mlp.forward(y).copy()                       # (64, 17, 64): all tokens at once
alone = mlp.forward(y[:, 7:8])                     # (64, 1, 64): token 7 by itself
print("MLP(token 7 alone) == MLP(all tokens)[:, 7]:", np.allclose(alone[:, 0], full[:, 7], atol=1e-6))
assert np.allclose(alone[:, 0], full[:, 7], atol=1e-6)
"""),
md(r"""
What does GELU do to the distribution flowing through the MLP? At initialisation, with
weights of standard deviation 0.02 (timm's choice), `fc1`'s outputs are small (standard
deviation about 0.13), and there GELU is close to the straight line $x/2$: its output's
standard deviation is half its input's. The untrained MLP is almost linear. For a weight
scale that keeps the variance ($1/\sqrt{D}$, the "LeCun" scale), the pre-activations have
standard deviation about 1 and GELU's shape shows: the negative half is squashed into
$[-0.17, 0]$ while the positive half passes.
"""),
code(r"""
lecun = Mlp(64, 128, rng=np.random.default_rng(1))
lecun.fc1.params["weight"][...] = rng.standard_normal((128, 64)) / np.sqrt(64)   # std 1/sqrt(D)

hidden = {}                                        # name -> (fc1 output, after GELU)
for m, name in ((mlp, "timm init (std 0.02)"), (lecun, "LeCun scale (std 1/sqrt(D))")):
    pre = m.fc1.forward(y)                         # (64, 17, 128): the hidden layer before GELU
    hidden[name] = pre, m.act.forward(pre).copy()  # after GELU

fig, axes = plt.subplots(1, 2, figsize=(9, 2.8), layout="constrained")
for ax, (name, (pre, post)) in zip(axes, hidden.items()):
    bins = np.linspace(pre.min(), pre.max(), 80)
    ax.hist(pre.ravel(), bins=bins, alpha=0.6, label=f"fc1 output (std {pre.std():.2f})")
    ax.hist(post.ravel(), bins=bins, alpha=0.6, label=f"after GELU (std {post.std():.2f})")
    ax.set_title(name); ax.set_yticks([]); ax.legend(fontsize=8)
"""),
code(r"""
(pre, post), (pre_l, post_l) = hidden.values()
assert 0.1 < pre.std() < 0.16 and 0.45 < post.std() / pre.std() < 0.55   # small, and halved
assert abs(pre_l.std() - 1) < 0.1 and post_l.min() >= -0.171         # negative half squashed
assert np.allclose(post_l[pre_l > 3], pre_l[pre_l > 3], atol=0.01)    # large positives pass
"""),
md(r"""
## The pre-norm residual block

The block as a diagram, drawn by `numpyvit.insight.diagrams` from the config (so the shapes
are those of `ViTConfig()`: $N = 17$ tokens, $D = 64$, $h = 4$ heads of $D_h = 16$,
$M = 128$). The residual stream runs straight down the left; each branch reads a normalised
copy of it and adds its result back at a $+$:
"""),
code(r"""
draw_block(ViTConfig())
"""),
md(r"""
And here is `Block.forward`, the paper's equations 2 and 3, the diagram in code:
"""),
code(r"""
print(inspect.getsource(Block.forward))
"""),
md(r"""
Think of $x$ as a *residual stream* that runs from the patch embedding to the classifier.
Each half-block reads a normalised copy of the stream, computes something, and adds it to
the stream. The stream itself is never normalised inside the block: this is the *pre-norm*
arrangement of the ViT (and GPT-2). The original Transformer normalised after the sum,
$x = \operatorname{LN}(x + f(x))$ ("post-norm"), which puts a LayerNorm on the main path
in every layer and makes deep stacks harder to train without a careful learning-rate
warm-up (Xiong et al. 2020).
"""),
md(r"""
Follow one block's activations for our 64 digits. Each histogram is one intermediate
tensor of the first block, with its standard deviation:
"""),
code(r"""
blk = model.blocks[0]
stages = {"stream in: z0": z0}
stages["norm1(z0)"] = blk.norm1.forward(z0)
stages["attn branch"] = blk.attn.forward(stages["norm1(z0)"]).copy()
stages["z0 + attn"] = z0 + stages["attn branch"]
stages["norm2(...)"] = blk.norm2.forward(stages["z0 + attn"])
stages["fc1"] = blk.mlp.fc1.forward(stages["norm2(...)"])
stages["GELU"] = blk.mlp.act.forward(stages["fc1"])
stages["mlp branch (fc2)"] = blk.mlp.fc2.forward(stages["GELU"])
stages["stream out"] = stages["z0 + attn"] + stages["mlp branch (fc2)"]

fig, axes = plt.subplots(3, 3, figsize=(10, 5.2), layout="constrained")
for ax, (name, a) in zip(axes.flat, stages.items()):
    ax.hist(a.ravel(), bins=80, color="tab:blue" if "norm" in name else "tab:gray")
    ax.set_title(f"{name}   std {a.std():.3f}", fontsize=9)
    ax.set_yticks([])
print("the last stage matches Block.forward:", np.allclose(stages["stream out"], blk.forward(z0), atol=1e-6))
"""),
code(r"""
sd = {name: a.std() for name, a in stages.items()}
assert np.allclose(stages["stream out"], blk.forward(z0), atol=1e-6)
assert abs(sd["norm1(z0)"] - 1) < 1e-3 and abs(sd["norm2(...)"] - 1) < 1e-3
assert max(sd["attn branch"], sd["mlp branch (fc2)"]) < 0.02 < 0.1 < sd["stream in: z0"]   # ~0.01 vs 0.12
assert abs(sd["stream out"] / sd["stream in: z0"] - 1) < 0.02        # the stream hardly changes
"""),
md(r"""
Reading the grid row by row:

- The two normalised tensors (blue) have standard deviation 1, whatever the stream's.
- Both branch outputs, `attn branch` and `mlp branch (fc2)`, are tiny (standard deviation
  about 0.01) next to the stream (0.12): at initialisation each block adds almost
  nothing, so **the whole network starts out close to the identity map** plus a
  classifier. Training grows the branches only as far as they help.
- The stream's histogram hardly changes from `stream in` to `stream out` (its standard
  deviation by 1%).
"""),
md(r"""
## What the residual connections are for

Why keep the stream at all; why not simply $x \leftarrow \operatorname{MLP}(\operatorname{LN}(\operatorname{MSA}(\operatorname{LN}(x))))$?
Remember from notebook 2 that an untrained attention layer attends almost uniformly, so its
output for every token is nearly the *same* average. Without the residual connection that
average *replaces* the tokens, and the 17 different tokens of an image collapse into one.
We measure how different the tokens of each image are with
$\lVert z - \bar z \rVert / \lVert z \rVert$ (with $\bar z$ the mean token of the image)
through a 12-block stack, with and without the "$+ z$":
"""),
code(r"""
deep = VisionTransformer(ViTConfig(depth=12), seed=0)

def spread(z):
    # how different the tokens of each image are, relative to their size: 0 = all identical
    return np.linalg.norm(z - z.mean(axis=1, keepdims=True)) / np.linalg.norm(z)

def entropy(att):
    # -sum_j a_j ln a_j over the keys, in nats: ln N for uniform attention, 0 for one-hot
    return -(att * np.log(att)).sum(axis=-1)       # (B, h, N)

with_res = without_res = deep.embed(x)
spreads = {"with residuals (the ViT)": [spread(with_res)], "without residuals": [spread(without_res)]}
entropies, largest = [], []                        # of every block's attention, both stacks
for blk in deep.blocks:
    with_res = blk.forward(with_res)
    entropies.append(entropy(blk.attn.att)); largest.append(blk.attn.att.max())
    without_res = blk.attn.forward(blk.norm1.forward(without_res))    # the same layers, no "+ z"
    entropies.append(entropy(blk.attn.att)); largest.append(blk.attn.att.max())
    without_res = blk.mlp.forward(blk.norm2.forward(without_res))
    spreads["with residuals (the ViT)"].append(spread(with_res))
    spreads["without residuals"].append(spread(without_res))
"""),
code(r"""
fig, ax = plt.subplots(figsize=(5.5, 2.8), layout="constrained")
for name, values in spreads.items():
    ax.plot(range(13), values, "o-", ms=3, label=name)
ax.set_xlabel("blocks applied"); ax.set_ylabel("token spread")
ax.set_xticks(range(13)); ax.legend(); ax.grid(alpha=0.3)
for name, values in spreads.items():
    print(f"{name:>24}: spread {values[0]:.3f} at the input, {values[1]:.4f} after 1 block, "
          f"{values[2]:.2g} after 2, {values[-1]:.4f} after 12")
"""),
md(r"""
Without residuals, one block is enough to make the tokens of an image nearly identical,
and after two they are identical to float precision: every trace of which patch was where
is gone before training even starts (the effect is analysed by Dong et al. 2021, "Attention
is not all you need: pure attention loses rank doubly exponentially with depth"). With
residuals the tokens keep their identity through all 12 blocks.
"""),
code(r"""
kept, lost = spreads["with residuals (the ViT)"], spreads["without residuals"]
assert lost[1] < 0.05 * lost[0]                     # one block: nearly identical tokens
assert max(lost[2:]) < 1e-5                         # from two on: identical up to float32 rounding
assert min(kept) > 0.9 * kept[0]                    # with residuals, all 12 blocks keep them apart
"""),
md(r"""
This is a measurement *at initialisation*, and it rests on attention being close to uniform
there. How close? The entropy of an attention row, $-\sum_j a_j \ln a_j$, is $\ln N$ for
uniform weights and 0 for a row that picks one token:
"""),
code(r"""
entropies, largest = np.stack(entropies), max(largest)    # (2 * 12, B, h, N): every row measured
N = z0.shape[1]
print(f"attention entropy over every row of all 24 passes: mean {entropies.mean():.5f} nats, "
      f"smallest {entropies.min():.5f}; uniform ln {N} = {np.log(N):.5f}")
print(f"largest single weight {largest:.4f}; uniform 1/{N} = {1 / N:.4f}")
assert entropies.min() > 0.999 * np.log(N)      # every row within 0.1% of uniform
assert largest < 1.2 / N                        # no weight even 20% above 1/N
"""),
md(r"""
Every row is within 0.1% of the uniform entropy, and no weight is even 20% above $1/17$:
the untrained attention really is an average over the tokens, so without the "$+ z$" it
replaces each token by (nearly) the same average. A trained attention layer is far from
uniform (notebook 7), so how fast a trained stack without residuals would lose its tokens is
a different question; what the residual connections guarantee is that the untrained stack,
where training has to start, does not.
"""),
md(r"""
The same holds for gradients. The derivative of $x + f(x)$ is $1 + f'(x)$, so the backward
pass sends the incoming gradient straight through, and adds the branch's contribution to
it. Here is `Block.backward`; notebook 4 derives the pieces:
"""),
code(r"""
print(inspect.getsource(Block.backward))
"""),
md(r"""
> **What to remember**
> - LayerNorm rescales each token on its own to mean 0 and standard deviation 1 (then $\gamma$, $\beta$): the branches see a token's pattern, not its size.
> - The MLP, $D \to M \to D$ with GELU, works on every token separately; only attention mixes tokens.
> - GELU is a smooth ReLU with a small negative dip; numpyvit uses the tanh form by default, timm the exact erf form.
> - Pre-norm residual block: $z' = z + \operatorname{MSA}(\operatorname{LN}(z))$, $z_\text{out} = z' + \operatorname{MLP}(\operatorname{LN}(z'))$; the stream is only added to.
> - At initialisation each block is close to the identity; without the "$+ z$" the tokens of an image collapse into one within two blocks.
"""),
md(r"""
## Exercises

1. Count the parameters of one block by hand for $D = 64$, $M = 128$ (two LayerNorms,
   `qkv`, `proj`, `fc1`, `fc2`, with their biases) and check with
   `Block(64, 4, 128, rng=0).num_parameters()`. What fraction is the MLP?
2. The exact GELU is $x\,\Phi(x) = \tfrac12 x\,(1 + \operatorname{erf}(x/\sqrt2))$. How far
   is numpyvit's tanh approximation from it on $[-5, 5]$? (`math.erf` works on one number;
   `GELUErf` is the exact form as a layer.)
3. LayerNorm's output cannot see a token's overall size (see above). So where does that
   information go? Show that a block's output *does* change when one token is scaled.
"""),
*solution(r"""
D, M = 64, 128
by_hand = {"norm1 + norm2": 2 * 2 * D, "qkv": 3 * D * D + 3 * D, "proj": D * D + D,
           "fc1": D * M + M, "fc2": M * D + D}
total = sum(by_hand.values())
print(by_hand, "total", total)
print("Block(64, 4, 128, rng=0).num_parameters():", Block(64, 4, 128, rng=0).num_parameters())
print(f"MLP share: {(by_hand['fc1'] + by_hand['fc2']) / total:.0%}")
""", "Solution 1 (click to expand)"),
*solution(r"""
import math
xs = np.linspace(-5, 5, 2001)
exact = 0.5 * xs * (1 + np.array([math.erf(v / math.sqrt(2)) for v in xs]))
approx = GELU(dtype=np.float64).forward(xs)
worst = np.abs(exact - approx).argmax()
print(f"largest difference {abs(exact - approx)[worst]:.1e} at x = {xs[worst]:.2f}")
""", "Solution 2 (click to expand)"),
*solution(r"""
# The residual stream keeps it: the block adds its branches to the *unnormalised* token, so
# a token scaled by 3 comes out of the block (nearly) 3 times larger, although the branches
# themselves read the same normalised input.
blk = model.blocks[0]
scaled = z0.copy()
scaled[:, 5] *= 3
out, out_scaled = blk.forward(z0).copy(), blk.forward(scaled)
ratio = np.linalg.norm(out_scaled[:, 5]) / np.linalg.norm(out[:, 5])
print(f"token 5 scaled by 3 -> its output is {ratio:.2f} times larger")
""", "Solution 3 (click to expand)"),
]
