"""`prognos export` / `prognos quantize`: every requested format of a trained run -> verified bundles.

Each artifact is run on the validation windows in its real runtime (LiteRT or onnxruntime) and
compared with the Keras model: max |difference| and the RMSE delta go into parity.json, and the
validation metrics measured in the runtime go into the bundle's manifest.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from edge_runtime.bundle import Bundle
from edge_runtime.errors import DataError
from edge_runtime.intervals import fit_conformal
from export.bundle import write_bundle
from export.formats import get_formats
from pipeline.metrics import rul_metrics


def load_run(run_dir: Path):
    """The trained Keras model, its config and preprocessor, and its validation/training windows."""
    from models.kerasapi import keras
    from pipeline.config import RunConfig
    from pipeline.train import prepare

    if not (run_dir / "model.keras").is_file():
        raise DataError(f"{run_dir}: no model.keras; train first (make train RUN={run_dir})")
    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    config = json.loads((run_dir / "config.json").read_text())
    config.pop("resolved_data", None)
    cfg = RunConfig.from_dict(config)
    pre, train, val, _ = prepare(cfg, run_dir)
    return model, pre, train, val


def representative(train, n: int, seed: int = 0) -> np.ndarray:
    """`n` training windows for int8 calibration, drawn at random with a fixed seed."""
    idx = np.random.default_rng(seed).choice(len(train.x), min(n, len(train.x)), replace=False)
    return train.x[np.sort(idx)]


def export_run(run_dir, formats, calibration: int = 256) -> dict:
    run_dir = Path(run_dir)
    model, pre, train, val = load_run(run_dir)
    true = val.y * pre.rul_cap
    keras_pred = model.predict(val.x, batch_size=1024, verbose=0)[:, 0] * pre.rul_cap
    keras_metrics = rul_metrics(keras_pred, true)
    parity_path = run_dir / "parity.json"
    parity = json.loads(parity_path.read_text()) if parity_path.exists() else {}
    parity["keras"] = {"val": keras_metrics}
    rep = representative(train, calibration)
    for fmt in get_formats(formats):
        parity[fmt.name] = _export_one(run_dir, model, fmt, pre, rep, val, keras_pred, true, keras_metrics)
        parity_path.write_text(json.dumps(parity, indent=2))
    return parity


def _export_one(run_dir, model, fmt, pre, rep, val, keras_pred, true, keras_metrics) -> dict:
    print(f"[prognos] exporting {fmt.name}: {fmt.doc}", flush=True)
    t0 = time.time()
    data = fmt.write(model, rep if fmt.quantized else None)
    out = run_dir / "bundles" / fmt.name
    source = {"run": str(run_dir), "keras_val": keras_metrics}
    write_bundle(out, data, fmt, pre, {}, source)
    pred = Bundle(out).predict(val.x)
    metrics = rul_metrics(pred, true)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["metrics"] = {"val": metrics}
    # calibrated on this artifact's own validation residuals (the engines early stopping also saw)
    manifest["postprocessing"]["interval"] = fit_conformal(pred, true, coverage=0.9)
    manifest_path.write_text(json.dumps(manifest, indent=2))
    row = {"bundle": str(out), "size_bytes": len(data), "convert_seconds": round(time.time() - t0, 1),
           "max_abs_diff": round(float(np.max(np.abs(pred - keras_pred))), 4),
           "rmse_delta": round(metrics["rmse"] - keras_metrics["rmse"], 4), "val": metrics}
    print(f"[prognos]   {out}: {len(data):,} bytes, val RMSE {metrics['rmse']:.3f} "
          f"(Keras {keras_metrics['rmse']:.3f}), max |diff| {row['max_abs_diff']:.3f} cycles", flush=True)
    return row
