"""`prognos bench`: single-window latency, size and validation RMSE of every artifact of a run.

Latency protocol: 1 thread, 20 warm-up calls, then timed calls until at least `min_seconds` have
passed (at least 50 calls); p50 and p99 of the per-call times. Keras is timed with
`predict_on_batch` on one window (the in-process TensorFlow path). A failing cell is recorded
with its error and the loop goes on.
"""
from __future__ import annotations

import gzip
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_runtime.bundle import Bundle
from edge_runtime.timing import machine_info, time_calls
from export.bundle import library_versions
from export.formats import FORMATS


def _bench_keras(run_dir: Path, window: np.ndarray, parity: dict, min_seconds: float = 1.0) -> dict:
    from models.kerasapi import keras

    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    size = (run_dir / "model.keras").stat().st_size
    return {"format": "keras", **time_calls(lambda: model.predict_on_batch(window), min_seconds),
            "size_bytes": size, "val_rmse": parity.get("keras", {}).get("val", {}).get("rmse")}


def bench_bundle(bundle_dir: Path, window: np.ndarray, min_seconds: float = 1.0) -> dict:
    """Load time, single-window latency (1 thread), raw and gzip size, and manifest val RMSE of a bundle."""
    t0 = time.perf_counter()
    bundle = Bundle(bundle_dir, num_threads=1)
    load_ms = (time.perf_counter() - t0) * 1e3
    model_bytes = (bundle_dir / bundle.manifest["model_file"]).read_bytes()
    return {"format": bundle.manifest["format"], **time_calls(lambda: bundle.backend.run(window), min_seconds),
            "load_ms": round(load_ms, 1), "size_bytes": len(model_bytes),
            "gzip_bytes": len(gzip.compress(model_bytes, 9)),
            "val_rmse": bundle.manifest["metrics"].get("val", {}).get("rmse")}


def bench_run(run_dir, min_seconds: float = 1.0) -> dict:
    run_dir = Path(run_dir)
    parity_path = run_dir / "parity.json"
    parity = json.loads(parity_path.read_text()) if parity_path.exists() else {}
    pre = json.loads((run_dir / "preprocessor.json").read_text())
    window = np.random.default_rng(0).normal(size=(1, pre["window"], len(pre["features"]))).astype(np.float32)
    rows = [_cell("keras", lambda: _bench_keras(run_dir, window, parity, min_seconds))]
    for fmt in FORMATS:
        bundle_dir = run_dir / "bundles" / fmt.name
        if bundle_dir.is_dir():
            rows.append(_cell(fmt.name, lambda d=bundle_dir: bench_bundle(d, window, min_seconds)))
    result = {"machine": machine_info(), "libraries": library_versions(), "run": str(run_dir),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rows": rows}
    (run_dir / "bench.json").write_text(json.dumps(result, indent=2))
    (run_dir / "bench.md").write_text(markdown_table(result))
    return result


def _cell(name: str, fn) -> dict:
    try:
        return fn()
    except Exception as e:  # one failing cell must not stop the benchmark
        return {"format": name, "error": f"{type(e).__name__}: {e}"}


def markdown_table(result: dict) -> str:
    m = result["machine"]
    lines = [f"Single-window latency, 1 thread — {m['cpu']}, {m['cores']} cores, {result['date']}",
             f"(`prognos bench --run {result['run']}`)", "",
             "| format | p50 µs | p99 µs | size KB | gzip KB | val RMSE |", "|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['format']} | error: {r['error'][:60]} | | | | |")
            continue
        gz = f"{r['gzip_bytes'] / 1024:.1f}" if "gzip_bytes" in r else "–"
        rmse = f"{r['val_rmse']:.3f}" if r.get("val_rmse") is not None else "–"
        lines.append(f"| {r['format']} | {r['p50_us']:.0f} | {r['p99_us']:.0f} | {r['size_bytes'] / 1024:.1f} "
                     f"| {gz} | {rmse} |")
    return "\n".join(lines) + "\n"
