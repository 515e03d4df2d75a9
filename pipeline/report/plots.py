"""Plots people would rather look at than read: learning curves, RUL over an engine's life."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prognos.export.plots import pyplot, save


def learning_curve(history: dict, path: Path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("loss", "val_loss"):
        if key in history:
            ax.plot(history.get("epoch") or np.arange(1, len(history[key]) + 1), history[key], label=key)
    ax.set(xlabel="epoch", ylabel="MSE of RUL / cap", yscale="log", title="Learning curve")
    ax.legend()
    save(fig, path)


def rul_trajectories(cycle, true, pred, unit, path: Path, max_units: int = 6):
    """Predicted vs true RUL over the life of a few validation engines."""
    plt = pyplot()
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
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(err, bins=60, color="C0", alpha=0.8)
    ax.axvline(0, color="k", lw=1)
    ax.set(
        xlabel="predicted - true RUL [cycles] (positive = late, penalized more)",
        ylabel="windows",
        title=f"Out-of-fold errors: mean {np.mean(err):+.2f}, RMSE {np.sqrt(np.mean(np.square(err))):.2f}",
    )
    save(fig, path)


def fold_summary(rmse_per_fold, path: Path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    folds = np.arange(1, len(rmse_per_fold) + 1)
    ax.bar(folds, rmse_per_fold, color="C2")
    ax.axhline(np.mean(rmse_per_fold), color="k", ls="--", label=f"mean {np.mean(rmse_per_fold):.2f}")
    ax.set(xlabel="fold", ylabel="RMSE [cycles]", xticks=folds, title="Cross-validation by engine unit")
    ax.legend()
    save(fig, path)
