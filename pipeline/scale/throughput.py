"""`prognos scale`: stream a large simulated fleet through the tf.data training pipeline and measure it.

Simulates `units` engines in memory (`simulate.simulate_table`), fits the preprocessing, builds the
window index and streams `epochs` passes of shuffled batches (`tfdata.training_stream`). Reports
windows/s (median pass; the first includes start-up) and resident memory (Linux VmRSS/VmHWM): after
importing TensorFlow, the peak while building the arrays (the float64 table dominates), with the
raw arrays only, and the peak while streaming (VmHWM reset before). The claim it checks: streaming
adds a few batches and one permutation (8 bytes per window) on top of the raw arrays, never the
(windows x window x features) tensor that `training_windows` would materialize. Optionally times
`fit_steps` training steps of a model on the same stream, to compare with the pipeline's rate.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

MB = 2**20


def _status(field: str) -> float:
    """VmRSS / VmHWM of this process in MB (Linux), or nan elsewhere."""
    path = Path("/proc/self/status")
    if not path.exists():
        return float("nan")
    for line in path.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / MB
    return float("nan")


def _trim():
    """Hand freed heap back to the OS (glibc), so RSS shows what is live, not the freed table."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak():
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        pass


def scale_run(
    units: int, batch: int = 1024, seed: int = 0, fit_steps: int = 0, model: str = "lstm", epochs: int = 3
) -> dict:
    from prognos.models.kerasapi import tf
    from prognos.pipeline.config import DataConfig
    from prognos.pipeline.data.dataset import fit_preprocessor, window_index
    from prognos.pipeline.data.simulate import simulate_table

    tf.constant(0.0) + 1  # start the runtime: the baseline includes TensorFlow
    _trim()
    rss_tf = _status("VmRSS")
    t0 = time.time()
    table = simulate_table(units, seed)
    t1 = time.time()
    pre = fit_preprocessor(table, DataConfig(seed=seed))
    index = window_index(table, pre)
    rows = len(table)
    del table
    gc.collect()
    _trim()
    t2 = time.time()
    raw = sum(a.nbytes for a in (index.z, index.rul, index.row_unit, index.row_cycle, index.ends))
    rss_data, peak_build = _status("VmRSS"), _status("VmHWM")
    _reset_peak()
    rates = _stream(index, batch, seed, epochs)
    n, (w, f) = len(index), index.window_shape
    result = {
        "units": units,
        "rows": rows,
        "windows": n,
        "window": w,
        "features": f,
        "batch": batch,
        "windows_per_s": sorted(rates)[len(rates) // 2],
        "windows_per_s_each_epoch": rates,
        "simulate_seconds": round(t1 - t0, 1),
        "index_seconds": round(t2 - t1, 1),
        "raw_arrays_mb": round(raw / MB, 1),
        "materialized_windows_mb": round(n * w * f * 4 / MB, 1),
        "rss_mb": {
            "tensorflow": round(rss_tf),
            "peak_while_building": round(peak_build),
            "with_raw_arrays": round(rss_data),
            "peak_while_streaming": round(_status("VmHWM")),
        },
    }
    result["streaming_overhead_mb"] = result["rss_mb"]["peak_while_streaming"] - result["rss_mb"]["with_raw_arrays"]
    if fit_steps:
        result["fit"] = _time_fit(index, batch, seed, fit_steps, model)
        result["fit"]["peak_rss_mb"] = round(_status("VmHWM"))
    return result


def _stream(index, batch: int, seed: int, epochs: int) -> list[int]:
    """Windows/s of each of `epochs` passes over the shuffled training stream."""
    from prognos.pipeline.scale import tfdata

    steps = tfdata.steps_per_epoch(index, batch)
    it = iter(tfdata.training_stream(index, batch, seed))
    rates = []
    for _ in range(epochs):
        t, seen = time.time(), 0
        for _ in range(steps):
            seen += int(next(it)[0].shape[0])
        rates.append(round(seen / (time.time() - t)))
    return rates


def _time_fit(index, batch: int, seed: int, steps: int, model_name: str) -> dict:
    """Training windows/s of `model_name` on the stream (the first, tracing, epoch not timed)."""
    from prognos.models import create_model
    from prognos.models.kerasapi import keras
    from prognos.pipeline.scale import tfdata

    keras.utils.set_random_seed(seed)
    model = create_model(model_name, index.window_shape, task="rul")
    model.compile(keras.optimizers.Adam(2e-3), loss="mse")
    stream = tfdata.training_stream(index, batch, seed)
    model.fit(stream, steps_per_epoch=2, epochs=1, verbose=0)
    t = time.time()
    model.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)
    dt = time.time() - t
    return {"model": model_name, "steps": steps, "seconds": round(dt, 2), "windows_per_s": round(steps * batch / dt)}
