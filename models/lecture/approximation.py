"""The universal approximation statement made visible, and deep vs wide.

Cybenko 1989 / Hornik 1991: one hidden layer of enough sigmoid units approximates any continuous
function on a compact set to any ε. Here the hidden layer is random and only the output weights are
fitted (least squares), so the error as a function of width is cheap to measure exactly; the lecture's
point — the error falls below a chosen ε once the layer is wide enough — shows the same way.
Deep vs wide: a compositional function f(x) = g(g(g(x))) (g a "tent" map) has 2³ linear pieces; a deep
ReLU net represents it with 2 units per layer, while one hidden layer of n ReLU units has at most n + 1
linear pieces on the line, so it needs about 2^depth units (`shallow_relu_fit`).
"""

from __future__ import annotations

import numpy as np

from prognos.models.lecture.backprop import sigmoid


def random_feature_fit(x, y, width: int, rng, scale: float = 10.0) -> tuple[float, np.ndarray]:
    """Max |error| on x of a one-hidden-layer sigmoid net with `width` random hidden units whose output
    layer is the least-squares fit; returns (max error, predictions)."""
    w = rng.normal(0, scale, width)
    centers = rng.uniform(x.min(), x.max(), width)
    hidden = sigmoid(w * (x[:, None] - centers))
    features = np.hstack([hidden, np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(features, y, rcond=None)
    pred = features @ coef
    return float(np.max(np.abs(pred - y))), pred


def width_for_epsilon(f, eps: float, widths=(2, 4, 8, 16, 32, 64, 128, 256), seed: int = 0, n: int = 400):
    """{width: max error} on [0, 1] and the smallest width whose error is below eps (None if none is)."""
    x = np.linspace(0, 1, n)
    errors = {w: random_feature_fit(x, f(x), w, np.random.default_rng(seed))[0] for w in widths}
    return errors, next((w for w in widths if errors[w] < eps), None)


def tent(x):
    """g(x) = 2x on [0, ½], 2 − 2x on [½, 1]: one ReLU layer of 2 units, 2x − 4 relu(x − ½) on [0, 1]."""
    return 2 * np.maximum(x, 0) - 4 * np.maximum(x - 0.5, 0)


def deep_tent(x, depth: int):
    """g applied `depth` times by a deep ReLU net of width 2: 2^depth linear pieces from 2·depth units."""
    for _ in range(depth):
        x = tent(x)
    return x


def shallow_relu_fit(x, y, width: int) -> tuple[float, np.ndarray]:
    """Max |error| on x of a one-hidden-layer ReLU net of `width` units relu(x − j/width), j = 0 … width − 1,
    with a least-squares output layer (kinks on an even grid); returns (max error, predictions)."""
    knots = np.arange(width) / width
    features = np.hstack([np.maximum(x[:, None] - knots, 0), np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(features, y, rcond=None)
    pred = features @ coef
    return float(np.max(np.abs(pred - y))), pred


def linear_pieces(y) -> int:
    """Number of linear pieces of a sampled piecewise-linear function (slope changes + 1)."""
    slopes = np.round(np.diff(y), 9)
    return int(np.sum(np.abs(np.diff(slopes)) > 1e-6) + 1)
