"""Matplotlib set-up shared by every figure (headless Agg backend), and the compression trade-off plot."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the headless Agg backend, unless pyplot is already in use (a notebook's
    inline backend is kept)."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, target, dpi: int = 110, **kwargs):
    """Lay out, write to `target` (a path or a binary buffer) and close: every figure ends here."""
    fig.tight_layout()
    fig.savefig(target, dpi=dpi, **kwargs)
    pyplot().close(fig)


def tradeoff(rows: list, keras_rmse: float, budget: float, chosen: str | None, path: Path):
    """Compression trade-off: validation RMSE against gzip size and against single-window latency."""
    plt = pyplot()
    from matplotlib.ticker import FuncFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for ax, key, label in (
        (axes[0], "gzip_bytes", "gzip size [KB]"),
        (axes[1], "p50_us", "latency p50 [µs], 1 thread"),
    ):
        for r in rows:
            x = r[key] / (1024 if key == "gzip_bytes" else 1)
            best = r["format"] == chosen
            ax.plot(
                x,
                r["val_rmse"],
                "*" if best else "o",
                ms=14 if best else 6,
                color="C3" if best else ("C0" if r["within_budget"] else "0.6"),
            )
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
