"""Gradient descent, momentum and Adam exactly as written on the slides, one step at a time.

Gradient descent: θ ← θ − η ∇E(θ). Momentum: v ← μ v − η ∇E; θ ← θ + v (the Keras/TF form with
μ = 0.9). Adam (Kingma & Ba 2015): m ← β₁ m + (1 − β₁) g; v ← β₂ v + (1 − β₂) g²; bias correction
m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ); θ ← θ − η m̂ / (√v̂ + ε).
The lecture's quadratic: E(θ) = ½ θᵀ A θ − bᵀ θ, gradient A θ − b, minimum at A⁻¹ b.
"""

from __future__ import annotations

import numpy as np


def quadratic(A, b):
    """(E, ∇E) of E(θ) = ½ θᵀ A θ − bᵀ θ."""
    return (lambda t: 0.5 * t @ A @ t - b @ t), (lambda t: A @ t - b)


def gradient_descent(grad, theta, lr: float, steps: int) -> np.ndarray:
    """Every iterate θ₀ … θ_steps of plain gradient descent."""
    path = [np.asarray(theta, float)]
    for _ in range(steps):
        path.append(path[-1] - lr * grad(path[-1]))
    return np.stack(path)


def momentum(grad, theta, lr: float, steps: int, mu: float = 0.9) -> np.ndarray:
    path, v = [np.asarray(theta, float)], np.zeros_like(theta, dtype=float)
    for _ in range(steps):
        v = mu * v - lr * grad(path[-1])
        path.append(path[-1] + v)
    return np.stack(path)


def adam(grad, theta, lr: float, steps: int, beta1=0.9, beta2=0.999, eps=1e-7) -> np.ndarray:
    """Adam with the slides' bias correction; eps as in Keras (1e-7), added to √v̂."""
    path = [np.asarray(theta, float)]
    m = v = np.zeros_like(path[0])
    for t in range(1, steps + 1):
        g = grad(path[-1])
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        path.append(path[-1] - lr * m_hat / (np.sqrt(v_hat) + eps))
    return np.stack(path)
