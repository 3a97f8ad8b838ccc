# Notebook 4: Backprop by hand. The cells, in order; see build_notebooks.py.

CELLS = [
md(r"""
# 4. Backprop by hand

numpyvit has no automatic differentiation: every layer's `backward` was derived on paper
and written out by hand. This notebook derives the ones that take the most thought (the
loss, softmax, LayerNorm and attention) and the one rule that catches most students out (a
broadcast in the forward pass is a sum in the backward pass), each next to the code that
implements it, and then does what makes hand-written gradients trustworthy: it checks them
against numerical derivatives, and breaks one on purpose to see the check fail.

Terms used here, in English and Chinese: [the glossary](../docs/glossary.md).
"""),
md(r"""
**What you will learn**

- the layer protocol: what `forward` saves, what `backward` receives, returns and
  accumulates;
- where backpropagation starts: the gradient of softmax cross-entropy, $(p - y)/B$;
- the backward passes of a linear layer, softmax, LayerNorm, attention and the residual
  block, derived step by step;
- why a parameter that is broadcast (a bias, the class token, the position embedding)
  receives the *sum* of the gradients of all its copies;
- how `numpyvit.gradcheck` compares each gradient with a finite difference, how to read
  its table, and why it runs in float64;
- what a wrong gradient looks like in that table.
"""),
md(r"""
**Notation.** $L$ is the scalar loss. For any tensor $X$ in the network we write
$dX = \partial L / \partial X$: it has the same shape as $X$, and it is what the code
calls `dout`, `datt`, `dq` and so on. A layer's `backward(dout)` receives $dY$ for its
output $Y$ and returns $dX$ for its input $X$. Shapes: `B` batch, `P` patches, `N = P + 1`
tokens (the class token is token 0), `D` width, `K` classes.
"""),
code(SETUP),
code(r"""
import inspect

from numpyvit import (GELU, Attention, Block, LayerNorm, Linear, ViTConfig, VisionTransformer,
                      format_table, gradcheck, max_rel_error)
from numpyvit import SoftmaxCrossEntropy, random_point, softmax, softmax_backward
from numpyvit.gradcheck import numerical_gradient
"""),
md(r"""
## The protocol, on the simplest layer

A `Linear` layer computes $Y = X W^\top + b$ for every row (token) $x$ of $X$. Its
`forward` saves the input $X$, the one thing its backward needs. By the chain rule, with
$y_o = \sum_i W_{oi} x_i + b_o$:

$$dW = dY^\top X \quad (\text{summed over all rows}),\qquad db = \textstyle\sum_\text{rows} dY,\qquad dX = dY\, W .$$

`backward` returns $dX$ and **adds** $dW$ and $db$ into `self.grads` (`+=`, never `=`): a
parameter used in several places collects the gradient from each. That is why the
training loop calls `zero_grad()` before every backward pass.
"""),
code(r"""
print(inspect.getsource(Linear.backward))
"""),
md(r"""
## Where backpropagation starts: softmax cross-entropy

The first gradient of the backward pass is the loss's, with respect to the logits. For one
image with logits $z \in \mathbb{R}^K$ and label $y$, the probabilities are
$p_k = e^{z_k} / \sum_m e^{z_m}$ and the loss is

$$\ell = -\ln p_y = -z_y + \ln \sum_m e^{z_m} .$$
"""),
md(r"""
Differentiate each term with respect to $z_j$: the first gives $-1$ if $j = y$ and 0
otherwise, which is $-y_j$ with $y$ the one-hot vector of the label; the second gives
$e^{z_j} / \sum_m e^{z_m} = p_j$. So

$$\frac{\partial \ell}{\partial z_j} = p_j - y_j .$$
"""),
md(r"""
The softmax's Jacobian $\operatorname{diag}(p) - pp^\top$ (next section) is hidden in here,
but combined with the logarithm it collapses to this one subtraction: the model is pushed up
on the true class by $1 - p_y$ and down on every other class by its probability. The
training loss is the mean over a batch of $B$ images, $L = \frac1B \sum_b \ell_b$, and each
image's logits appear only in its own term, so

$$dZ = \frac{P - Y}{B} \qquad (B, K).$$

With label smoothing the one-hot $y$ becomes a smoothed target $q$ that still sums to 1, and
the same two lines give $(P - Q)/B$. The code is the formula:
"""),
code(r"""
print(inspect.getsource(SoftmaxCrossEntropy.backward))
"""),
md(r"""
A check in float64 on a batch of 4 with 10 classes: the code against the formula, and the
formula against a numerical derivative of the loss.
"""),
code(r"""
B, K = 4, 10
logits = 3 * rng.standard_normal((B, K))             # (B, K), float64
labels = np.array([3, 0, 9, 3])                      # (B,)
loss_fn = SoftmaxCrossEntropy()
loss_fn.forward(logits, labels)
dlogits = loss_fn.backward()                         # (B, K)

onehot = np.eye(K)[labels]                           # (B, K)
formula = (softmax(logits.copy()) - onehot) / B
numeric = numerical_gradient(lambda: loss_fn.forward(logits, labels), logits).reshape(B, K)
print(f"code - (p - y)/B      : largest |difference| {np.abs(dlogits - formula).max():.1e}")
print(f"code - numerical      : largest |difference| {np.abs(dlogits - numeric).max():.1e}")
print(f"each row of dZ sums to: {np.abs(dlogits.sum(axis=1)).max():.1e}")
"""),
code(r"""
assert np.abs(dlogits - formula).max() < 1e-12
assert np.abs(dlogits - numeric).max() < 1e-9
assert np.abs(dlogits.sum(axis=1)).max() < 1e-15
"""),
md(r"""
Each row of $dZ$ sums to zero, because $\sum_j p_j = \sum_j y_j = 1$: adding the same
number to all of an image's logits changes no probability, so the loss cannot have a
gradient in that direction.
"""),
md(r"""
## Softmax

Attention normalises every row of scores $s$ with $a_i = e^{s_i} / \sum_k e^{s_k}$.
Differentiating the quotient:

$$\frac{\partial a_i}{\partial s_j} = a_i\,(\delta_{ij} - a_j),
\qquad\text{i.e. the Jacobian is } \operatorname{diag}(a) - a a^\top .$$

Given $da$, the chain rule sums over every $a_i$ that $s_j$ affects:

$$ds_j = \sum_i da_i\, a_i(\delta_{ij} - a_j) = a_j\Big(da_j - \sum_i a_i\, da_i\Big),
\qquad ds = a \odot \big(da - (a \cdot da)\big).$$

The $N \times N$ Jacobian is never built: one dot product per row is enough. The code is
this formula and nothing else:
"""),
code(r"""
print(inspect.getsource(softmax_backward))
"""),
md(r"""
A check against the full Jacobian on one row of 5 scores. (numpyvit's `softmax` works on
stacks of square score matrices $(B, h, N, N)$; we take row 0 of a $5 \times 5$ matrix.)
"""),
code(r"""
s = rng.standard_normal((1, 1, 5, 5))                # (B, h, N, N)
a = softmax(s.copy())                                # (B, h, N, N), rows sum to 1
da = rng.standard_normal(a.shape)                    # an upstream gradient
J = np.diag(a[0, 0, 0]) - np.outer(a[0, 0, 0], a[0, 0, 0])   # (5, 5): d a_i / d s_j for row 0
print("J^T da     :", J.T @ da[0, 0, 0])
print("formula    :", softmax_backward(a, da)[0, 0, 0])
"""),
code(r"""
assert np.allclose(J.T @ da[0, 0, 0], softmax_backward(a, da)[0, 0, 0], atol=1e-12)
"""),
md(r"""
## LayerNorm

For one token $x \in \mathbb{R}^D$ (every token is independent), with
$\mu = \frac1D\sum_c x_c$, $\sigma^2 = \frac1D\sum_c (x_c-\mu)^2$ and the reciprocal
standard deviation $r = (\sigma^2 + \epsilon)^{-1/2}$:

$$\hat x = (x - \mu)\,r, \qquad y = \gamma \odot \hat x + \beta .$$

The parameters are the easy part: $d\gamma = \sum_\text{tokens} dy \odot \hat x$ and
$d\beta = \sum_\text{tokens} dy$; and $d\hat x = dy \odot \gamma$.
"""),
md(r"""
For the input, every $\hat x_i$ depends on every $x_j$, through $x_j$ itself, through the
mean and through the variance. With $\partial\mu/\partial x_j = 1/D$ and
$\partial\sigma^2/\partial x_j = 2(x_j-\mu)/D$, so that
$\partial r/\partial x_j = -r^3 (x_j - \mu)/D$:

$$\frac{\partial \hat x_i}{\partial x_j}
= r\Big(\delta_{ij} - \frac1D\Big) - (x_i-\mu)\,r^3\,\frac{x_j-\mu}{D}
= r\Big(\delta_{ij} - \frac1D - \frac{\hat x_i\,\hat x_j}{D}\Big).$$
"""),
md(r"""
Summing over $i$ against $d\hat x_i$:

$$dx_j = r\Big(d\hat x_j \;-\; \underbrace{\tfrac1D\textstyle\sum_i d\hat x_i}_{\text{through } \mu}
\;-\; \hat x_j\,\underbrace{\tfrac1D\textstyle\sum_i d\hat x_i\,\hat x_i}_{\text{through } \sigma^2}\Big).$$

So `forward` saves exactly $\hat x$ (`self.xhat`) and $r$ (`self.rstd`), and `backward`
is this formula, with the two means labelled in its comment:
"""),
code(r"""
print(inspect.getsource(LayerNorm.backward))
"""),
md(r"""
## Attention

Per head (the batch and head axes just come along), the forward pass is

$$[Q, K, V] = \operatorname{split}(X W_{qkv}^\top + b_{qkv}),\quad
S = \tfrac{1}{\sqrt{D_h}}\, Q K^\top,\quad A = \operatorname{softmax}(S),\quad
O = A V,\quad Y = \operatorname{proj}(\operatorname{concat}(O)).$$
"""),
md(r"""
Walk it backwards. Two rules do all the work: for a matrix product $C = PR$,
$dP = dC\,R^\top$ and $dR = P^\top dC$; and the backward of a reshape or transpose is the
inverse reshape or transpose. So, from $dY$:

1. `proj.backward` gives $d\,\operatorname{concat}(O)$; un-concatenate the heads to get $dO$;
2. $O = AV$: $\;dA = dO\,V^\top$ and $dV = A^\top dO$;
3. the softmax, row by row: $\;dS = A \odot \big(dA - \operatorname{rowsum}(dA \odot A)\big)$;
4. $S = \frac{1}{\sqrt{D_h}} QK^\top$: $\;dQ = \frac{1}{\sqrt{D_h}}\, dS\,K$ and
   $dK = \frac{1}{\sqrt{D_h}}\, dS^\top Q$;
5. stack $dQ, dK, dV$ back into the fused layout and run `qkv.backward`.

`forward` saves $Q$, $K$, $V$ and $A$ for this. The code, step by step:
"""),
code(r"""
print(inspect.getsource(Attention.backward))
"""),
md(r"""
## The residual block

For $y = x + f(x)$ the chain rule gives $dx = dy + \big(\tfrac{\partial f}{\partial x}\big)^\top dy$:
the gradient flows unchanged along the skip connection, and the branch adds its own
contribution. `Block.backward` walks the block's two residual sums in reverse order, and
a whole model's backward is its forward read backwards, layer by layer:
"""),
code(r"""
print(inspect.getsource(Block.backward))
"""),
md(r"""
## A broadcast in the forward pass is a sum in the backward pass

Some parameters are used many times in one forward pass. The position embedding $E$
(shape $(1, N, D)$) is added to every image of the batch, broadcast along the batch axis:

$$X_{b,n} = T_{b,n} + E_n \qquad \text{for every image } b = 1 \dots B .$$

The chain rule sums over every place a variable is used:

$$dE_n = \sum_b \frac{\partial L}{\partial X_{b,n}} \frac{\partial X_{b,n}}{\partial E_n}
= \sum_b dX_{b,n} ,$$
"""),
md(r"""
so the broadcast (one copy to each image) becomes a sum over the axis it copied along. The
same holds for the class token $c$ (shape $(1, 1, D)$), broadcast to every image and
written as token 0: $dc = \sum_b dX_{b,0}$; and for a linear layer's bias, added to every
row (token) of every image: $db = \sum_{b,n} dY_{b,n}$. A backward pass that forgets the
sum and keeps one image's gradient gets a different vector altogether; one that averages
instead of summing is off by exactly the factor $B$. The forward pass's broadcasts, in
`VisionTransformer.embed`, and the sums in the backward passes:
"""),
code(r"""
def lines_with(function, *words):
    # the lines of a function's source that mention any of the words
    return "\n".join(line for line in inspect.getsource(function).splitlines() if any(w in line for w in words))

print(lines_with(VisionTransformer.embed, "broadcast_to", "position_embedding()"))
print()
print(lines_with(VisionTransformer.backward, "pos_embed", "cls_token"))
print()
print(lines_with(Linear.backward, "bias"))
"""),
md(r"""
`Linear.backward`'s `column_sums(dy)` is the sum over all $B \cdot N$ rows.

To see it numerically we need $dX$, the gradient that reaches the tokens just after the
position embedding is added. The first block is the first layer after that addition, so
the gradient its `backward` returns is exactly $dX$: we give this one model a
`blocks[0].backward` that keeps a copy of what it returns. Then the position
embedding's and class token's gradients are compared with the batch sums of $dX$ and with
numerical derivatives, for the tiny float64 ViT of the gradient checks below:
"""),
code(r"""
tiny = ViTConfig(image_size=8, patch_size=4, num_classes=3, dim=8, depth=2, heads=2, mlp_dim=16)
vit = random_point(VisionTransformer(tiny, seed=0, dtype=np.float64))
images = rng.standard_normal((3, 1, 8, 8))           # (B, C, H, W), B = 3
G = rng.standard_normal((3, 3))                      # a fixed dL/dlogits: L = sum(logits * G)

received = []
first_block_backward = vit.blocks[0].backward
def keep_and_pass(dout):
    dx = first_block_backward(dout)
    received.append(dx.copy())                       # (B, N, D): the gradient of the tokens
    return dx
vit.blocks[0].backward = keep_and_pass

vit.zero_grad()
vit.forward(images)
vit.backward(G)
dX = received[-1]                                    # (B, N, D) = (3, 5, 8)
"""),
code(r"""
loss = lambda: float(np.sum(vit.forward(images) * G))
compare = {}                                         # name -> (batch sum of dX, image 0's dX, numerical)
for name, summed, one_image in (("pos_embed", dX.sum(axis=0, keepdims=True), dX[:1]),            # (1, N, D)
                                ("cls_token", dX[:, :1].sum(axis=0, keepdims=True), dX[:1, :1])):  # (1, 1, D)
    numeric = numerical_gradient(loss, vit.params[name]).reshape(summed.shape)
    compare[name] = summed, one_image, numeric
    print(f"{name}: grad == batch sum of dX: {np.array_equal(vit.grads[name], summed)};  "
          f"|batch sum - numerical| {np.abs(summed - numeric).max():.1e};  "
          f"|image 0's dX - numerical| {np.abs(one_image - numeric).max():.1e}")
"""),
code(r"""
for name, (summed, one_image, numeric) in compare.items():
    assert np.array_equal(vit.grads[name], summed), name
    assert np.abs(summed - numeric).max() < 1e-9, name          # the sum is the derivative
    assert np.abs(one_image - numeric).max() > 1e-3, name       # one image's gradient is not
"""),
md(r"""
And a linear layer's bias, shared by all $B \cdot N$ tokens:
"""),
code(r"""
linear = Linear(8, 4, rng=0, dtype=np.float64)
tokens = rng.standard_normal((2, 5, 8))              # (B, N, D)
dY = rng.standard_normal((2, 5, 4))                  # (B, N, out): L = sum(Y * dY)
linear.forward(tokens)
linear.backward(dY)
numeric = numerical_gradient(lambda: float(np.sum(linear.forward(tokens) * dY)), linear.params["bias"])
print(f"bias: |grad - sum of dY over batch and tokens| {np.abs(linear.grads['bias'] - dY.sum(axis=(0, 1))).max():.1e};  "
      f"|grad - numerical| {np.abs(linear.grads['bias'] - numeric).max():.1e}")
"""),
code(r"""
assert np.abs(linear.grads["bias"] - dY.sum(axis=(0, 1))).max() < 1e-12
assert np.abs(linear.grads["bias"] - numeric).max() < 1e-9
"""),
md(r"""
## Checking gradients numerically

Derivations go wrong in small ways: a missing transpose, a forgotten term, a factor off.
The cure is to compare every gradient with a numerical derivative. For a layer $f$,
`gradcheck` draws a fixed random $G$ shaped like the output and uses the scalar
$L = \sum f(x) \odot G$, so that `backward(G)` must return $dL/dx$ and add $dL/dw$ into the
grads. Then it nudges single entries of the input and of every parameter and measures how
$L$ moves, with the fourth-order central difference

$$\frac{\partial L}{\partial w} \approx \frac{8\,\big(L(w+h) - L(w-h)\big) - \big(L(w+2h) - L(w-2h)\big)}{12\,h},
\qquad h = 10^{-3},$$

whose error shrinks like $h^4$ (the plain $\frac{L(w+h) - L(w-h)}{2h}$ has $h^2$).
"""),
md(r"""
Each entry gets the relative error

$$\text{rel err} = \frac{|a - n|}{|a| + |n|}$$

for the analytic value $a$ and the numerical one $n$. It all runs in **float64**: in
float32 the rounding noise of $L$ alone, divided by $h$, would swamp the comparison. As a
rule of thumb a correct gradient gives $10^{-7}$ or less, while a bug gives $10^{-3}$ to 1;
an entry whose true gradient is nearly 0 can show more, with a tiny `max abs err` beside it.
The `zeros` column counts entries whose true gradient is exactly 0, judged by absolute
rather than relative error (more on the qkv bias in exercise 3).

A LayerNorm on 2 sequences of 5 tokens of width 8:
"""),
code(r"""
x = rng.standard_normal((2, 5, 8))                   # (B, N, D), float64
ln_rows = gradcheck(LayerNorm(8, dtype=np.float64), x)
print(format_table(ln_rows))
"""),
md(r"""
An attention layer with 2 heads, and a whole block:
"""),
code(r"""
attn_rows = gradcheck(Attention(8, heads=2, rng=0, dtype=np.float64), x)
block_rows = gradcheck(Block(8, heads=2, mlp_dim=16, rng=0, dtype=np.float64), x)
print(format_table(attn_rows))
print()
print(format_table(block_rows))
"""),
md(r"""
Every row of the LayerNorm and attention tables is far below $10^{-7}$. In the block's
table the worst row, `attn.qkv.weight`, is above it (about $10^{-6}$), but its largest
absolute error is $10^{-11}$ or less, like every other row's: an entry whose gradient is
nearly 0, where the relative error divides rounding noise by almost nothing. A bug would
show a large absolute error too.
"""),
code(r"""
for rows in (ln_rows, attn_rows):
    assert max_rel_error(rows) < 1e-7
worst = max(block_rows, key=lambda r: r.max_rel_error)
print(f"block's worst row: {worst.name}, rel {worst.max_rel_error:.1e}, abs {worst.max_abs_error:.1e}")
assert worst.name == "attn.qkv.weight" and 1e-7 < worst.max_rel_error < 1e-5
assert max(r.max_abs_error for r in ln_rows + attn_rows + block_rows) < 1e-11
"""),
md(r"""
Softmax is a function, not a layer, so we give it a two-method wrapper to check it the
same way. (gradcheck needs nothing more than `forward` and `backward`.)
"""),
code(r"""
class SoftmaxLayer:
    # softmax over the last axis as a layer: (B, h, N, N) -> (B, h, N, N)
    def __init__(self, backward_fn=softmax_backward):
        self.backward_fn = backward_fn

    def forward(self, scores):
        self.att = softmax(scores.copy())
        return self.att

    def backward(self, datt):
        return self.backward_fn(self.att, datt)

scores = rng.standard_normal((2, 2, 5, 5))           # (B, h, N, N)
print(format_table(gradcheck(SoftmaxLayer(), scores)))
"""),
md(r"""
Finally the whole model: a tiny ViT (8 x 8 images, 2 blocks, width 8) in float64. At
initialisation its tokens are tiny (the class token starts at $10^{-6}$, position
embeddings at 0.02), so its LayerNorms sit at their most curved point and the numerical
derivative, not the model, becomes the weak link. As the package's own tests do, we first
move every parameter to a generic random point (`numpyvit.random_point`). `max_checks=10` checks 10 random entries
per tensor.
"""),
code(r"""
tiny = ViTConfig(image_size=8, patch_size=4, num_classes=3, dim=8, depth=2, heads=2, mlp_dim=16)
vit = random_point(VisionTransformer(tiny, seed=0, dtype=np.float64))   # LayerNorm gains near 1
images = rng.standard_normal((2, 1, 8, 8))           # (B, C, H, W)
rows = gradcheck(vit, images, max_checks=10)
print(format_table(rows))
print(f"\n{len(rows)} tensors, worst relative error {max_rel_error(rows):.1e}")
assert max_rel_error(rows) < 1e-8
"""),
md(r"""
Every tensor, from the head back to the input pixels, agrees with the numerical
derivative to better than $10^{-8}$.

## Breaking a gradient on purpose

A check that cannot fail proves nothing. Here is a classic bug: the backward pass of
attention forgets the $\frac{1}{\sqrt{D_h}}$ factor that the forward pass applied to the
scores. We do not copy the layer to plant it: a subclass sets the scale to 1 just while
its backward runs.
"""),
code(r"""
class ForgotTheScale(Attention):
    def backward(self, dout):
        scale, self.scale = self.scale, 1.0      # the bug: backward ignores 1/sqrt(Dh)
        try:
            return super().backward(dout)
        finally:
            self.scale = scale

broken = {r.name: r for r in gradcheck(ForgotTheScale(8, heads=2, rng=0, dtype=np.float64), x)}
print(format_table(list(broken.values())))
assert broken["proj.weight"].max_rel_error < 1e-7 and broken["proj.bias"].max_rel_error < 1e-7
assert abs(broken["qkv.weight"].max_rel_error - 1 / 3) < 1e-6 and abs(broken["qkv.bias"].max_rel_error - 1 / 3) < 1e-6
assert 1e-3 < broken["input"].max_rel_error < 1 / 3
"""),
md(r"""
The table does more than say "wrong": it says *where*. `proj.weight` and `proj.bias`
still pass, because their gradients are computed before the backward pass reaches the
scores. Everything upstream of the bug fails. The query and key parts of `qkv` are off by
exactly the missing factor $\sqrt{D_h} = 2$, which shows as a relative error of
$|2a - a|/(2a + a) = 1/3$. The input's gradient mixes that wrong path with the correct one
through the values, so its error is smaller than $1/3$, but still far above what a correct
gradient shows.

A second bug, in softmax's backward: forget the term that comes from the normalisation,
writing $ds = a \odot da$.
"""),
code(r"""
forgot_the_sum = SoftmaxLayer(backward_fn=lambda att, datt: att * datt)
rows = gradcheck(forgot_the_sum, scores)
print(format_table(rows))
assert max_rel_error(rows) > 0.1
"""),
md(r"""
Errors of order 1: caught. The package's test suite keeps deliberately wrong backward
passes like these for every way the check could fail, so the check itself is tested too.
"""),
md(r"""
> **What to remember**
> - A layer's `backward(dout)` returns the input's gradient and *adds* (`+=`) its parameters' gradients; `zero_grad()` clears them.
> - Backprop starts at $dZ = (P - Y)/B$; softmax's backward is $a \odot (da - a \cdot da)$, one dot product per row.
> - A matrix product's backward is two matrix products; a reshape's is the inverse reshape; a broadcast's is a sum.
> - Check every gradient against a centred finite difference, in float64, by relative error; $10^{-7}$ or less is right, $10^{-3}$ or more is a bug.
> - A check that cannot fail proves nothing: plant a bug and watch the table point at it.
"""),
md(r"""
## Exercises

1. Derive the derivative of the tanh-form GELU,
   $g(x) = \frac12 x\,(1 + t)$ with $t = \tanh\!\big(c\,(x + 0.044715\,x^3)\big)$,
   $c = \sqrt{2/\pi}$. Compare your formula with `GELU.backward` at a few points, then run
   `gradcheck` on `GELU`.
2. Run `gradcheck` on a *float32* `LayerNorm`. How large are the errors, and why?
3. After one backward pass through `Attention(8, heads=2, rng=0, dtype=np.float64)`, look at
   the gradient of `qkv.bias`, split into its query, key and value parts. Why is the key
   part exactly zero?
"""),
*solution(r"""
# g'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 * 0.044715 x^2)
#         (product rule: the factor x, then the tanh through the chain rule)
c, k = np.sqrt(2 / np.pi), 0.044715
xs = np.array([-3.0, -0.75, 0.0, 0.5, 2.0])
t = np.tanh(c * (xs + k * xs ** 3))
mine = 0.5 * (1 + t) + 0.5 * xs * (1 - t ** 2) * c * (1 + 3 * k * xs ** 2)
g = GELU(dtype=np.float64)
g.forward(xs)
print("my derivative  :", mine)
print("GELU.backward  :", g.backward(np.ones_like(xs)))
print(format_table(gradcheck(GELU(dtype=np.float64), x)))
""", "Solution 1 (click to expand)"),
*solution(r"""
# The float32 layer's table next to the float64 one, for the same x:
rows32 = {r.name: r for r in gradcheck(LayerNorm(8, dtype=np.float32), x)}
rows64 = {r.name: r for r in gradcheck(LayerNorm(8, dtype=np.float64), x)}
print(format_table(list(rows32.values())))
for name in rows32:
    print(f"{name:>6}: {rows32[name].max_rel_error:.2e} in float32, {rows64[name].max_rel_error:.2e} in float64")
""", "Solution 2 (click to expand)"),
answer(r"""
The weight's row is far worse than in float64 (about $10^{-5}$, past the $10^{-7}$ rule of
thumb), the input's is unchanged. The numerical derivative nudges a parameter to
$w \pm h, w \pm 2h$ and stores each nudged value in the parameter's own float32 array, so
the steps themselves are rounded; a float32 number near 1.0 carries only about 7 digits.
That is a limit of float32, not a bug, and the reason gradient checks run in float64.
*Going deeper* at the end accounts for each row.
""", "Solution 2: why (click to expand)"),
*solution(r"""
# The key bias b_k adds the same vector to every key, so it adds q_i . b_k to *every* score
# in row i. Softmax ignores a constant added to a whole row, so L does not depend on b_k at
# all: its gradient is exactly zero (up to rounding). The query and value parts are not.
att = Attention(8, heads=2, rng=0, dtype=np.float64)
att.forward(x)
att.backward(rng.standard_normal(x.shape))
dq_bias, dk_bias, dv_bias = att.qkv.grads["bias"].reshape(3, 8)   # (3, D): q | k | v
for name, part in (("query", dq_bias), ("key", dk_bias), ("value", dv_bias)):
    print(f"{name:>5} part of qkv.bias: largest |gradient| {np.abs(part).max():.1e}")
""", "Solution 3 (click to expand)"),
md(r"""
## Going deeper: why float32 fails the check, row by row

The float32 LayerNorm's table next to the float64 one, for the same input $x$ as above:
"""),
code(r"""
rows32 = {r.name: r for r in gradcheck(LayerNorm(8, dtype=np.float32), x)}
rows64 = {r.name: r for r in gradcheck(LayerNorm(8, dtype=np.float64), x)}
print(format_table(list(rows32.values())))
for name in rows32:
    print(f"{name:>6}: {rows32[name].max_rel_error:.2e} in float32, {rows64[name].max_rel_error:.2e} in float64, "
          f"{rows32[name].max_rel_error / rows64[name].max_rel_error:.1e} times larger")
"""),
md(r"""
The three rows tell three different stories.

- **input**: exactly the float64 row. gradcheck casts the input to float64, and the
  layer's weight (1.0) and bias (0.0) are exact in float32, so NumPy computes this check
  entirely in float64.
- **weight**: about $10^{-5}$, some $10^7$ times the float64 error: past the $10^{-7}$ rule
  of thumb, the size a subtle bug could produce.
- **bias**: a few times $10^{-8}$, still below $10^{-7}$, although it is stored in float32
  just like the weight.
"""),
code(r"""
assert rows32["input"].max_rel_error == rows64["input"].max_rel_error
assert 1e6 < rows32["weight"].max_rel_error / rows64["weight"].max_rel_error < 1e8   # about 10^7
assert 3e-6 < rows32["weight"].max_rel_error < 3e-5 and 1e-8 < rows32["bias"].max_rel_error < 1e-7
"""),
md(r"""
Why the weight and not the bias: the numerical derivative stores each nudged value
$w \pm h, w \pm 2h$ *in the parameter's own array*, so in float32, which carries about 7
significant digits relative to the number's size. The weight sits at 1.0, where
neighbouring float32 values are $1.2 \times 10^{-7}$ apart, so $1 + 10^{-3}$ is stored up to
$6 \times 10^{-8}$ off: a few $10^{-5}$ of the step. The bias sits at 0, where $\pm 10^{-3}$
is stored to within $10^{-10}$.
"""),
md(r"""
The layer's output is linear in both, so the numerical derivative is the true one times what
the stencil makes of the steps actually taken, and each row's error can be predicted from
the stored steps alone:
"""),
code(r"""
def stencil_error(value, h=1e-3):
    # relative error, as gradcheck reports it, of the fourth-order stencil on a linear function
    # when each nudged value value + k h is stored in float32, as numerical_gradient stores it
    step = {k: float(np.float32(np.float32(value) + k * h)) - value for k in (-2, -1, 1, 2)}
    factor = (8 * (step[1] - step[-1]) - (step[2] - step[-2])) / (12 * h)   # 1 if the steps were exact
    return abs(factor - 1) / (factor + 1)

predicted_weight, predicted_bias = stencil_error(1.0), stencil_error(0.0)
print(f"weight at 1.0: predicted {predicted_weight:.2e}, measured {rows32['weight'].max_rel_error:.2e}")
print(f"bias at 0.0  : predicted {predicted_bias:.2e}, measured {rows32['bias'].max_rel_error:.2e}")
"""),
code(r"""
assert abs(predicted_weight / rows32["weight"].max_rel_error - 1) < 0.05
assert predicted_bias < rows32["bias"].max_rel_error < 2 * predicted_bias
"""),
md(r"""
The stored steps explain the weight's error to within a few percent. For the bias they
explain most of it; the rest is the float32 rounding of the analytic gradient itself, which
is accumulated in a float32 array (at most $3 \times 10^{-8}$ in this measure). Both are
limits of float32, not bugs: this is why gradient checks run in float64.
"""),
]
