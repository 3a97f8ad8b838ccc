"""Answer key for notebook 5, "Your turn": five forward passes, seven backward passes.

Try the exercises before reading this. Each function has the signature `check` expects
(see numpyvit/exercises/) and is checked by it in the test suite, which runs notebook 5
with these in place of the stubs, capstone included.

Shape legend: B batch, C channels, H, W image height/width, p patch size, P patches,
N = P + 1 tokens, D width, h heads, Dh head width, K classes, g and G grid sides.
"""
import math

import numpy as np


# --- forward passes ------------------------------------------------------------------------------
def patchify(images, p):
    """images (B, C, H, W) -> patches (B, P, C*p*p), row by row over the grid, each in (C, p, p) order."""
    B, C, H, W = images.shape
    x = images.reshape(B, C, H // p, p, W // p, p)      # (B, C, grid row, i, grid column, j)
    x = x.transpose(0, 2, 4, 1, 3, 5)                   # (B, grid row, grid column, C, i, j)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def interpolate_pos_embed(pos_embed, new_grid):
    """(1, 1 + g*g, D) -> (1, 1 + G*G, D): the class row kept, the grid resized bilinearly."""
    D = pos_embed.shape[-1]
    g, G = int(round(math.sqrt(pos_embed.shape[1] - 1))), new_grid
    # the new cells' centres in units of old cells: cell i of n is centred at (i + 0.5) / n of
    # the image; clamped at the edges, where there is no second old centre to mix with
    centres = np.clip((np.arange(G) + 0.5) * g / G - 0.5, 0, g - 1)
    left = np.floor(centres).astype(int)
    right = np.minimum(left + 1, g - 1)
    w = centres - left                                  # the right neighbour's weight
    A = np.zeros((G, g))                                # (G, g): new cell <- old cells, one axis
    A[np.arange(G), left] += 1 - w
    A[np.arange(G), right] += w
    grid = pos_embed[0, 1:].reshape(g, g, D)            # (g, g, D), image rows first
    grid = np.einsum("Ji,ijd->Jjd", A, grid)            # (G, g, D): the rows resized
    grid = np.einsum("Kj,Jjd->JKd", A, grid)            # (G, G, D): then the columns
    rows = np.concatenate([pos_embed[0, :1], grid.reshape(G * G, D)])
    return rows[None]


def split_heads(x, h):
    """x (B, N, D) -> (B, h, N, Dh): head j gets channels j*Dh ... (j+1)*Dh - 1."""
    B, N, D = x.shape
    return x.reshape(B, N, h, D // h).transpose(0, 2, 1, 3)


def attention_forward(q, k, v):
    """softmax(q k^T / sqrt(Dh)) v over the keys;  q, k, v (B, h, N, Dh) -> out (B, h, N, Dh)."""
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1])   # (B, h, N, N)
    return softmax_forward(scores) @ v


def merge_heads(x):
    """x (B, h, N, Dh) -> (B, N, D): the inverse of split_heads."""
    B, h, N, Dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, N, h * Dh)


# --- backward passes -----------------------------------------------------------------------------

def linear_backward(x, W, dout):
    """y = x W^T + b.  x (..., D_in), W (D_out, D_in), dout (..., D_out) -> (dx, dW, db)."""
    D_out, D_in = W.shape
    x2 = x.reshape(-1, D_in)               # (R, D_in): every sample and token is one row
    dout2 = dout.reshape(-1, D_out)        # (R, D_out)
    dx = dout @ W                          # (..., D_in): y_o = sum_i W_oi x_i, so dx_i = sum_o dy_o W_oi
    dW = dout2.T @ x2                      # (D_out, D_in): W is shared by all rows, so sum their
                                           # outer products dy x^T (the matmul does the sum)
    db = dout2.sum(axis=0)                 # (D_out,): b is added to every row, so sum over rows
    return dx, dW, db


def softmax_backward(att, datt):
    """att = softmax(scores) over the last axis; att, datt (..., n) -> dscores (..., n).

    da_i/ds_j = a_i (delta_ij - a_j), so ds_j = sum_i da_i a_i (delta_ij - a_j)
                                             = a_j (da_j - sum_i a_i da_i).
    """
    dot = np.sum(att * datt, axis=-1, keepdims=True)   # (..., 1): a . da, one per row
    return att * (datt - dot)              # the second term comes from the normalising sum


def cross_entropy_backward(logits, labels):
    """loss = mean_b (-log softmax(z_b)[y_b]);  logits (B, K), labels (B,) -> dlogits (B, K).

    One sample's loss is -z_y + log sum_k exp(z_k); its derivative by z_k is
    softmax(z)_k - [k == y]. The mean over the batch divides every row by B.
    """
    B = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)    # the same softmax, no overflow
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)               # (B, K)
    probs[np.arange(B), labels] -= 1.0                      # minus the one-hot target
    return probs / B


def layernorm_backward(x, weight, dout, eps):
    """y = xhat * weight + bias, xhat = (x - mean) / sqrt(var + eps), over the last axis.

    x, dout (..., D), weight (D,) -> (dx (..., D), dweight (D,), dbias (D,)).
    """
    D = x.shape[-1]
    mean = x.mean(axis=-1, keepdims=True)                  # (..., 1)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)   # (..., 1), biased like the forward pass
    rstd = 1.0 / np.sqrt(var + eps)                        # (..., 1)
    xhat = (x - mean) * rstd                               # (..., D)

    # the parameters are used in every row: sum over all axes but the last
    dweight = (dout * xhat).reshape(-1, D).sum(axis=0)     # (D,)
    dbias = dout.reshape(-1, D).sum(axis=0)                # (D,)

    dxhat = dout * weight                                  # (..., D)
    # dx = rstd * (dxhat                           directly
    #              - mean(dxhat)                   through the mean
    #              - xhat * mean(dxhat * xhat))    through the variance
    dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True)
                 - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    return dx, dweight, dbias


def gelu_backward(x, dout):
    """gelu(x) = 0.5 x (1 + t), t = tanh(c (x + a x^3)), c = sqrt(2/pi), a = 0.044715.
    x, dout any shape -> dx, same shape."""
    c, a = math.sqrt(2.0 / math.pi), 0.044715
    t = np.tanh(c * (x + a * x ** 3))
    # product rule: 0.5 (1 + t) from the factor x, then 0.5 x dt/dx through the tanh,
    # with dt/dx = (1 - t^2) c (1 + 3 a x^2)
    dgelu = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * a * x * x)
    return dgelu * dout


def attention_backward(q, k, v, dout):
    """out = softmax(q k^T * Dh^-0.5) v;  q, k, v, dout (B, h, N, Dh) -> (dq, dk, dv).

    Two rules do all the work: for C = P R, dP = dC R^T and dR = P^T dC (transposing only the
    last two axes: batch and heads come along).
    """
    scale = q.shape[-1] ** -0.5
    att = softmax_forward(scale * (q @ k.swapaxes(-1, -2)))   # (B, h, N, N), the forward pass again
    # out = att v
    datt = dout @ v.swapaxes(-1, -2)                          # (B, h, N, N)
    dv = att.swapaxes(-1, -2) @ dout                          # (B, h, N, Dh)
    # att = softmax(scores)
    dscores = softmax_backward(att, datt)                     # (B, h, N, N)
    # scores = scale * q k^T: the scale reaches both q and k
    dq = scale * (dscores @ k)                                # (B, h, N, Dh)
    dk = scale * (dscores.swapaxes(-1, -2) @ q)               # (B, h, N, Dh)
    return dq, dk, dv


def softmax_forward(scores):
    """softmax over the last axis, shifted by each row's max so exp cannot overflow."""
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def embed_backward(dtokens):
    """tokens = concat(cls_token broadcast to the batch, patches) + pos_embed.

    dtokens (B, N, D) -> (dcls_token (1, 1, D), dpos_embed (1, N, D)). Each parameter was
    copied to every image of the batch, so each gets the sum of its copies' gradients.
    """
    dcls_token = dtokens[:, :1].sum(axis=0, keepdims=True)    # token 0 of every image
    dpos_embed = dtokens.sum(axis=0, keepdims=True)           # every token of every image
    return dcls_token, dpos_embed
