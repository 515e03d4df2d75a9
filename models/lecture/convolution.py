"""2-D convolution (cross-correlation, as in every deep-learning library), max pooling, and the
backward pass through max pooling: only the position of each window's maximum receives the gradient.

The slides' pooling example: a 4×4 input, 2×2 windows with stride 2 -> a 2×2 output.
"""

from __future__ import annotations

import numpy as np


def conv2d(x: np.ndarray, k: np.ndarray, stride: int = 1) -> np.ndarray:
    """'valid' cross-correlation of a 2-D input with a 2-D kernel: out[i, j] = Σ x[i s + u, j s + v] k[u, v]."""
    kh, kw = k.shape
    rows, cols = (x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1
    out = np.empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            out[i, j] = np.sum(x[i * stride : i * stride + kh, j * stride : j * stride + kw] * k)
    return out


def max_pool(x: np.ndarray, size: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(pooled, argmax mask): non-overlapping size×size windows; the mask marks each window's maximum
    (the first one on ties, as TensorFlow's gradient does)."""
    rows, cols = x.shape[0] // size, x.shape[1] // size
    out, mask = np.empty((rows, cols)), np.zeros_like(x, dtype=bool)
    for i in range(rows):
        for j in range(cols):
            win = x[i * size : (i + 1) * size, j * size : (j + 1) * size]
            u, v = np.unravel_index(np.argmax(win), win.shape)
            out[i, j] = win[u, v]
            mask[i * size + u, j * size + v] = True
    return out, mask


def max_pool_backward(grad_out: np.ndarray, mask: np.ndarray, size: int = 2) -> np.ndarray:
    """∂E/∂x from ∂E/∂pooled: each window's gradient goes to its argmax, zero elsewhere."""
    return np.kron(grad_out, np.ones((size, size))) * mask
