"""`prognos-edge bench`: on-device latency of an installed bundle, with nothing but the edge runtime.

Reports, on synthetic rows drawn around the bundle's training statistics:
- import + load: a fresh interpreter importing the runtime and loading the bundle (median of 5), and
  that process's CPU time until then (interpreter start-up included; robust to a busy machine);
- reload: loading the bundle again in this process (the cost of a hot-swap);
- invoke: one window through the backend (`backend.run`, quantize/dequantize included), p50/p99;
- end-to-end: one raw text row in -> its JSON line out, excluding I/O (parse, ring buffer,
  window, model, postprocessing, alerts, json.dumps), one asset, one row at a time, p50/p99;
- throughput: rows/s when 64 assets stream at once (windows batched across assets);
- RSS: peak of a fresh interpreter that loaded the bundle and streamed 2,000 rows (what the
  service needs, without the benchmark's own synthetic data).
A vibration bundle (raw samples, a DspSpec) gets load, reload and RSS as above and, instead of the
row measurements, DSP and model per window and real-time channels per core (`edge_runtime.vib_bench`).
Timing protocol: `edge_runtime.timing.time_calls` (the project's one timer).
"""
from __future__ import annotations

import io
import statistics
import subprocess
import sys
import time

import numpy as np

from prognos.edge_runtime.bundle import Bundle, read_manifest
from prognos.edge_runtime.feed import Feeder
from prognos.edge_runtime.service import to_json_line
from prognos.edge_runtime.soak import generate
from prognos.edge_runtime.stream import StreamEngine
from prognos.edge_runtime.timing import machine_info, peak_rss_mb, rss_mb, time_calls

_PROBE = ("import time; t = time.perf_counter(); from prognos.edge_runtime.bundle import Bundle; b = Bundle({path!r}); "
          "dt = time.perf_counter() - t; cpu = time.process_time(); "
          "from prognos.edge_runtime.bench import probe_rss; print(dt, cpu, probe_rss(b))")


def probe_rss(bundle: Bundle) -> float:
    """Peak RSS (MB) of this process after streaming 2,000 rows of 64 assets through `bundle` to JSON
    (a vibration bundle: 12 rounds of one block from each of 64 assets)."""
    if bundle.dsp is not None:
        from prognos.edge_runtime.vib_bench import service_path

        service_path(bundle, 0.0, 64)
        return peak_rss_mb()
    feeder = Feeder(StreamEngine(bundle))
    lines = _lines(bundle, 2000, 64)
    for i in range(0, len(lines), 256):
        preds, events = feeder.feed_lines(lines[i : i + 256])
        "".join(map(to_json_line, preds + events))
    return peak_rss_mb()


def fresh_process(bundle_dir, runs: int = 5) -> dict:
    """Import + bundle load time and the runtime's peak RSS, each run in a fresh interpreter."""
    times, cpus, rss = [], [], []
    for _ in range(runs):
        r = subprocess.run([sys.executable, "-c", _PROBE.format(path=str(bundle_dir))], capture_output=True,
                           text=True, check=True)
        dt, cpu, mb = map(float, r.stdout.strip().splitlines()[-1].split())
        times.append(dt)
        cpus.append(cpu)
        rss.append(mb)
    return {"import_and_load_s": round(statistics.median(times), 4), "import_and_load_min_s": round(min(times), 4),
            "process_cpu_until_loaded_s": round(statistics.median(cpus), 4),
            "service_peak_rss_mb": round(statistics.median(rss), 1)}


def reload_seconds(bundle_dir, threads: int, runs: int = 5) -> float:
    """Loading the bundle again in a process that has imported everything: the cost of a hot-swap."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        Bundle(bundle_dir, num_threads=threads)
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 4)


def _lines(bundle: Bundle, rows: int, assets: int) -> list[str]:
    pre, buf = bundle.preprocessor, io.BytesIO()
    generate(buf, pre.features, pre.mean, pre.std, rows, assets, 0.0, "text")
    return buf.getvalue().decode().splitlines()


def _vibration(bundle_dir, seconds: float, threads: int, probes: int) -> dict:
    from prognos.edge_runtime.vib_bench import vib_bench

    return {"bundle": str(bundle_dir), "format": read_manifest(bundle_dir)["format"], "machine": machine_info(),
            "probes": probes, **fresh_process(bundle_dir, probes), "reload_s": reload_seconds(bundle_dir, threads),
            "vibration": vib_bench(bundle_dir, seconds, threads)}


def bench(bundle_dir, seconds: float = 2.0, threads: int = 1, probes: int = 5) -> dict:
    if "dsp" in read_manifest(bundle_dir)["preprocessing"]:  # raw samples: edge_runtime.vib_bench
        return _vibration(bundle_dir, seconds, threads, probes)
    fresh = fresh_process(bundle_dir, probes)
    bundle = Bundle(bundle_dir, num_threads=threads)
    pre = bundle.preprocessor
    window = np.random.default_rng(0).normal(size=(1, pre.window, len(pre.features))).astype(np.float32)
    invoke = time_calls(lambda: bundle.backend.run(window), min_seconds=seconds)
    one = iter(_lines(bundle, max(20_000, int(seconds * 50_000)), 1))  # > calls at >= 20 us per row
    feeder = Feeder(StreamEngine(bundle, rules=None))

    def row_to_json():
        preds, events = feeder.feed_lines([next(one)])
        return "".join(map(to_json_line, preds + events))

    e2e = time_calls(row_to_json, min_seconds=seconds)
    many = _lines(bundle, 64 * 200, 64)
    feeder = Feeder(StreamEngine(bundle))
    t0 = time.perf_counter()
    for i in range(0, len(many), 256):
        preds, events = feeder.feed_lines(many[i : i + 256])
        "".join(map(to_json_line, preds + events))
    rows_per_s = len(many) / (time.perf_counter() - t0)
    return {"bundle": str(bundle_dir), "format": bundle.manifest["format"], "machine": machine_info(),
            "probes": probes, **fresh, "reload_s": reload_seconds(bundle_dir, threads), "invoke": invoke,
            "end_to_end_row_to_json": e2e,
            "e2e_over_invoke_p50": round(e2e["p50_us"] / invoke["p50_us"], 2),
            "throughput_rows_per_s_64_assets": round(rows_per_s), "bench_rss_mb": round(rss_mb(), 1)}


def table(r: dict) -> str:
    head = [
        f"bundle {r['bundle']} ({r['format']}) on {r['machine']['cpu']}, {r['machine']['cores']} cores",
        f"import + load      {r['import_and_load_s'] * 1e3:8.1f} ms (fresh interpreter, median of {r['probes']}; "
        f"min {r['import_and_load_min_s'] * 1e3:.1f}; process CPU until loaded "
        f"{r['process_cpu_until_loaded_s'] * 1e3:.1f})",
        f"reload in process  {r['reload_s'] * 1e3:8.1f} ms (what a hot-swap costs)"]
    if "vibration" in r:
        from prognos.edge_runtime.vib_bench import vib_table

        return "\n".join(head + vib_table(r) + [f"service RSS        {r['service_peak_rss_mb']:8.1f} MB (peak, fresh "
                                                 "interpreter: load + 64 assets streaming)"])
    return "\n".join(head + [
        f"invoke  p50 / p99  {r['invoke']['p50_us']:8.1f} / {r['invoke']['p99_us']:.1f} us (one window)",
        f"row->JSON p50/p99  {r['end_to_end_row_to_json']['p50_us']:8.1f} / "
        f"{r['end_to_end_row_to_json']['p99_us']:.1f} us ({r['e2e_over_invoke_p50']}x invoke)",
        f"throughput         {r['throughput_rows_per_s_64_assets']:8d} rows/s (64 assets, batched)",
        f"service RSS        {r['service_peak_rss_mb']:8.1f} MB (peak, fresh interpreter: load + 2,000 rows)"])
