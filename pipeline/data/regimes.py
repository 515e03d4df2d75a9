"""Finding operating regimes on training assets: k-means on the standardized setting columns.

k is chosen on the training rows: k-means (Lloyd 1982, k-means++ seeding of Arthur & Vassilvitskii
2007) for k = 2..K_MAX, each scored by the silhouette (Rousseeuw 1987) on a fixed subsample; the best
k is kept only if its silhouette reaches MIN_SILHOUETTE, i.e. the settings form well separated
clusters (C-MAPSS FD002/FD004: six flight conditions, silhouette ~1). Settings that merely jitter
around one condition (FD001) split into clusters of silhouette ~0.3-0.4 and stay one regime, so a
one-regime fleet keeps its global normalization unchanged. A declared regime column replaces the
search: each label is one regime, its centroid the mean of its settings. The fitted result is the
device's `edge_runtime.regimes.Regimes` (nearest centroid, per-regime statistics).
"""

from __future__ import annotations

import numpy as np

from prognos.edge_runtime.errors import DataError
from prognos.edge_runtime.regimes import Regimes

K_MAX = 8
MIN_SILHOUETTE = 0.8  # a silhouette this high means clusters far apart relative to their spread
SAMPLE_ROWS = 2000  # k-means and silhouette run on this many training rows (the silhouette is O(n^2));
#   every row is then assigned to its nearest centroid
MIN_STD = 1e-6


def kmeans(z: np.ndarray, k: int, seed: int, restarts: int = 4, iters: int = 100):
    """Lowest-inertia of `restarts` k-means++ runs: (centroids (k, S), labels (N,), inertia)."""
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(restarts):
        c = _plusplus(z, k, rng)
        for _ in range(iters):
            labels = _nearest(z, c)
            new = np.stack([z[labels == j].mean(0) if np.any(labels == j) else c[j] for j in range(k)])
            if np.allclose(new, c):
                break
            c = new
        labels = _nearest(z, c)
        inertia = float(((z - c[labels]) ** 2).sum())
        if best is None or inertia < best[2]:
            best = (c, labels, inertia)
    return best


def _plusplus(z, k, rng):
    c = [z[rng.integers(len(z))]]
    for _ in range(1, k):
        d = ((z[:, None] - np.asarray(c)[None]) ** 2).sum(2).min(1)
        c.append(z[rng.choice(len(z), p=d / d.sum())] if d.sum() > 0 else z[rng.integers(len(z))])
    return np.asarray(c)


def _nearest(z, c):
    return ((z[:, None] - c[None]) ** 2).sum(2).argmin(1)


def silhouette(z: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (b - a) / max(a, b) over the rows (sklearn.metrics.silhouette_score)."""
    d = np.sqrt(((z[:, None] - z[None]) ** 2).sum(2))
    ks = np.unique(labels)
    if len(ks) < 2:
        return 0.0
    mean_to = np.stack([d[:, labels == j].mean(1) for j in ks], 1)  # (n, k), own cluster includes self
    own = np.searchsorted(ks, labels)
    n_own = np.array([(labels == j).sum() for j in ks])[own]
    a = mean_to[np.arange(len(z)), own] * n_own / np.maximum(n_own - 1, 1)  # exclude the row itself
    mean_to[np.arange(len(z)), own] = np.inf
    b = mean_to.min(1)
    s = np.where(n_own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def find_regimes(settings: np.ndarray, seed: int = 0, declared: np.ndarray | None = None):
    """(labels, centroids, center, scale, record) of training setting rows (N, S)."""
    center, scale = settings.mean(0), np.maximum(settings.std(0), MIN_STD)
    z = (settings - center) / scale
    if declared is not None:
        ks, labels = np.unique(declared, return_inverse=True)
        c = np.stack([z[labels == j].mean(0) for j in range(len(ks))])
        return labels, c, center, scale, {"rule": "declared regime column", "labels": ks.tolist()}
    sample = z[np.random.default_rng(seed).permutation(len(z))[:SAMPLE_ROWS]]
    scores, fits = {}, {}
    for k in range(2, K_MAX + 1):
        fits[k] = kmeans(sample, k, seed)
        scores[k] = round(silhouette(sample, fits[k][1]), 4)
    best = max(scores, key=scores.get)
    k = best if scores[best] >= MIN_SILHOUETTE else 1
    c = fits[k][0] if k > 1 else np.zeros((1, z.shape[1]))
    labels = _nearest(z, c)
    record = {
        "rule": f"k-means on standardized settings of {len(sample)} rows, k in 2..{K_MAX} by silhouette; "
        f"k = 1 unless the best silhouette >= {MIN_SILHOUETTE}",
        "silhouette": scores,
        "k": k,
    }
    return labels, c, center, scale, record


def fit_regimes(
    settings: np.ndarray,
    names: list[str],
    x: np.ndarray,
    seed: int = 0,
    declared: np.ndarray | None = None,
    onehot: bool = False,
    margin: float = 3.0,
) -> Regimes:
    """Regimes of the training rows and the per-regime mean/std of the feature rows `x` (N, F)."""
    if not names:
        raise DataError("regimes: the data has no setting columns to find operating regimes in")
    labels, c, center, scale, record = find_regimes(settings, seed, declared)
    k = len(c)
    counts = np.bincount(labels, minlength=k)
    if np.any(counts < 2):
        raise DataError(f"regimes: regime(s) {np.flatnonzero(counts < 2).tolist()} have fewer than 2 training rows")
    mean = np.stack([x[labels == j].mean(0) for j in range(k)])
    std = np.stack([np.maximum(x[labels == j].std(0), MIN_STD) for j in range(k)])
    z = (settings - center) / scale
    dist = np.linalg.norm(z - c[labels], axis=1)
    record.update(rows_per_regime=counts.tolist())
    return Regimes(
        list(names),
        center.tolist(),
        scale.tolist(),
        c.tolist(),
        mean.tolist(),
        std.tolist(),
        float(dist.max()),
        margin,
        onehot,
        record,
    )
