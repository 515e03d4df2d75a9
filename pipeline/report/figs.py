"""The figures of `prognos report`, each returned as PNG bytes (matplotlib, Agg; nothing on disk).

Every function takes what the run folder holds (parsed JSON/CSV) and returns `bytes`; the report
embeds them base64, so the page needs no server and no other file.
"""

from __future__ import annotations

import io

import numpy as np

from prognos.pipeline.report.plots import pyplot, save


def _png(fig) -> bytes:
    buf = io.BytesIO()
    save(fig, buf, dpi=100, format="png")
    return buf.getvalue()


def learning_curves(history: dict) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key in sorted(k for k in history if k != "epoch"):
        ax.plot(np.arange(1, len(history[key]) + 1), history[key], label=key)
    ax.set(xlabel="epoch", ylabel="value", yscale="log", title="Learning curves (training and validation)")
    ax.legend(fontsize=8)
    return _png(fig)


def confusion_matrix(c, classes) -> bytes:
    plt = pyplot()
    c = np.asarray(c, float)
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    im = ax.imshow(c / np.maximum(c.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    for i, j in zip(*np.nonzero(c)):
        ax.text(j, i, int(c[i, j]), ha="center", va="center", fontsize=6)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (validation, row-normalized colour)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _png(fig)


def roc_points(scores, positive) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every threshold of `scores` (higher = more positive)."""
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    pos = np.asarray(positive, bool)[order]
    tpr = np.concatenate([[0], np.cumsum(pos) / max(pos.sum(), 1)])
    fpr = np.concatenate([[0], np.cumsum(~pos) / max((~pos).sum(), 1)])
    return fpr, tpr


def roc(curves: dict) -> bytes:
    """`curves`: {label: (scores, positive)}; one ROC line each, with its area."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for label, (scores, positive) in curves.items():
        fpr, tpr = roc_points(scores, positive)
        ax.plot(fpr, tpr, label=f"{label} (AUC {np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC (validation)")
    ax.legend(fontsize=7)
    return _png(fig)


def tradeoff(rows: list[dict], metric: str) -> bytes:
    """Size vs metric and latency vs metric, one point per format: rows of {format, gzip_kb, p50_us, metric}."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, key, label in (
        (axes[0], "gzip_kb", "gzipped size [KB]"),
        (axes[1], "p50_us", "latency p50, 1 thread [µs]"),
    ):
        for i, r in enumerate(rows):
            ax.scatter(r[key], r["metric"], color=f"C{i % 10}", s=30)
            ax.annotate(r["format"], (r[key], r["metric"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set(xlabel=label, xscale="log")
    axes[0].set_ylabel(metric)
    fig.suptitle("Compression trade-off (lower left is better)")
    return _png(fig)


def op_profile(by_type: list[dict], title: str) -> bytes:
    plt = pyplot()
    rows = [r for r in by_type if r["us"] > 0][:12][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(rows) + 1.2))
    ax.barh([f"{r['op']} ×{r['count']}" for r in rows], [r["us"] for r in rows], color="C2")
    ax.set(xlabel="µs per inference (ops timed alone, summed)", title=title)
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)
