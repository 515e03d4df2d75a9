"""`prognos export|quantize|prune|cluster|qat`: requested formats of a trained run -> verified bundles.

Formats with a fine-tuning step (export.tune) are converted from the fine-tuned model. Each
artifact is run on the validation windows in its real runtime (LiteRT or onnxruntime) and compared
with the Keras model: max |difference| and the RMSE delta go into parity.json, and the validation
metrics measured in the runtime go into the bundle's manifest. Quantized TFLite files are also run
in TensorFlow Lite Micro (export.tflm: op coverage, smallest arena, parity with LiteRT), recorded in
parity.json and the manifest ("tflm"). A format that fails (converter
limits, unsupported layers) is recorded in parity.json as {"error": ...}; the others go on.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.intervals import fit_conformal
from prognos.export import tflm
from prognos.export.bundle import write_bundle
from prognos.export.formats import get_formats
from prognos.export.finetune import TuneConfig
from prognos.export.tune import Tuner
from prognos.edge_runtime.scoring import rul_metrics


@dataclass
class Trained:
    """What export is handed: a trained model, the exact preprocessor it was trained with, its training
    windows (int8 calibration, fine-tuning) and validation windows (parity), and the folder to write to.
    Export never loads or re-splits a training run itself; the training side builds this."""

    model: object
    pre: object
    train: object
    val: object
    out: Path


def representative(train, n: int, seed: int = 0) -> np.ndarray:
    """`n` training windows for int8 calibration, drawn at random with a fixed seed."""
    idx = np.random.default_rng(seed).choice(len(train.x), min(n, len(train.x)), replace=False)
    return train.x[np.sort(idx)]


def export_run(
    trained: Trained, formats, calibration: int = 256, tune_cfg: TuneConfig | None = None, overrides: dict | None = None
) -> dict:
    """Export `formats`; `overrides` (sparsity, schedule, clusters) replace the table's tune parameters."""
    model, pre, train, val, run_dir = trained.model, trained.pre, trained.train, trained.val, Path(trained.out)
    true = val.y * pre.rul_cap
    keras_pred = model.predict(val.x, batch_size=1024, verbose=0)[:, 0] * pre.rul_cap
    keras_metrics = rul_metrics(keras_pred, true)
    parity_path = run_dir / "parity.json"
    parity = json.loads(parity_path.read_text()) if parity_path.exists() else {}
    parity["keras"] = {"val": keras_metrics}
    rep = representative(train, calibration)
    tuner = Tuner(model, train, val, tune_cfg, calibration=rep)
    from prognos.export.bench import model_macs

    ctx = {
        "run_dir": run_dir,
        "pre": pre,
        "rep": rep,
        "val": val,
        "train_x": train.x,
        "true": true,
        "keras_pred": keras_pred,
        "keras_metrics": keras_metrics,
        "tuner": tuner,
        "overrides": overrides or {},
        "macs": model_macs(model)[0],
    }
    for fmt in get_formats(formats):
        parity[fmt.name] = _export_or_record(fmt, ctx)
        parity_path.write_text(json.dumps(parity, indent=2))
    return parity


def failed(parity: dict, formats) -> dict:
    """{format: error} for the formats of `parity` that failed."""
    return {n: parity[n]["error"] for n in formats if "error" in parity.get(n, {})}


def _export_or_record(fmt, ctx) -> dict:
    try:
        return _export_one(fmt, ctx)
    except Exception as e:  # a converter or tfmot limit of this model: data, not a crash of the whole run
        reason = error_reason(e)
        error = reason if reason.startswith(type(e).__name__) else f"{type(e).__name__}: {reason}"
        shutil.rmtree(ctx["run_dir"] / "bundles" / fmt.name, ignore_errors=True)  # no stale bundle
        print(f"[prognos]   FAILED {fmt.name}: {error}", flush=True)
        return {"error": error}


def error_reason(e: Exception) -> str:
    """The innermost "XError: ..." or "error: ..." line of a (keras / converter) error message."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [repr(e)]
    causes = [ln for ln in lines if re.match(r"^\w*Error: ", ln) or " error: " in f" {ln}"]
    return (causes or lines)[-1][:400]


def _export_one(fmt, ctx) -> dict:
    print(f"[prognos] exporting {fmt.name}: {fmt.doc}", flush=True)
    run_dir, pre, val, true, keras_metrics = ctx["run_dir"], ctx["pre"], ctx["val"], ctx["true"], ctx["keras_metrics"]
    t0 = time.time()
    tune = fmt.tune.with_overrides(**ctx["overrides"]) if fmt.tune else None
    model, report = ctx["tuner"].get(tune) if tune else (ctx["tuner"].model, None)
    data = fmt.write(model, ctx["rep"] if fmt.quantized else None)
    out = run_dir / "bundles" / fmt.name
    source = {"run": str(run_dir), "keras_val": keras_metrics, **({"tune": report} if report else {})}
    write_bundle(out, data, fmt, pre, {}, source, train_x=ctx["train_x"], macs=ctx["macs"])
    pred, metrics = _verify(out, val.x, true)
    row = {
        "bundle": str(out),
        "size_bytes": len(data),
        "convert_seconds": round(time.time() - t0, 1),
        "max_abs_diff": round(float(np.max(np.abs(pred - ctx["keras_pred"]))), 4),
        "rmse_delta": round(metrics["rmse"] - keras_metrics["rmse"], 4),
        "val": metrics,
    }
    if tflm.applies(fmt):
        row["tflm"] = tflm.record(out, data, val.x)
    if report:  # the fine-tuned Keras model itself (fake-quantized for QAT), to tell tuning from conversion
        tuned = rul_metrics(model.predict(val.x, batch_size=1024, verbose=0)[:, 0] * pre.rul_cap, true)
        row["tune"] = _write_tune_report(run_dir, fmt.name, {**report, "tuned_keras_val": tuned})
    print(
        f"[prognos]   {out}: {len(data):,} bytes, val RMSE {metrics['rmse']:.3f} "
        f"(Keras {keras_metrics['rmse']:.3f}), max |diff| {row['max_abs_diff']:.3f} cycles",
        flush=True,
    )
    return row


def _verify(out: Path, windows, true):
    """Run the bundle in its real runtime; record the measured metrics and interval in its manifest."""
    pred = Bundle(out).predict(windows)
    metrics = rul_metrics(pred, true)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["metrics"] = {"val": metrics}
    # calibrated on this artifact's own validation residuals (the engines early stopping also saw)
    manifest["postprocessing"]["interval"] = fit_conformal(pred, true, coverage=0.9)
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return pred, metrics


def _write_tune_report(run_dir: Path, name: str, report: dict) -> dict:
    """report/tune_<format>.json (per-layer sparsity and distinct values); returns a summary row."""
    path = run_dir / "report" / f"tune_{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    skipped = set(report.get("skipped", ()))
    kernels = [k for name, layer in report["weights"].items() if name not in skipped for k in layer.values()]
    total = sum(k["size"] for k in kernels)
    zeros = sum(k["sparsity"] * k["size"] for k in kernels)
    return {
        **report["tune"],
        "report": str(path),
        "tuned_keras_rmse": report["tuned_keras_val"]["rmse"],
        "kernel_sparsity": round(zeros / max(total, 1), 4),
        "max_unique_per_kernel": max((k["unique"] for k in kernels), default=0),
    }
