"""Backpropagation by hand for the lecture's 2-layer sigmoid MLP (Schritt 1–4).

Network: hidden y = σ(W x + b), output z = σ(U y + c), loss E = Σ (z − z*)².
Schritt 1 (forward pass) computes y and z. Schritt 2, output deltas: δ_out = 2 (z − z*) · z (1 − z).
Schritt 3, hidden deltas: δ_hid = y (1 − y) · Σ_k δ_out,k U_kj (the output deltas sent back through U).
Schritt 4, gradients: ∂E/∂U = δ_out yᵀ, ∂E/∂c = δ_out, ∂E/∂W = δ_hid xᵀ, ∂E/∂b = δ_hid (delta · input).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


@dataclass
class TwoLayerMLP:
    W: np.ndarray  # (hidden, inputs)
    b: np.ndarray  # (hidden,)
    U: np.ndarray  # (outputs, hidden)
    c: np.ndarray  # (outputs,)

    def forward(self, x):
        """Schritt 1: hidden activations y and outputs z for one input vector x."""
        y = sigmoid(self.W @ x + self.b)
        z = sigmoid(self.U @ y + self.c)
        return y, z

    def loss(self, x, target) -> float:
        return float(np.sum((self.forward(x)[1] - target) ** 2))

    def gradients(self, x, target) -> dict:
        """Schritt 2–4 for one example: {"W", "b", "U", "c"} gradients of E = Σ (z − z*)²."""
        y, z = self.forward(x)
        delta_out = 2.0 * (z - target) * z * (1.0 - z)  # Schritt 2
        delta_hid = y * (1.0 - y) * (self.U.T @ delta_out)  # Schritt 3
        return {
            "U": np.outer(delta_out, y),
            "c": delta_out,  # Schritt 4: delta times the layer's input
            "W": np.outer(delta_hid, x),
            "b": delta_hid,
        }

    def step(self, x, target, lr: float) -> float:
        """One gradient-descent step on one example; returns the loss before the step."""
        before = self.loss(x, target)
        for name, g in self.gradients(x, target).items():
            setattr(self, name, getattr(self, name) - lr * g)
        return before


def numerical_gradient(f, param: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of scalar f() with respect to every entry of `param` (changed in place, restored)."""
    grad = np.zeros_like(param)
    for i in np.ndindex(param.shape):
        old = param[i]
        param[i] = old + eps
        up = f()
        param[i] = old - eps
        down = f()
        param[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad
