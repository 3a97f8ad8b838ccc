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

**What you will learn**

- how $Q$, $K$, $V$, the scores and the attention weights are computed, by hand on a
  4-token example, and that numpyvit's `Attention` computes exactly the same;
- why the scores are divided by $\sqrt{d_k}$: without it the softmax saturates and its
  gradient vanishes;
- that multi-head attention is nothing but reshapes around one batched matrix product;
- what an attention matrix looks like over the patches of a real digit;
- why attention by itself is blind to the order of the tokens.

**Shape legend:** `B` batch, `N` tokens, `D` embedding width, `h` heads,
`Dh` = D/h head width ($d_k$ in the formula).
"""),
code(SETUP),
code(r"""
import matplotlib

from numpyvit import Attention, LayerNorm, Patchify, ViTConfig, VisionTransformer, load_mnist, normalize
from numpyvit import softmax, softmax_backward
"""),
md(r"""
A note on `softmax`: numpyvit's version works on a stack of score matrices shaped
$(B, h, N, N)$ and normalises every row (each query's scores over the keys), so below we
wrap single matrices as `scores[None, None]`, a batch of one with one head.

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
A = softmax(scores[None, None])[0, 0]               # (N, N), row-wise softmax
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
attn = Attention(dim=4, heads=1, dtype=np.float64)
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

Why do large scores hurt? The softmax of large numbers is nearly one-hot: one weight near 1,
the rest near 0. Its gradient, $\partial a_i / \partial s_j = a_i(\delta_{ij} - a_j)$
(derived in notebook 4), is then nearly zero everywhere, so the scores, and the queries and
keys behind them, stop learning. Let us measure both effects on 2,000 random
$17 \times 17$ attention matrices (our ViT has 17 tokens) with unit-variance queries and
keys, without and with the scaling.
"""),
code(r"""
def saturation(scores, rng):
    # mean largest weight per row, and the size of the gradient that reaches the scores
    att = softmax(scores.copy())                                      # (B, 1, N, N)
    datt = rng.standard_normal(att.shape)                             # some upstream gradient
    dscores = softmax_backward(att, datt)                             # (B, 1, N, N)
    return att.max(axis=-1).mean(), np.linalg.norm(dscores) / np.linalg.norm(datt)

print(f"{'d_k':>4} | {'std of q.k':>10} {'max weight':>10} {'grad size':>9} | "
      f"{'std of q.k/sqrt(d_k)':>20} {'max weight':>10} {'grad size':>9}")
for d_k in (4, 16, 64, 256):
    q = rng.standard_normal((2000, 1, 17, d_k))                       # (B, h, N, Dh)
    k = rng.standard_normal((2000, 1, 17, d_k))
    raw = q @ k.swapaxes(-1, -2)                                      # (B, h, N, N)
    scaled = raw / np.sqrt(d_k)
    m_raw, g_raw = saturation(raw, rng)
    m_scaled, g_scaled = saturation(scaled, rng)
    print(f"{d_k:>4} | {raw.std():>10.1f} {m_raw:>10.2f} {g_raw:>9.3f} | "
          f"{scaled.std():>20.2f} {m_scaled:>10.2f} {g_scaled:>9.3f}")
"""),
md(r"""
Without the scaling, the scores' spread grows as $\sqrt{d_k}$; already at $d_k = 64$ (the
head width of ViT-B) the largest weight in a row averages above 0.8, and the gradient
that reaches the scores shrinks steadily as $d_k$ grows. With the scaling, the spread stays 1, the
attention stays soft, and the gradient keeps the same size at every width. One row of each
kind, at $d_k = 64$:
"""),
code(r"""
d_k = 64
q, k = rng.standard_normal((2, 1, 1, 17, d_k))                      # one 17-token example
raw = q @ k.swapaxes(-1, -2)                                         # (1, 1, 17, 17)
rows = {"q.k (unscaled)": softmax(raw.copy())[0, 0, 0],
        "q.k / sqrt(d_k)": softmax(raw / np.sqrt(d_k))[0, 0, 0]}
fig, axes = plt.subplots(1, 2, figsize=(9, 2.4), sharey=True, layout="constrained")
for ax, (name, a) in zip(axes, rows.items()):
    ax.bar(range(17), a, color="tab:blue")
    ax.set_title(f"softmax of {name}: max weight {a.max():.2f}")
    ax.set_xlabel("key token")
    ax.set_xticks(range(0, 17, 4))
axes[0].set_ylabel("attention weight of query 0");
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
x_train, y_train, x_test, y_test = load_mnist()
digit = x_test[1]                                                   # the "2" of notebook 1
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
"""),
md(r"""
The reshape `(B, N, 3D) -> (B, N, 3, h, Dh)` is the whole of "splitting into heads": head
$k$'s query is simply columns $k D_h$ to $(k+1) D_h$ of the query part. And
"concatenating the heads" is the inverse transpose and reshape. Checked for head 2:
"""),
code(r"""
q_all = qkv[..., :D]                          # (B, N, D): the query part of qkv's output
print("head 2's queries are columns 32:48:", np.allclose(q[:, 2], q_all[..., 2 * Dh:3 * Dh]))
print("head 2's output is concat[..., 32:48]:", np.allclose(heads_out[:, 2], concat[..., 2 * Dh:3 * Dh]))
"""),
md(r"""
Splitting into heads costs no parameters: `qkv` and `proj` have $3D^2 + D^2 = 4D^2$ weights
(plus biases) whatever $h$ is. More heads means more, narrower, independent patterns.
"""),
code(r"""
for heads in (1, 4, 8, 16):
    print(f"heads = {heads:>2}, Dh = {64 // heads:>2}: {Attention(64, heads).num_parameters():,} parameters")
"""),
md(r"""
## The attention matrix over a digit

What do the four heads of our untrained layer attend to? Nothing in particular: its
weights start tiny (standard deviation 0.02), so all scores are close to 0 and every weight
is close to $1/17 \approx 0.059$. Structure in attention is *learned*; notebook 6 shows what
the trained ViT's heads look at.
"""),
code(r"""
print(f"untrained attention weights: min {att.min():.4f}, max {att.max():.4f}, 1/17 = {1 / 17:.4f}")
"""),
md(r"""
To see what attention *can* do before any training, build a layer by hand whose queries and
keys are the patches' own pixels. Keys $k_j$ and queries $q_i$ are the 49 pixels of each
patch, normalised over the patch with `LayerNorm` (mean 0, variance 1, as the block does
before attention), so $q_i \cdot k_j / \sqrt{49}$ measures how alike patches $i$ and $j$
look. No class token this time: 16 patches, a $16 \times 16$ matrix.
"""),
code(r"""
pixels = Patchify(patch_size=7).forward(x)[0]           # (N, 49) = (16, 49)
qk = LayerNorm(49).forward(pixels)                      # (16, 49): each patch mean 0, variance 1
content_att = softmax((qk @ qk.T / np.sqrt(49))[None, None])[0, 0]   # (16, 16)
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
fig.colorbar(im, ax=axes, shrink=0.8, label="attention weight")
"""),
md(r"""
Three kinds of rows stand out (on the right, each query patch is outlined in cyan and the
title gives its two largest weights):

- **Blank patches** (like patch 0) are constant, so after normalisation they are the zero
  vector: all their scores are 0 and they spread their attention evenly, $1/16$ each,
  collecting the average of everything.
- **Patches with ink** attend mostly to *themselves*: with the same vector as query and key,
  the best match of a patch is always itself.
- What is left goes to patches that *look alike*: patch 10 gives its second-largest weight
  to patch 11, which continues the same stroke, and patch 14 to its neighbours on the
  bottom stroke.

The second point is why a real attention layer has separate learned matrices $W_q$ and
$W_k$: with $W_q \neq W_k$, a token's query can look for something other than itself ("the
stroke that continues mine", "the patch two rows below"), and the value matrix $W_v$
decides what gets passed along.

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
"""),
md(r"""
## Exercises

1. Redo the tiny example with `Attention(dim=4, heads=2)`: split each of $Q$, $K$, $V$
   into two heads of width 2 by hand (columns 0-1 and 2-3), compute each head's attention
   with $\sqrt{d_k} = \sqrt 2$, concatenate, and compare with the layer's output.
2. The attention matrix has $N^2$ entries per head. For a 224 x 224 image, how many tokens
   and how many bytes of float32 attention weights per image per layer does ViT-B (12 heads)
   store for patch sizes 32, 16 and 8? What does halving the patch size do to the cost?
3. Add the same vector $c$ to every key. Show that the attention weights do not change.
   (This is why, in notebook 4, the key part of `qkv`'s bias gets a gradient of exactly 0.)
"""),
*solution(r"""
attn2 = Attention(dim=4, heads=2, dtype=np.float64)
attn2.qkv.params["weight"][...] = np.concatenate([W_q, W_k, W_v])
attn2.proj.params["weight"][...] = np.eye(4)

outs = []
for cols in (slice(0, 2), slice(2, 4)):              # head 0: columns 0-1, head 1: columns 2-3
    s = Q[:, cols] @ K[:, cols].T / np.sqrt(2)       # (N, N), d_k = 2 now
    outs.append(softmax(s[None, None])[0, 0] @ V[:, cols])   # (N, 2)
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
A_shifted = softmax(((Q @ (K + c).T) / np.sqrt(4))[None, None])[0, 0]
print("attention unchanged:", np.allclose(A_shifted, A))
""", "Solution 3 (click to expand)"),
]
