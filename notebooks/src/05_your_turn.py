# Notebook 5: Your turn. The cells, in order; see build_notebooks.py.
#
# Each exercise is a markdown cell (the forward pass, the shapes, hints), a stub cell and a
# check cell. The stub cells carry the metadata "exercise": <function name>, so that
# tests/test_notebooks.py can run this notebook with the answer key
# (notebooks/solutions/your_turn.py) imported in their place and assert every check passes.


def stub(name, params):
    """The learner's cell: a function with the fixed signature that is not written yet."""
    cell = code(f"def {name}({params}):\n    # your code here\n    raise NotImplementedError")
    cell.metadata["exercise"] = name
    return cell


def exercise(name, params, text):
    """The three cells of one exercise: what to compute, the stub, the check."""
    return [md(text), stub(name, params), code(f'check("{name}", {name})')]


CELLS = [
md(r"""
# 8. Your turn: backward passes by hand

Notebook 4 derived the backward passes of softmax, LayerNorm and attention and showed the
package's code for them. Now you write them, and three more, yourself: six functions, each
the gradient of one piece of the ViT, each checked the moment you write it.

**How it works.** Every exercise below has a markdown cell with the forward pass, the shapes
and hints for the derivation, then a code cell with a stub for you to fill in, then a cell
that runs `check`. `check` calls your function on random float64 inputs of several shapes
(with and without a token axis), and compares every gradient it returns

- with numpyvit's own backward pass for the same layer, and
- with the numerical gradient: the central difference of $L = \sum \text{out} \odot
  \text{dout}$, as `gradcheck` does in notebook 4,

to a relative error of $10^{-6}$ (tight enough that a near miss fails: the derivative of
the exact erf GELU instead of the tanh form is within $10^{-3}$, and fails). It prints
`PASS`, or `FAIL` with what is wrong (which gradient, its worst error, a wrong shape or
dtype, an exception from your code) and a hint, and returns `True` or `False` (which
Jupyter shows under it). It never stops the notebook.

**The `FAIL` lines you see below are expected:** this notebook is saved with the stubs
in place, and a stub that raises `NotImplementedError` reports *not implemented yet*.
Each one turns into a `PASS` once you write that function and run its two cells again.

**What you will practise**

- the chain rule on tensors, and turning a sum over indices into a matrix product;
- where a gradient sums over the batch and token axes, and why;
- the three terms of LayerNorm's input gradient and the scale in attention's;
- reading a failed check and finding the bug.

**Notation**, as in notebook 4: for a tensor $X$, $dX = \partial L / \partial X$ has $X$'s
shape. Your function receives the upstream gradient `dout` $= dY$ and returns the
gradients of the inputs.

**Shape legend:** `B` batch, `N` tokens, `D` width, `h` heads, `Dh` head width, `K` classes.

The answer key is `notebooks/solutions/your_turn.py`. To compare with it, replace a stub
cell by, for example, `from solutions.your_turn import linear_backward` (that is how the
test suite runs this notebook, and every check then passes). Try first.
"""),
code(SETUP),
code(r"""
from numpyvit.exercises import NAMES, check

print(NAMES)
"""),
*exercise("linear_backward", "x, W, dout", r"""
## 1. Linear

$$y = x W^\top + b, \qquad y_o = \textstyle\sum_i W_{oi}\, x_i + b_o \ \text{ for every row } x .$$

| | shape |
|---|---|
| `x` | `(..., D_in)`: rows `(B, D_in)`, or a batch of token sequences `(B, N, D_in)` |
| `W` | `(D_out, D_in)`, as in PyTorch's `nn.Linear` |
| `dout` $= dy$ | `(..., D_out)` |
| return `(dx, dW, db)` | `(..., D_in)`, `(D_out, D_in)`, `(D_out,)` |

`b` is not an argument: no gradient depends on its value. But `db` is still yours to
return.

**Hints.**
- Take one entry $y_o$ of one row and ask which entries of $x$, $W$ and $b$ it touches;
  then $dx_i = \sum_o dy_o\, \partial y_o / \partial x_i$, and likewise for $W_{oi}$ and $b_o$.
- $W$ and $b$ are used by *every* row: every sample and, with a token axis, every token.
  Their gradients add up the contributions of all rows. Reshaping `x` and `dout` to 2-D,
  `(rows, features)`, turns that sum into one matrix product.
- Each gradient has the shape of what it differentiates. If the shapes only fit with a
  transpose, that is usually where the transpose goes.
"""),
*exercise("softmax_backward", "att, datt", r"""
## 2. Softmax

Over the last axis, row by row:

$$a_i = \frac{e^{s_i}}{\sum_k e^{s_k}} .$$

| | shape |
|---|---|
| `att` $= a$ = softmax(scores) | `(..., n)`: attention's `(B, h, N, N)`, or rows `(B, K)` |
| `datt` $= da$ | `(..., n)` |
| return `dscores` $= ds$ | `(..., n)` |

You get the softmax's output, not the scores: the gradient can be written with $a$ alone.

**Hints.**
- Differentiate $a_i$ by $s_j$ with the quotient rule, once for $i = j$ and once for
  $i \ne j$, and write both results with $a$ only.
- Every $a_i$ in a row depends on every $s_j$ of that row, through the sum in the
  denominator. So $ds_j = \sum_i da_i\, \partial a_i / \partial s_j$ has more than one term.
- Do not build the $n \times n$ Jacobian: one number per row is enough
  (`keepdims=True` keeps it broadcastable).
- Notebook 4 derives this one. If you read it, try without looking back.
"""),
*exercise("cross_entropy_backward", "logits, labels", r"""
## 3. Softmax cross-entropy

The mean over the batch of each sample's negative log-probability of its label (no label
smoothing):

$$L = \frac1B \sum_b -\log p_{b, y_b}, \qquad p_b = \operatorname{softmax}(z_b) .$$

| | shape |
|---|---|
| `logits` $= z$ | `(B, K)` |
| `labels` $= y$ | `(B,)`, integers in `[0, K)` |
| return `dlogits` $= dz$ | `(B, K)` |

There is no `dout`: $L$ is the loss itself, the end of the chain.

**Hints.**
- Write one sample's loss as $-z_y + \log \sum_k e^{z_k}$ and differentiate by $z_k$,
  for $k = y$ and for $k \ne y$. The softmax appears by itself.
- Then the mean: how much does one sample's logit move $L$?
- Compute the softmax stably: subtracting each row's maximum from its logits changes nothing
  but keeps `exp` from overflowing.
- `probs[np.arange(B), labels]` picks each row's entry at its label.
"""),
*exercise("layernorm_backward", "x, weight, dout, eps", r"""
## 4. LayerNorm

For every row $x \in \mathbb{R}^D$ (every token of every sample, independently):

$$\mu = \frac1D \sum_c x_c, \quad \sigma^2 = \frac1D \sum_c (x_c - \mu)^2, \quad
r = \frac{1}{\sqrt{\sigma^2 + \epsilon}}, \quad \hat x = (x - \mu)\, r, \quad
y = \gamma \odot \hat x + \beta .$$

| | shape |
|---|---|
| `x` | `(..., D)`: `(B, N, D)` or `(B, D)` |
| `weight` $= \gamma$ | `(D,)` |
| `dout` $= dy$ | `(..., D)` |
| `eps` $= \epsilon$ | a float: the check uses the package's `1e-6`, and `0.1` |
| return `(dx, dweight, dbias)` | `(..., D)`, `(D,)`, `(D,)` |

Your function recomputes $\mu$, $r$ and $\hat x$ from `x` (a layer's forward pass would
have saved them).

**Hints.**
- The parameters first: $\gamma$ and $\beta$ are used in every row, so their gradients
  sum over every axis but the last. Then $d\hat x = dy \odot \gamma$.
- $x_j$ reaches $\hat x_i$ three ways: directly, through $\mu$, and through $\sigma^2$
  (inside $r$). Use $\partial \mu / \partial x_j = 1/D$ and
  $\partial \sigma^2 / \partial x_j = 2 (x_j - \mu) / D$, then
  $dx_j = \sum_i d\hat x_i\, \partial \hat x_i / \partial x_j$.
- Written with $\hat x$ and $r$, the result is $r$ times three terms, two of them row means.
- Notebook 4 derives this one too.
"""),
*exercise("gelu_backward", "x, dout", r"""
## 5. GELU, tanh form

numpyvit's GELU (PyTorch's `gelu(x, approximate='tanh')`), element by element:

$$g(x) = \tfrac12\, x\, (1 + t), \qquad t = \tanh\!\big(c\,(x + 0.044715\, x^3)\big), \qquad c = \sqrt{2/\pi} .$$

| | shape |
|---|---|
| `x`, `dout` | any shape, the same |
| return `dx` | the same shape |

**Hints.**
- The product rule on $\tfrac12\, x\,(1 + t)$, then the chain rule through the tanh:
  $\frac{d}{du}\tanh u = 1 - \tanh^2 u$.
- Every entry is independent, so the backward pass is $g'(x)$ times `dout`, entry by entry.
- The exact GELU, $x\,\Phi(x)$ with the normal CDF $\Phi$, has a derivative within
  $10^{-3}$ of this one's. That is close, but not this layer's gradient, and the check
  says so.
"""),
*exercise("attention_backward", "q, k, v, dout", r"""
## 6. Scaled dot-product attention

Per batch element and head (`@` on `(B, h, N, Dh)` arrays does all of them at once):

$$S = \frac{q\, k^\top}{\sqrt{D_h}}, \qquad A = \operatorname{softmax}(S) \ \text{(over the keys, the last axis)}, \qquad
\text{out} = A\, v .$$

| | shape |
|---|---|
| `q`, `k`, `v` | `(B, h, N, Dh)` |
| `dout` | `(B, h, N, Dh)` |
| return `(dq, dk, dv)` | `(B, h, N, Dh)` each |

This is the core of `Attention`, without its `qkv` and `proj` layers.

**Hints.**
- Recompute the forward pass ($S$, $A$) inside your function, then walk it backwards:
  out, then the softmax, then the scores.
- For a matrix product $C = P R$: $dP = dC\, R^\top$ and $dR = P^\top dC$. On these
  arrays transpose only the last two axes (`.swapaxes(-1, -2)`): batch and heads come along.
- The softmax step is exercise 2: call your `softmax_backward`.
- The forward pass scaled the scores. Where does the scale go on the way back?
"""),
md(r"""
## When all six pass

You have written by hand every gradient a ViT's block needs. Compare your code with the
package's: `inspect.getsource(LayerNorm.backward)` (in `numpyvit/layers/norm.py`) and
`Attention.backward` (in `numpyvit/layers/attention.py`) compute the same things, with fewer
temporary arrays. And if a check still fails, read its hint and its worst entry: a
relative error of exactly 1/3 or a gradient that is "2 times the right value" points at a
missing factor; an error of order 1 at a missing term.
"""),
]
