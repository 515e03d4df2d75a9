"""Plots people would rather look at than read: learning curves, RUL over an engine's life."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, target, dpi: int = 110, **kwargs):
    """Lay out, write to `target` (a path or a binary buffer) and close: every figure ends here."""
    fig.tight_layout()
    fig.savefig(target, dpi=dpi, **kwargs)
    _plt().close(fig)


def learning_curve(history: dict, path: Path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("loss", "val_loss"):
        if key in history:
            ax.plot(history.get("epoch") or np.arange(1, len(history[key]) + 1), history[key], label=key)
    ax.set(xlabel="epoch", ylabel="MSE of RUL / cap", yscale="log", title="Learning curve")
    ax.legend()
    save(fig, path)


def rul_trajectories(cycle, true, pred, unit, path: Path, max_units: int = 6):
    """Predicted vs true RUL over the life of a few validation engines."""
    plt = _plt()
    units = np.unique(unit)[:max_units]
    fig, axes = plt.subplots(2, (len(units) + 1) // 2, figsize=(10, 5.5), squeeze=False, sharey=True)
    for ax, u in zip(axes.flat, units):
        m = unit == u
        ax.plot(cycle[m], true[m], "k-", label="true (capped)")
        ax.plot(cycle[m], pred[m], "C1.", ms=3, label="predicted")
        ax.set_title(f"unit {int(u)}", fontsize=9)
        ax.set_xlabel("cycle", fontsize=8)
    axes.flat[0].set_ylabel("RUL [cycles]")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Validation engines: predicted vs true RUL")
    save(fig, path)


def error_histogram(err, path: Path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(err, bins=60, color="C0", alpha=0.8)
    ax.axvline(0, color="k", lw=1)
    ax.set(xlabel="predicted - true RUL [cycles] (positive = late, penalized more)", ylabel="windows",
           title=f"Out-of-fold errors: mean {np.mean(err):+.2f}, RMSE {np.sqrt(np.mean(np.square(err))):.2f}")
    save(fig, path)


def fold_summary(rmse_per_fold, path: Path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    folds = np.arange(1, len(rmse_per_fold) + 1)
    ax.bar(folds, rmse_per_fold, color="C2")
    ax.axhline(np.mean(rmse_per_fold), color="k", ls="--", label=f"mean {np.mean(rmse_per_fold):.2f}")
    ax.set(xlabel="fold", ylabel="RMSE [cycles]", xticks=folds, title="Cross-validation by engine unit")
    ax.legend()
    save(fig, path)


def tradeoff(rows: list, keras_rmse: float, budget: float, chosen: str | None, path: Path):
    """Compression trade-off: validation RMSE against gzip size and against single-window latency."""
    plt = _plt()
    from matplotlib.ticker import FuncFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for ax, key, label in ((axes[0], "gzip_bytes", "gzip size [KB]"), (axes[1], "p50_us", "latency p50 [µs], 1 thread")):
        for r in rows:
            x = r[key] / (1024 if key == "gzip_bytes" else 1)
            best = r["format"] == chosen
            ax.plot(x, r["val_rmse"], "*" if best else "o", ms=14 if best else 6,
                    color="C3" if best else ("C0" if r["within_budget"] else "0.6"))
            ax.annotate(r["format"], (x, r["val_rmse"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.axhline(keras_rmse, color="k", lw=1, label=f"Keras fp32 {keras_rmse:.2f}")
        ax.axhline(keras_rmse + budget, color="C3", ls="--", lw=1, label=f"budget +{budget:g}")
        ax.set(xlabel=label, xscale="log")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.tick_params(axis="x", which="both", labelsize=7)
    axes[0].set_ylabel("validation RMSE [cycles]")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Size / speed / accuracy of the compressed variants (chosen: {chosen})")
    save(fig, path)
