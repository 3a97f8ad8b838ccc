"""Answer key for notebook 5, "Your turn": the six backward passes, written out.

Try the exercises before reading this. Each function has the signature `check` expects
(see numpyvit/exercises.py) and is checked by it in the test suite, which runs notebook 5
with these in place of the stubs.

Shape legend: B batch, N tokens, D width, h heads, Dh head width, K classes.
"""
import math

import numpy as np


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
