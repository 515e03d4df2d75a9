"""k-fold cross-validation by engine unit: honest model selection on training engines only.

Each outer fold holds out whole engines. Inside a fold, early stopping watches an inner validation
split of the fold's training engines, so the held-out engines influence nothing but their own
score. Out-of-fold predictions give the CV RMSE / NASA score (mean ± std over folds) and an honest
coverage of the conformal RUL interval: fold i's interval is calibrated on the other folds.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from edge_runtime.intervals import empirical_coverage, fit_conformal
from pipeline import cmapss, plots
from pipeline.config import RunConfig
from pipeline.dataset import fit_preprocessor, rows_of, split_units, window_index
from pipeline.metrics import rul_metrics


def unit_folds(table: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    units = np.random.default_rng(seed).permutation(np.unique(table[:, 0]).astype(int))
    return [np.sort(f) for f in np.array_split(units, k)]


def _run_fold(cfg: RunConfig, table, val_units) -> dict:
    from pipeline.train import fit

    train_units = np.setdiff1d(np.unique(table[:, 0]).astype(int), val_units)
    inner = rows_of(table, train_units)
    fit_units, stop_units = split_units(inner, cfg.data.val_fraction, cfg.data.seed)
    pre = fit_preprocessor(rows_of(table, fit_units), cfg.data)
    start = cfg.data.min_cycles
    model, history = fit(cfg, pre, window_index(rows_of(table, fit_units), pre, start),
                         window_index(rows_of(table, stop_units), pre, start))
    held = window_index(rows_of(table, val_units), pre, start)
    pred = model.predict(held.x, batch_size=1024, verbose=0)[:, 0] * pre.rul_cap
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    return {"unit": held.unit, "cycle": held.cycle, "true": held.y * pre.rul_cap, "pred": pred,
            "best_epoch": best_epoch, "params": int(model.count_params())}


def cross_validate(cfg: RunConfig, out_dir, k: int = 5, coverage: float = 0.9) -> dict:
    from pipeline.train import resolve_data

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data_dir, subset = resolve_data(cfg, out)
    table = cmapss.load_table(data_dir / f"train_{subset}.txt")
    folds = []
    for i, val_units in enumerate(unit_folds(table, k, cfg.data.seed)):
        print(f"[prognos] CV fold {i + 1}/{k}: {len(val_units)} held-out engines", flush=True)
        folds.append(_run_fold(cfg, table, val_units))
    summary = _summarize(folds, coverage)
    summary.update(config=cfg.to_dict(), k=k, seconds=round(time.time() - t0, 1),
                   data={"data_dir": str(data_dir), "subset": subset})
    (out / "cv.json").write_text(json.dumps(summary, indent=2))
    _plots(folds, summary, out)
    return summary


def _summarize(folds: list[dict], coverage: float) -> dict:
    per_fold = [rul_metrics(f["pred"], f["true"]) for f in folds]
    covered = []
    for i, f in enumerate(folds):
        others = [g for j, g in enumerate(folds) if j != i]
        spec = fit_conformal(np.concatenate([g["pred"] for g in others]),
                             np.concatenate([g["true"] for g in others]), coverage)
        covered.append(empirical_coverage(f["pred"], f["true"], spec))
    rmse = np.array([m["rmse"] for m in per_fold])
    score = np.array([m["score"] / m["n"] for m in per_fold])
    return {"rmse_mean": round(float(rmse.mean()), 3), "rmse_std": round(float(rmse.std()), 3),
            "score_per_window_mean": round(float(score.mean()), 3),
            "coverage_nominal": coverage, "coverage_mean": round(float(np.mean(covered)), 4),
            "coverage_per_fold": [round(c, 4) for c in covered], "folds": per_fold,
            "best_epochs": [f["best_epoch"] for f in folds], "params": folds[0]["params"]}


def _plots(folds, summary, out: Path):
    unit = np.concatenate([f["unit"] for f in folds])
    cycle = np.concatenate([f["cycle"] for f in folds])
    true = np.concatenate([f["true"] for f in folds])
    pred = np.concatenate([f["pred"] for f in folds])
    plots.rul_trajectories(cycle, true, pred, unit, out / "cv_rul_per_engine.png")
    plots.error_histogram(pred - true, out / "cv_error_histogram.png")
    plots.fold_summary([m["rmse"] for m in summary["folds"]], out / "cv_folds.png")
