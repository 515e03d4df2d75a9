"""`prognos final`: the chosen configuration (or an ensemble of several) retrained on every training
unit, exported, and given a conformal interval calibrated on out-of-fold residuals.

Model selection is done (`prognos search`); nothing here looks at held-out data again:
- each member trains on all training units for the median best epoch of its CV folds, with no
  validation split and no early stopping (there is nothing left to stop on honestly);
- the bundle's interval is fitted on the out-of-fold residuals of the same configuration's CV,
  windows and test-protocol cuts (pipeline.cv.calibration_set; the final model's own residuals are
  training residuals and would give too narrow an interval);
- the int8-vs-fp32 parity (export.run) runs on windows of training units: it measures what
  quantization changes in the same model on the same inputs, not generalization. The accuracy to
  quote is the CV one, written next to it into final.json, with the CV plots of the average
  (predicted vs true RUL per held-out engine, error histogram, RMSE per fold) in RUN/report.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.intervals import fit_conformal
from prognos.pipeline.config import RunConfig
from prognos.pipeline.rul.cv import calibration_set
from prognos.pipeline.data.dataset import (
    CMAPSS_LAYOUT,
    fit_preprocessor,
    fitting_index,
    rows_of,
    split_units,
    window_index,
)
from prognos.pipeline.rul.ensemble import average_oof, build_ensemble, folds_of, score_ensemble, shared_data

# candidates for RUN/bundles/best, each measured on this machine (edge_runtime.choose): the fused LSTM
# (small file), DenseLSTM layouts that XNNPACK runs in fp32 and int8, onnxruntime's LSTM, and (for an
# ensemble of several LSTM members) those members merged into one DenseLSTM (export.merge)
FORMATS = (
    *("tflite_fp32", "tflite_int8_fused", "tflite_fp32_dense", "tflite_int8_dense", "tflite_dynamic", "onnx_fp32"),
    *("tflite_fp32_merged", "tflite_dynamic_merged", "tflite_int8_merged"),
)
BUDGET = 0.3  # RMSE cycles a candidate may lose against the Keras model on the parity windows


def member_configs(cv_dirs) -> list[tuple[RunConfig, int]]:
    """(config, epochs) per CV folder: its config with epochs = median best epoch over folds."""
    if not shared_data(cv_dirs):
        raise ConfigError(f"{list(cv_dirs)}: ensemble members must share every [data] setting but the window")
    out = []
    for d in cv_dirs:
        cv = json.loads((Path(d) / "cv.json").read_text())
        out.append((RunConfig.from_dict(cv["config"]), int(np.median(cv["best_epochs"]))))
    return out


def train_member(cfg: RunConfig, epochs: int, table: np.ndarray, log_dir=None, layout=CMAPSS_LAYOUT):
    from prognos.pipeline.rul.train import fit

    pre = fit_preprocessor(table, cfg.data, layout)
    model, _ = fit(cfg, pre, fitting_index(table, pre, cfg), None, stop_epoch=epochs, log_dir=log_dir)
    return model


def final_run(cv_dirs, run_dir, formats=FORMATS, coverage: float = 0.9, offset: float = 0.0) -> dict:
    """`offset`: a bias shift [cycles] added to every prediction (postprocessing.rul_offset; pipeline.rul.recipe)."""
    from prognos.export.run import Trained, export_run
    from prognos.pipeline.rul.train import load_training

    run_dir, t0 = Path(run_dir), time.time()
    run_dir.mkdir(parents=True, exist_ok=True)
    members = member_configs(cv_dirs)
    table, layout, _ = load_training(members[0][0], run_dir)
    models = []
    for i, (cfg, epochs) in enumerate(members):
        print(
            f"[prognos] final member {i + 1}/{len(members)}: {cfg.model.name}, window {cfg.data.window}, "
            f"{epochs} epochs on all {len(np.unique(table[:, 0]))} training units",
            flush=True,
        )
        models.append(train_member(cfg, epochs, table, log_dir=run_dir / "tb" / f"member{i + 1}", layout=layout))
    windows = [c.data.window for c, _ in members]
    model = build_ensemble(models, windows) if len(models) > 1 else models[0]
    cfg = replace(members[0][0], data=replace(members[0][0].data, window=max(windows)))
    if len(models) > 1:
        cfg = replace(cfg, model=replace(cfg.model, name="ensemble", hparams={"members": list(map(str, cv_dirs))}))
    pre = fit_preprocessor(table, cfg.data, layout)
    model.save(run_dir / "model.keras")
    (run_dir / "preprocessor.json").write_text(json.dumps(pre.to_dict(), indent=2))
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    train_seconds = round(time.time() - t0, 1)
    # the bundles carry exactly `pre`, the preprocessing the final members were fitted with (all units);
    # parity runs on the config's validation units, cut with that same `pre`
    _, val_units = split_units(table, cfg.data.val_fraction, cfg.data.seed)
    val = window_index(rows_of(table, val_units), pre, cfg.data.min_cycles)
    train = window_index(table, pre, cfg.data.min_cycles)
    formats = _applicable(formats, model)
    _clear_bundles(run_dir / "bundles")
    parity = export_run(Trained(model, pre, train, val, run_dir), list(formats))
    cv = score_ensemble(cv_dirs, coverage, plots_to=run_dir / "report")
    spec = _calibrate_bundles(run_dir, parity, formats, cv_dirs, coverage, cv, offset)
    chosen = _choose(run_dir)
    result = {
        "members": [
            {"cv_dir": str(d), "model": c.model.name, "window": c.data.window, "epochs": e}
            for d, (c, e) in zip(cv_dirs, members)
        ],
        "params": int(model.count_params()),
        "train_seconds": train_seconds,
        "cv": {k: cv[k] for k in ("rmse_mean", "rmse_std", "score_per_window_mean", "coverage_mean", "test_protocol")},
        "interval": spec,
        "bundles": _bundle_rows(parity, formats, chosen),
        "best": {k: chosen.get(k) for k in ("chosen", "why", "rule", "budget_rmse", "assets", "threads")},
        "parity_windows": "validation split of config.json (training units: the final model saw them)",
        "seconds": round(time.time() - t0, 1),
    }
    (run_dir / "final.json").write_text(json.dumps(result, indent=2))
    return result


def _applicable(formats, model) -> list[str]:
    """`formats` without the merged layouts when there are no LSTM members to merge (they would repeat
    the DenseLSTM ones)."""
    from prognos.export.merge import mergeable

    return [f for f in formats if not f.endswith("_merged") or mergeable(model)]


def _clear_bundles(folder: Path) -> None:
    """Remove the bundles of an earlier final in this run folder: a layout the new model does not get (a
    merged LSTM of members that no longer share a window) would stay behind and be measured, or even
    installed as best, next to the new ones."""
    import shutil

    if folder.is_dir():
        for d in folder.iterdir():
            if d.is_dir() and (d / "manifest.json").is_file():
                shutil.rmtree(d)
        (folder / "best.json").unlink(missing_ok=True)


def _calibrate_bundles(
    run_dir: Path, parity: dict, formats, cv_dirs, coverage: float, cv: dict, offset: float = 0.0
) -> dict:
    """Replace each bundle's interval with one fitted on out-of-fold residuals (of the shifted
    predictions, with an `offset`); CV metrics in the manifest."""
    oof = average_oof(cv_dirs)
    if offset:
        oof.update(pred=np.maximum(oof["pred"] + offset, 0), cut_pred=np.maximum(oof["cut_pred"] + offset, 0))
    spec = fit_conformal(*calibration_set(folds_of(oof)), coverage)
    spec.update(
        calibration=f"out-of-fold residuals of the CV ({len(cv_dirs)} member(s)): {len(oof['pred'])} "
        f"windows and {len(oof['cut_pred'])} test-protocol cuts, weighted equally",
        coverage_out_of_fold=cv["coverage_mean"],
        coverage_out_of_fold_test_protocol=cv["test_protocol"]["coverage_mean"],
    )
    for name in formats:
        if "error" in parity.get(name, {}):
            continue
        path = run_dir / "bundles" / name / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["postprocessing"]["interval"] = spec
        if offset:
            manifest["postprocessing"].update(
                rul_offset=offset,
                doc="RUL [cycles] = model output * rul_scale "
                "+ rul_offset (a bias shift fitted out of fold: earlier predictions)",
            )
        manifest["metrics"] = {
            "cv": {"rmse": cv["rmse_mean"], "test_protocol_rmse": cv["test_protocol"]["rmse_mean"]},
            "parity_on_training_units": manifest["metrics"].get("val"),
        }
        path.write_text(json.dumps(manifest, indent=2))
    return spec


def _choose(run_dir: Path) -> dict:
    """Measure every bundle on this machine, install the fastest within BUDGET as bundles/best."""
    from prognos.edge_runtime.choose import choose

    try:
        result = choose(run_dir / "bundles", seconds=3.0, budget=BUDGET)
    except ConfigError as e:  # no bundle within budget: the run stands, without a recommendation
        print(f"[prognos] no bundles/best: {e}", flush=True)
        return {"chosen": None, "why": str(e), "candidates": {}}
    print(f"[prognos] bundles/best = {result['why']}", flush=True)
    return result


def _bundle_rows(parity: dict, formats, chosen: dict) -> dict:
    """Size and accuracy change per bundle, with its latency and rows/s as measured for the choice."""
    rows = {}
    for name in formats:
        p = parity.get(name, {})
        rows[name] = (
            {"error": p["error"]}
            if "error" in p
            else {
                "size_bytes": p["size_bytes"],
                "rmse_delta_vs_keras": p["rmse_delta"],
                "max_abs_diff": p["max_abs_diff"],
                **{k: v for k, v in chosen["candidates"].get(name, {}).items() if k not in ("format", "rmse_delta")},
            }
        )
    return rows
