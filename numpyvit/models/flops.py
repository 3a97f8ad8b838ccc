"""Analytic floating-point operation counts of the ViT, 2 FLOPs per multiply-add.

Only matrix products are counted (every Linear, attention's q k^T and att v): they are >95% of
the arithmetic; LayerNorm, GELU, softmax and the residual adds are memory-bound and left out.
"""


def flops(config):
    """{'forward': FLOPs per image, 'train_step': FLOPs per image of forward + backward, ...}.

    Backward multiplies by both factors of every product (dX = dY W and dW = dY^T X), twice
    the forward's work, so a training step is 3x the forward (the optimiser's few passes
    over 200k parameters are negligible).
    """
    c = config
    P = c.num_patches
    N = P + 1
    D, M, K = c.dim, c.mlp_dim, c.num_classes
    patch = 2 * P * (c.in_channels * c.patch_size ** 2) * D
    block = {
        "qkv": 2 * N * D * 3 * D,
        "attention q k^T": 2 * N * N * D,      # h heads x (N x Dh x N), Dh * h = D
        "attention att v": 2 * N * N * D,
        "proj": 2 * N * D * D,
        "mlp": 2 * 2 * N * D * M,              # fc1 and fc2
    }
    head = 2 * D * K
    forward = patch + c.depth * sum(block.values()) + head
    return {"forward": forward, "train_step": 3 * forward, "patch_embed": patch,
            "per_block": block, "head": head}
