"""Mimetic initialisation of self-attention (Trockman & Kolter 2023, "Mimetic Initialization
of Self-Attention Layers"): start every attention layer the way trained ViTs' layers look.

In ViTs trained on large data, per head, the product of the query and key weights is close to
a multiple of the identity, and the product of the value and output-projection weights close
to a negative multiple of it. Drawn at random, both products are noise. Mimetic
initialisation sets them so:

    W_q,h^T W_k,h  ~  a1 Z1 + b1 I     (D x D, rank Dh: the best rank-Dh approximation)
    W_v^T W_p^T    ~  a2 Z2 - b2 I     (D x D, full rank)

with Z1, Z2 random (standard normal / sqrt(D)), each factored by a singular value
decomposition M = U S V^T into U sqrt(S) and sqrt(S) V^T. With the first product near the
identity a token's query matches its own key, and with it every token whose embedding is like
its own: with position embeddings in which nearby patches are alike (the fixed 2-D sin-cos
ones), the attention starts local. Here the model is x W^T (weights (out, in), as in
layers/linear.py), so q = x W_q^T and the score of tokens i, j is x_i W_q^T W_k x_j^T.

The paper reports a1 = b1 = 0.7 and a2 = b2 = 0.4 for its vision models, used here as
defaults. Biases stay 0 and every other weight keeps its random initialisation.

Shape legend: D embedding width, h heads, Dh = D / h head width.
"""
import numpy as np

QK = (0.7, 0.7)     # (a1, b1): W_q^T W_k ~ a1 Z1 + b1 I
VP = (0.4, 0.4)     # (a2, b2): W_v^T W_p^T ~ a2 Z2 - b2 I


def _factor(m, rank):
    """(A, B) with A B the best rank-`rank` approximation of m: A = U sqrt(S), B = sqrt(S) V^T."""
    u, s, vt = np.linalg.svd(m)
    root = np.sqrt(s[:rank])
    return u[:, :rank] * root, root[:, None] * vt[:rank]


def mimetic_attention(attention, rng, qk=QK, vp=VP):
    """Set one Attention layer's qkv and proj weights in place (layers/attention.py's layout:
    qkv.weight (3D, D), rows [q heads | k heads | v heads], proj.weight (D, D))."""
    D = attention.proj.params["weight"].shape[0]
    h, Dh = attention.heads, attention.head_dim
    qkv = attention.qkv.params["weight"]
    dtype = qkv.dtype
    eye = np.eye(D)
    for head in range(h):
        m = qk[0] * rng.standard_normal((D, D)) / np.sqrt(D) + qk[1] * eye
        wq_t, wk = _factor(m, Dh)                       # (D, Dh), (Dh, D): wq_t @ wk ~ m
        rows = slice(head * Dh, (head + 1) * Dh)
        qkv[rows] = wq_t.T.astype(dtype)                # W_q,h (Dh, D): W_q,h^T = wq_t
        qkv[D:2 * D][rows] = wk.astype(dtype)           # W_k,h (Dh, D)
    m = vp[0] * rng.standard_normal((D, D)) / np.sqrt(D) - vp[1] * eye
    wv_t, wp_t = _factor(m, D)                          # wv_t @ wp_t ~ m, both (D, D)
    qkv[2 * D:] = wv_t.T.astype(dtype)                  # W_v (D, D)
    attention.proj.params["weight"][...] = wp_t.T.astype(dtype)   # W_p (D, D): W_p^T = wp_t
    for lin in (attention.qkv, attention.proj):
        if "bias" in lin.params:
            lin.params["bias"][...] = 0


def query_key_product(attention, head):
    """W_q,h^T W_k,h (D, D) of one head: what mimetic initialisation sets near b1 I."""
    D = attention.proj.params["weight"].shape[0]
    Dh = attention.head_dim
    w = attention.qkv.params["weight"].astype(np.float64)
    rows = slice(head * Dh, (head + 1) * Dh)
    return w[:D][rows].T @ w[D:2 * D][rows]


def value_projection_product(attention):
    """W_v^T W_p^T (D, D): what mimetic initialisation sets near -b2 I."""
    D = attention.proj.params["weight"].shape[0]
    w = attention.qkv.params["weight"].astype(np.float64)
    return w[2 * D:].T @ attention.proj.params["weight"].astype(np.float64).T
