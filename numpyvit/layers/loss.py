"""Softmax cross-entropy with optional label smoothing (Szegedy et al. 2016).

Shape legend: B batch, K classes.
"""
import numpy as np

from .attention import softmax


class SoftmaxCrossEntropy:
    """loss = -mean_b sum_k q_bk log softmax(z_b)_k,  q = (1 - eps) onehot(y) + eps / K.

    forward(logits (B, K), labels) -> scalar mean loss. labels are class indices (B,) ints, or
        a target distribution (B, K) of floats whose rows sum to 1 (e.g. CutMix's mixed labels,
        which then take the place of onehot(y) above);
    backward(dloss=1) -> dlogits (B, K) = dloss * (softmax(z) - q) / B.
    Forward keeps the probabilities (`self.probs`) for accuracy and backward.
    """

    def __init__(self, label_smoothing=0.0):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={label_smoothing!r} must be in [0, 1)")
        self.label_smoothing = label_smoothing
        self.probs = self.targets = None

    def forward(self, logits, labels):
        labels = np.asarray(labels)
        if logits.ndim != 2:
            raise ValueError(f"logits must have shape (B, K), got {logits.shape}")
        B, K = logits.shape
        soft = labels.shape == (B, K) and np.issubdtype(labels.dtype, np.floating)
        if soft:
            sums = labels.sum(axis=1)
            if not (np.all(labels >= 0) and np.allclose(sums, 1.0, atol=1e-4)):
                raise ValueError(f"target distributions (B, K) must be >= 0 with rows summing to 1, got "
                                 f"entries down to {labels.min():.3g} and row sums from {sums.min():.3g} "
                                 f"to {sums.max():.3g}")
        elif labels.shape != (B,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers of shape ({B},) or float targets of shape "
                             f"({B}, {K}), got {labels.dtype} {labels.shape}")
        elif labels.size and (labels.min() < 0 or labels.max() >= K):
            raise ValueError(f"labels must lie in [0, {K}), got values from {labels.min()} to {labels.max()}")
        probs = softmax(logits)                                      # (B, K)
        # a probability that underflowed to 0 (a logit ~90 below the largest in float32) counts
        # as the smallest positive float: its loss term is capped (~87 in float32, ~708 in
        # float64) rather than infinite; the gradient, probs - targets, is exact either way
        log_probs = np.log(np.maximum(probs, np.finfo(probs.dtype).tiny))
        eps = self.label_smoothing
        if soft:
            targets = ((1.0 - eps) * labels + eps / K).astype(logits.dtype)
        else:
            targets = np.full_like(logits, eps / K)
            targets[np.arange(B), labels] += 1.0 - eps
        self.probs, self.targets = probs, targets
        return float(-(targets * log_probs).sum() / B)

    def backward(self, dloss=1.0):
        if self.probs is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward() called before forward()")
        B = self.probs.shape[0]
        return (self.probs - self.targets) * self.probs.dtype.type(dloss / B)
