"""Vanishing gradients, measured per layer, and the lecture's fixes.

Through L sigmoid layers the gradient is multiplied by σ'(a) ≤ 0.25 and by the weights at every layer,
so with unit-scale weights it shrinks roughly as 0.25^L. ReLU (derivative 1 where active), residual
connections (the identity path adds 1 to each layer's Jacobian), normalization and He/Xavier
initialization (variance-preserving weights, He et al. 2015, Glorot & Bengio 2010) keep it alive.
`layer_gradient_norms` returns ‖∂E/∂W_l‖ for every layer l of a deep MLP at initialization.
"""

from __future__ import annotations

import numpy as np

from prognos.models.lecture.backprop import sigmoid

EPS = 1e-5  # added to the batch standard deviation, as in the normalization layers
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda a: sigmoid(a) * (1 - sigmoid(a))),
    "relu": (lambda a: np.maximum(a, 0), lambda a: (a > 0).astype(float)),
    "tanh": (np.tanh, lambda a: 1 - np.tanh(a) ** 2),
}


def init_weights(depth: int, width: int, scheme: str, rng) -> list[np.ndarray]:
    """`depth` square weight matrices: "unit" N(0, 1), "xavier" N(0, 1/width) (Glorot: 2/(fan_in + fan_out)),
    "he" N(0, 2/width), "small" N(0, 0.01²)."""
    std = {"xavier": np.sqrt(1 / width), "he": np.sqrt(2 / width), "small": 0.01, "unit": 1.0}[scheme]
    return [rng.normal(0, std, (width, width)) for _ in range(depth)]


def layer_gradient_norms(
    weights, x, activation: str = "sigmoid", residual: bool = False, normalize: bool = False
) -> np.ndarray:
    """‖∂E/∂W_l‖ (Frobenius) per layer, first layer first, for E = ½‖h_L‖² on a batch x (n, width).

    residual: h_{l+1} = h_l + φ(W_l h_l); normalize: each layer's pre-activation standardized per unit
    over the batch (batch normalization without learned scale; its Jacobian is included)."""
    act, dact = ACTIVATIONS[activation]
    hs, pre, stats = [x], [], []
    for W in weights:
        a = hs[-1] @ W.T
        if normalize:
            mu, sd = a.mean(0), a.std(0)
            stats.append((a, mu, sd))
            a = (a - mu) / (sd + EPS)
        pre.append(a)
        hs.append(hs[-1] + act(a) if residual else act(a))
    grad_h, norms = hs[-1], []
    for layer in reversed(range(len(weights))):
        grad_a = grad_h * dact(pre[layer])
        if normalize:
            grad_a = _batchnorm_backward(grad_a, *stats[layer])
        norms.append(np.linalg.norm(grad_a.T @ hs[layer]))
        grad_h = grad_a @ weights[layer] + (grad_h if residual else 0)
    return np.array(norms[::-1])


def preactivation_rms(weights, x, activation: str = "relu") -> np.ndarray:
    """Root mean square of every layer's pre-activation a_l = W_l h_(l-1), first layer first.

    Var(a_l) = width · Var(w) · E[h_(l-1)²]; for ReLU E[h²] = ½ Var(a), so He (Var(w) = 2/width) keeps it
    constant through the layers, Xavier (1/width) halves it per layer and "small" weights collapse it."""
    act, h, rms = ACTIVATIONS[activation][0], x, []
    for W in weights:
        a = h @ W.T
        rms.append(np.sqrt(np.mean(a**2)))
        h = act(a)
    return np.array(rms)


def _batchnorm_backward(grad_y, a, mu, sd):
    """Gradient through y = (a − μ) / (σ + ε), μ and σ the batch mean and standard deviation of a:
    ∂E/∂a = (g − mean g) / (σ + ε) − y · mean(g y) / σ."""
    y = (a - mu) / (sd + EPS)
    return (grad_y - grad_y.mean(0)) / (sd + EPS) - y * (grad_y * y).mean(0) / sd
