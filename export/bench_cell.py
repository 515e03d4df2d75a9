"""One cell of `prognos bench`, in its own process: `python -m export.bench_cell '<spec json>'`.

A fresh interpreter per cell makes the peak RSS that runtime's alone (TensorFlow for the Keras
cell, LiteRT or onnxruntime for a bundle; a bundle cell never imports TensorFlow) and keeps one
runtime's thread pools and caches out of the next cell's numbers. Steps, in this order:
1. import the runtime (`import_s`), then load the model (`load_ms`: Keras `load_model`, or the
   bundle's manifest check + interpreter/session creation);
2. single-window latency with `edge_runtime.timing.time_calls` (warm-up, minimum measuring time,
   outlier fence; see there);
3. `peak_rss_mb`: the process's peak resident set so far (interpreter + numpy + runtime + model +
   the validation windows, whose size is reported as `val_mb`);
4. the whole validation set in batches of `batch` windows: `windows_per_s` (one timed pass after
   one warm-up batch) and the validation metric of these very predictions;
5. `fleet_rows_per_s`: a batch of `FLEET` windows (one per asset of a fleet, as the edge stream
   gathers them) timed like 2., windows per second of its p50.
The spec names `kind` ("keras" | "bundle"), `path`, `threads`, `min_seconds`, `val` (an .npz with
x, true, rul_cap) and `batch`. The result is one JSON line on stdout.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

FLEET = 64  # assets whose windows one backend call takes (edge_runtime.stream's default max_batch)


def _keras(path: str, threads: int):
    t0 = time.perf_counter()
    from prognos.models.kerasapi import keras  # sets TF_USE_LEGACY_KERAS before TensorFlow is imported
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    t1 = time.perf_counter()
    model = keras.models.load_model(path, safe_mode=True)
    t2 = time.perf_counter()
    return (lambda x: np.asarray(model.predict_on_batch(x))[:, 0]), t1 - t0, t2 - t1


def _bundle(path: str, threads: int):
    t0 = time.perf_counter()
    from prognos.edge_runtime.bundle import Bundle

    t1 = time.perf_counter()
    bundle = Bundle(path, num_threads=threads)
    t2 = time.perf_counter()
    return (lambda x: bundle.backend.run(x).reshape(len(x), -1)[:, 0]), t1 - t0, t2 - t1


def run_cell(spec: dict) -> dict:
    from prognos.edge_runtime.timing import peak_rss_mb, time_calls
    from prognos.edge_runtime.scoring import rul_metrics

    model, import_s, load_s = (_keras if spec["kind"] == "keras" else _bundle)(spec["path"], spec["threads"])
    val = np.load(spec["val"])
    x, true, cap = val["x"], val["true"], float(val["rul_cap"])
    latency = time_calls(lambda: model(x[:1]), spec["min_seconds"])
    fleet = time_calls(lambda: model(x[:FLEET]), spec["min_seconds"], warmup=3, min_calls=5)
    rss = peak_rss_mb()
    batch = spec["batch"]
    model(x[:batch])
    t0 = time.perf_counter()
    pred = np.concatenate([model(x[i : i + batch]) for i in range(0, len(x), batch)])
    seconds = time.perf_counter() - t0
    return {
        **latency,
        "import_s": round(import_s, 3),
        "load_ms": round(load_s * 1e3, 1),
        "peak_rss_mb": round(rss, 1),
        "val_mb": round(x.nbytes / 2**20, 1),
        "windows_per_s": round(len(x) / seconds, 1),
        "batch": batch,
        "fleet_rows_per_s": round(min(FLEET, len(x)) / fleet["p50_us"] * 1e6, 1),
        "val": rul_metrics(pred * cap, true),
    }


if __name__ == "__main__":
    print(json.dumps(run_cell(json.loads(sys.argv[1]))), flush=True)
