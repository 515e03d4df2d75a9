"""`prognos bench`: the matrix models x formats x threads, each cell measured in its own process.

Per cell (export.bench_cell): import and load time, single-window latency p50/p90/p99 (warm-up, run
count from a minimum measuring time, Tukey outlier fence: edge_runtime.timing), batched throughput
over the validation set, that runtime's peak RSS, file size raw and gzipped, and the validation
RMSE of the cell's own predictions, and for quantized TFLite bundles the TensorFlow Lite Micro check
(export.tflm: arena, parity with LiteRT; from the manifest). Ratios are taken within the same run and thread count, so they
survive a noisy machine: p50 / Keras `predict_on_batch` p50 and p50 / onnxruntime fp32 p50. The
physical bound of a model is its MACs per inference (models.macs) / the CPU's measured peak MAC rate
(edge_runtime.peak; int8 peak for int8 and dynamic-range formats, fp32 for the rest; the peak at t threads
is the best measured at t or fewer threads); `x_bound` = p50 /
bound. The bound counts arithmetic only; the measured latency also carries the Python call path
(set/get tensor, (de)quantization: a few µs), memory traffic and per-op dispatch. A failing
cell (missing bundle, runtime error, timeout) is recorded with its error; the matrix goes on.
Writes <run>/report/bench.{json,md} for each run and, for several runs, also <out>/bench.{json,md}.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from prognos.edge_runtime.timing import machine_info
from prognos.export.bundle import library_versions

# "best": the bundle `prognos-edge bench --candidates` (or the demo, `final`) installed as the recommendation
DEFAULT_FORMATS = [
    "keras",
    "tflite_fp32",
    "tflite_fp16",
    "tflite_dynamic",
    "tflite_int8",
    "tflite_int8_dense",
    "onnx_fp32",
    "onnx_int8",
    "best",
]
# formats whose matmuls run in int8 use the int8 peak (names containing these); dynamic-range ("hybrid")
# kernels quantize activations on the fly and multiply int8 x int8
from prognos.edge_runtime.bench import INT8_PEAK  # noqa: E402  (one list for both benches)


def git_commit() -> str | None:
    r = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1]
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout.strip()
    return (r.stdout.strip() + ("-dirty" if dirty else "")) if r.returncode == 0 else None


def model_macs(model) -> tuple[int | None, str | None]:
    try:
        from prognos.models.macs import count_macs
    except ImportError as e:
        return None, f"models.macs not available ({e})"
    try:
        return int(count_macs(model)), None
    except Exception as e:  # a layer the counter does not know: no bound for this model, the rest goes on
        return None, f"{type(e).__name__}: {e}"


def _validation(trained, tmp: Path):
    """Validation windows + true RUL into an .npz for the cells; MACs of the Keras model."""
    model, pre, val = trained.model, trained.pre, trained.val
    path = tmp / f"{Path(trained.out).name}-val.npz"
    np.savez(path, x=val.x.astype(np.float32), true=val.y * pre.rul_cap, rul_cap=pre.rul_cap)
    return path, model_macs(model)


def _sizes(path: Path) -> dict:
    data = path.read_bytes() if path.is_file() else b""
    return {"size_bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9))}


def _run_cell(spec: dict, timeout: float) -> dict:
    try:
        r = subprocess.run(
            [sys.executable, "-m", "prognos.export.bench_cell", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    if r.returncode:
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()] or [f"exit code {r.returncode}"]
        return {"error": lines[-1][:300]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _cells(run_dir: Path, fmt: str, val: Path, threads, min_seconds: float, batch: int) -> list[dict]:
    if fmt == "keras":
        path, spec_path = run_dir / "model.keras", run_dir / "model.keras"
    else:
        spec_path = run_dir / "bundles" / fmt
        manifest = spec_path / "manifest.json"
        path = spec_path / json.loads(manifest.read_text())["model_file"] if manifest.is_file() else spec_path
    rows = []
    for t in threads:
        row = {"model": run_dir.name, "format": fmt, "threads": t, **_sizes(path)}
        if fmt == "best" and path.is_file():  # the bound's peak follows what the recommendation is
            row["bundle_format"] = json.loads((spec_path / "manifest.json").read_text())["format"]
        if not path.is_file():
            row["error"] = f"no {fmt} bundle in {run_dir}/bundles (make quantize RUN={run_dir})"
        else:
            spec = {
                "kind": "keras" if fmt == "keras" else "bundle",
                "path": str(spec_path),
                "threads": t,
                "min_seconds": min_seconds,
                "val": str(val),
                "batch": batch,
            }
            row.update(_run_cell(spec, timeout=120 + 20 * min_seconds))
        print(
            f"[prognos]   {fmt:18s} {t} thread(s): "
            + (
                f"p50 {row['p50_us']:.0f} us, {row['windows_per_s']:.0f} windows/s, RSS {row['peak_rss_mb']:.0f} MB"
                if "error" not in row
                else f"FAILED {row['error']}"
            ),
            flush=True,
        )
        rows.append(row)
    return rows


def _compare(rows: list[dict], macs: int | None, peaks: dict) -> None:
    """Ratios to Keras and to ORT fp32 of the same model and thread count; distance from the bound."""
    ref = {(r["format"], r["threads"]): r.get("p50_us") for r in rows if "error" not in r}
    for r in rows:
        if "error" in r:
            continue
        for name, fmt in (("vs_keras", "keras"), ("vs_onnx_fp32", "onnx_fp32")):
            base = ref.get((fmt, r["threads"]))
            r[name] = float(f"{r['p50_us'] / base:.4g}") if base else None
        kind = "int8" if any(k in r.get("bundle_format", r["format"]) for k in INT8_PEAK) else "fp32"
        rate = peaks.get(str(r["threads"]), {}).get(kind)
        if macs and rate:
            r["bound_us"] = float(f"{macs / rate * 1e6:.4g}")  # 4 significant digits (a sub-µs bound too)
            r["bound_peak"] = kind
            r["x_bound"] = float(f"{r['p50_us'] / r['bound_us']:.4g}")


def bench_runs(
    runs,
    load,
    formats=None,
    threads=(1, 2),
    min_seconds: float = 1.0,
    batch: int = 256,
    out: Path | None = None,
    peak_seconds: float = 0.5,
) -> dict:
    formats = formats or DEFAULT_FORMATS
    print(f"[prognos] measuring the peak MAC rate of this CPU ({', '.join(map(str, threads))} threads)", flush=True)
    peaks = at_least_fewer_threads({t: _peak_or_error(t, peak_seconds) for t in sorted(threads)})
    models = []
    with tempfile.TemporaryDirectory(prefix="prognos-bench-") as tmp:
        for run_dir in map(Path, runs):
            print(f"[prognos] bench {run_dir}: {len(formats)} formats x {len(threads)} thread counts", flush=True)
            trained = load(run_dir)
            val, (macs, macs_error) = _validation(trained, Path(tmp))
            rows = [row for fmt in formats for row in _cells(run_dir, fmt, val, threads, min_seconds, batch)]
            checks = {fmt: tflm_of(run_dir / "bundles" / fmt, trained.val.x) for fmt in formats if fmt != "keras"}
            for r in rows:
                if checks.get(r["format"]):
                    r["tflm"] = checks[r["format"]]
            _compare(rows, macs, peaks)
            models.append(
                {"run": str(run_dir), "macs": macs, **({"macs_error": macs_error} if macs_error else {}), "rows": rows}
            )
    result = {
        "machine": machine_info(),
        "libraries": library_versions(),
        "commit": git_commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "min_seconds": min_seconds,
        "threads": list(threads),
        "peak_mac_per_s": peaks,
        "models": models,
    }
    for m in models:
        _write(Path(m["run"]) / "report", {**result, "models": [m]})
    if len(models) > 1 or out:
        _write(Path(out or "artifacts/bench"), result)
    return result


def at_least_fewer_threads(peaks: dict) -> dict:
    """{threads: rates} -> {"threads": rates} where each rate is the best at this or fewer threads.

    A process allowed t threads can always run on fewer, so its peak is at least theirs; on a shared
    machine a t-thread matmul that never got t cores would otherwise put the bound above the runtimes.
    """
    out, best = {}, {}
    for t, rates in peaks.items():
        if "error" in rates:
            out[str(t)] = rates
            continue
        best = {k: max(v, best.get(k, 0.0)) for k, v in rates.items() if k in ("fp32", "int8")}
        out[str(t)] = {**rates, **best, "measured": {k: rates[k] for k in best}}
    return out


def tflm_of(bundle_dir: Path, windows) -> dict | None:
    """A bundle's TFLM check (export.tflm): from its manifest (export.run records it), else measured now for
    a quantized TFLite bundle written before the check existed; None for the other formats."""
    from prognos.export import tflm
    from prognos.export.formats import BY_NAME

    path = bundle_dir / "manifest.json"
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    fmt = BY_NAME.get(manifest.get("format"))
    if "tflm" in manifest or fmt is None or not tflm.applies(fmt):
        return manifest.get("tflm")
    return tflm.check((bundle_dir / manifest["model_file"]).read_bytes(), windows)


def _peak_or_error(threads: int, seconds: float) -> dict:
    from prognos.edge_runtime.peak import peak_rates

    try:
        return peak_rates(threads, seconds)
    except Exception as e:  # no bound then, the latency matrix is still worth having
        return {"error": f"{type(e).__name__}: {e}"}


def _write(folder: Path, result: dict) -> None:
    from prognos.export.bench_table import markdown_table

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.json").write_text(json.dumps(result, indent=2))
    (folder / "bench.md").write_text(markdown_table(result))
    print(f"[prognos] wrote {folder}/bench.json and bench.md", flush=True)
