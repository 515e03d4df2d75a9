"""`prognos-edge bench`: on-device latency of an installed bundle, with nothing but the edge runtime.

Reports, on synthetic rows drawn around the bundle's training statistics:
- import + load: a fresh interpreter importing the runtime and loading the bundle (median of 5), and
  that process's CPU time until then (interpreter start-up included; robust to a busy machine);
- reload: loading the bundle again in this process (the cost of a hot-swap);
- invoke: one window through the backend (`backend.run`, quantize/dequantize included), p50/p99;
- end-to-end: one raw text row in -> its JSON line out, excluding I/O (parse, ring buffer,
  window, model, postprocessing, alerts, json.dumps), one asset, one row at a time, p50/p99;
- fleet: N assets (default 64 and 1024) each sending one row per tick, fed tick by tick through the
  same path (text rows -> JSON lines, windows batched across assets, at most `MAX_CHUNK` per backend
  call): rows/s over wall time and over this process's CPU time (= per core: one thread), and the
  model alone on a batch of N windows (`model_batch`);
- bound: MACs per window (manifest `macs_per_window`) / this CPU's measured peak MAC rate at one
  thread (edge_runtime.peak; the int8 peak for int8 and dynamic-range formats, fp32 otherwise), and
  `x_bound`: single-window p50 and batched CPU time per window over that bound;
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

from prognos.edge_runtime.backends import MAX_CHUNK
from prognos.edge_runtime.bundle import Bundle, read_manifest
from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.feed import Feeder
from prognos.edge_runtime.service import to_json_line
from prognos.edge_runtime.soak import generate
from prognos.edge_runtime.stream import StreamConfig, StreamEngine
from prognos.edge_runtime.timing import machine_info, peak_rss_mb, rss_mb, time_calls

_PROBE = (
    "import time; t = time.perf_counter(); from prognos.edge_runtime.bundle import Bundle; b = Bundle({path!r}); "
    "dt = time.perf_counter() - t; cpu = time.process_time(); "
    "from prognos.edge_runtime.bench import probe_rss; print(dt, cpu, probe_rss(b))"
)


def probe_rss(bundle: Bundle) -> float:
    """Peak RSS (MB) of this process after streaming 2,000 rows of 64 assets through `bundle` to JSON
    (a vibration bundle: 12 rounds of one block from each of 64 assets)."""
    if bundle.dsp is not None:
        from prognos.edge_runtime.vib_bench import service_path

        service_path(bundle, 0.0, 64)
        return peak_rss_mb()
    feeder = Feeder(StreamEngine(bundle))
    lines = _lines(bundle, 2000, 64, feeder)
    for i in range(0, len(lines), 256):
        preds, events = feeder.feed_lines(lines[i : i + 256])
        "".join(map(to_json_line, preds + events))
    return peak_rss_mb()


def fresh_process(bundle_dir, runs: int = 5) -> dict:
    """Import + bundle load time and the runtime's peak RSS, each run in a fresh interpreter."""
    times, cpus, rss = [], [], []
    for _ in range(runs):
        r = subprocess.run(
            [sys.executable, "-c", _PROBE.format(path=str(bundle_dir))], capture_output=True, text=True, check=True
        )
        dt, cpu, mb = map(float, r.stdout.strip().splitlines()[-1].split())
        times.append(dt)
        cpus.append(cpu)
        rss.append(mb)
    return {
        "import_and_load_s": round(statistics.median(times), 4),
        "import_and_load_min_s": round(min(times), 4),
        "process_cpu_until_loaded_s": round(statistics.median(cpus), 4),
        "service_peak_rss_mb": round(statistics.median(rss), 1),
    }


def reload_seconds(bundle_dir, threads: int, runs: int = 5) -> float:
    """Loading the bundle again in a process that has imported everything: the cost of a hot-swap."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        Bundle(bundle_dir, num_threads=threads)
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 4)


def _lines(bundle: Bundle, rows: int, assets: int, feeder: Feeder) -> list[str]:
    """Synthetic text rows for `bundle` (edge_runtime.synthetic); a CSV header goes to `feeder` first."""
    buf = io.BytesIO()
    generate(buf, bundle.manifest["preprocessing"], rows, assets, 0.0, "text")
    lines = buf.getvalue().decode().splitlines()
    head = len(lines) - rows
    feeder.feed_lines(lines[:head])
    return lines[head:]


def _vibration(bundle_dir, seconds: float, threads: int, probes: int) -> dict:
    from prognos.edge_runtime.vib_bench import vib_bench

    return {
        "bundle": str(bundle_dir),
        "format": read_manifest(bundle_dir)["format"],
        "machine": machine_info(),
        "probes": probes,
        **fresh_process(bundle_dir, probes),
        "reload_s": reload_seconds(bundle_dir, threads),
        "vibration": vib_bench(bundle_dir, seconds, threads),
    }


FLEETS = (64, 1024)  # assets streaming at once


def parse_assets(text: str) -> tuple[int, ...]:
    """ "64,1024" -> (64, 1024); ConfigError unless positive integers."""
    try:
        out = tuple(int(v) for v in text.split(","))
    except ValueError:
        out = ()
    if not out or min(out) < 1:
        raise ConfigError(f"bench --assets {text!r}: expected positive integers separated by commas, e.g. 64,1024")
    return out


INT8_PEAK = ("int8", "dynamic")  # formats whose matmuls run in int8 (as export.bench)


def fleet(bundle: Bundle, assets: int, seconds: float) -> dict:
    """`assets` assets sending one row per tick, tick by tick through the service path, for >= `seconds`."""
    ticks = max(4, int(seconds * 30_000 / assets) + 2)  # more rows than the timed seconds need at >= 30 us/row
    feeder = Feeder(StreamEngine(bundle, StreamConfig(max_batch=min(assets, MAX_CHUNK))))
    lines = _lines(bundle, assets * ticks, assets, feeder)
    feeder.feed_lines(lines[:assets])  # warm-up tick: rings created, interpreters resized
    rows = preds = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(assets, len(lines), assets):
        out, events = feeder.feed_lines(lines[i : i + assets])
        "".join(map(to_json_line, out + events))
        rows, preds = rows + assets, preds + len(out)
        if time.perf_counter() - t0 >= seconds and rows >= 3 * assets:
            break
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "assets": assets,
        "rows": rows,
        "predictions": preds,
        "seconds": round(wall, 4),
        "cpu_seconds": round(cpu, 4),
        "rows_per_s": round(rows / wall, 1),
        "rows_per_cpu_s": round(rows / cpu, 1) if cpu > 0 else None,
        "max_batch": min(assets, MAX_CHUNK),
    }


def model_batch(bundle: Bundle, windows: np.ndarray, seconds: float) -> dict:
    """The backend alone on a batch of len(windows) windows: p50 per call and per window (wall), and this
    process's CPU time per window over the same calls (what one core spends; robust to a shared machine)."""
    c0 = time.process_time()
    t = time_calls(lambda: bundle.backend.run(windows), min_seconds=seconds, warmup=3, min_calls=5)
    cpu = (time.process_time() - c0) / (t["calls"] + 3)
    n = len(windows)
    return {
        "batch": n,
        "p50_us": t["p50_us"],
        "per_window_us": round(t["p50_us"] / n, 3),
        "windows_per_s": round(n / t["p50_us"] * 1e6, 1),
        "cpu_per_window_us": round(cpu / n * 1e6, 3),
    }


def mac_bound(bundle: Bundle, threads: int, peak_seconds: float) -> dict:
    """Bound per window = MACs / peak MAC rate (which peak: int8 for int8 formats, else fp32)."""
    from prognos.edge_runtime.peak import peak_rates

    macs = bundle.manifest.get("macs_per_window")
    if not macs:
        return {"error": "the manifest has no macs_per_window (bundles exported before it was recorded)"}
    kind = "int8" if any(k in bundle.manifest["format"] for k in INT8_PEAK) else "fp32"
    peak = peak_rates(threads, peak_seconds)
    if kind not in peak:
        return {"macs": macs, "peak": kind, "error": peak.get("int8_error", f"no {kind} peak")}
    return {
        "macs": macs,
        "peak": kind,
        "peak_mac_per_s": round(peak[kind]),
        "bound_us": round(macs / peak[kind] * 1e6, 3),
    }


def bench(
    bundle_dir,
    seconds: float = 2.0,
    threads: int = 1,
    probes: int = 5,
    fleets=FLEETS,
    peak_seconds: float = 0.5,
    runtime: str | None = None,
) -> dict:
    """Every measurement of the module docstring; `runtime` (e.g. "openvino") for all but load and RSS."""
    if "dsp" in read_manifest(bundle_dir)["preprocessing"]:  # raw samples: edge_runtime.vib_bench
        return _vibration(bundle_dir, seconds, threads, probes)
    fresh = fresh_process(bundle_dir, probes)
    bundle = Bundle(bundle_dir, num_threads=threads, runtime=runtime)
    pre = bundle.preprocessor
    windows = np.random.default_rng(0).normal(size=(max(fleets), pre.window, pre.width)).astype(np.float32)
    invoke = time_calls(lambda: bundle.backend.run(windows[:1]), min_seconds=seconds)
    e2e = _row_to_json(bundle, seconds)
    fleet_rows = [fleet(bundle, n, seconds) for n in fleets]
    batches = [model_batch(bundle, windows[:n], seconds / 2) for n in fleets]
    bound = mac_bound(bundle, threads, peak_seconds)
    if "bound_us" in bound:
        bound["x_bound_single"] = round(invoke["p50_us"] / bound["bound_us"], 2)
        bound["x_bound_batched"] = {
            str(b["batch"]): round(b["cpu_per_window_us"] / bound["bound_us"], 2) for b in batches
        }  # CPU time per window: robust to a shared machine
    return {
        "bundle": str(bundle_dir),
        "format": bundle.manifest["format"],
        "runtime": runtime or "default",
        "machine": machine_info(),
        "threads": threads,
        "batched_backend": getattr(bundle.backend, "batched", True),
        "probes": probes,
        **fresh,
        "reload_s": reload_seconds(bundle_dir, threads),
        "invoke": invoke,
        "end_to_end_row_to_json": e2e,
        "e2e_over_invoke_p50": round(e2e["p50_us"] / invoke["p50_us"], 2),
        "fleet": fleet_rows,
        "model_batch": batches,
        "mac_bound": bound,
        "bench_rss_mb": round(rss_mb(), 1),
    }


def _row_to_json(bundle: Bundle, seconds: float) -> dict:
    """One asset, one raw text row at a time -> its JSON line (no I/O)."""
    feeder = Feeder(StreamEngine(bundle, rules=None))
    one = iter(_lines(bundle, max(20_000, int(seconds * 50_000)), 1, feeder))  # > calls at >= 20 us per row

    def row_to_json():
        preds, events = feeder.feed_lines([next(one)])
        return "".join(map(to_json_line, preds + events))

    return time_calls(row_to_json, min_seconds=seconds)


def table(r: dict) -> str:
    head = [
        f"bundle {r['bundle']} ({r['format']}) on {r['machine']['cpu']}, {r['machine']['cores']} cores",
        f"import + load      {r['import_and_load_s'] * 1e3:8.1f} ms (fresh interpreter, median of {r['probes']}; "
        f"min {r['import_and_load_min_s'] * 1e3:.1f}; process CPU until loaded "
        f"{r['process_cpu_until_loaded_s'] * 1e3:.1f})",
        f"reload in process  {r['reload_s'] * 1e3:8.1f} ms (what a hot-swap costs)",
    ]
    if "vibration" in r:
        from prognos.edge_runtime.vib_bench import vib_table

        return "\n".join(
            head
            + vib_table(r)
            + [
                f"service RSS        {r['service_peak_rss_mb']:8.1f} MB (peak, fresh "
                "interpreter: load + 64 assets streaming)"
            ]
        )
    return "\n".join(
        head
        + [
            f"invoke  p50 / p99  {r['invoke']['p50_us']:8.1f} / {r['invoke']['p99_us']:.1f} us (one window)",
            f"row->JSON p50/p99  {r['end_to_end_row_to_json']['p50_us']:8.1f} / "
            f"{r['end_to_end_row_to_json']['p99_us']:.1f} us ({r['e2e_over_invoke_p50']}x invoke)",
            *[
                f"fleet {f['assets']:5d} assets {f['rows_per_s']:8.0f} rows/s ({f['rows_per_cpu_s']:.0f} per CPU-second; "
                f"batches of {f['max_batch']}; model alone {b['per_window_us']:.1f} us per window, "
                f"{b['cpu_per_window_us']:.1f} us CPU)"
                for f, b in zip(r["fleet"], r["model_batch"])
            ],
            _bound_line(r["mac_bound"]),
            f"service RSS        {r['service_peak_rss_mb']:8.1f} MB (peak, fresh interpreter: load + 2,000 rows)",
        ]
    )


def _bound_line(b: dict) -> str:
    if "error" in b:
        return f"MAC bound          none: {b['error']}"
    batched = ", ".join(f"{v}x at batch {k}" for k, v in b["x_bound_batched"].items())
    return (
        f"MAC bound          {b['bound_us']:8.2f} us per window ({b['macs']:,} MACs at the {b['peak']} peak "
        f"{b['peak_mac_per_s'] / 1e9:.0f} GMAC/s); single window {b['x_bound_single']}x, {batched}"
    )


def markdown(r: dict) -> str:
    """The fleet and bound numbers of one `bench` result as a Markdown table (docs/throughput.md)."""
    b, inv = r["mac_bound"], r["invoke"]
    head = (
        f"`prognos-edge bench --bundle {r['bundle']}` ({r['format']}, runtime {r.get('runtime', 'default')}, "
        f"{r['threads']} thread) on {r['machine']['cpu']}, {r['machine']['cores']} cores; single window p50 "
        f"{inv['p50_us']:.1f} µs, p99 {inv['p99_us']:.1f} µs; bound {_bound_text(b)}"
    )
    lines = [
        head,
        "",
        "| assets | rows/s (wall) | rows per CPU-second (per core) | model µs/window, wall | "
        "model µs/window, CPU | × bound (batched) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for f, m in zip(r["fleet"], r["model_batch"]):
        ratio = b.get("x_bound_batched", {}).get(str(m["batch"]), "–")
        lines.append(
            f"| {f['assets']} | {f['rows_per_s']:,.0f} | {f['rows_per_cpu_s']:,.0f} | {m['per_window_us']:.1f} "
            f"| {m['cpu_per_window_us']:.1f} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def _bound_text(b: dict) -> str:
    if "error" in b:
        return f"none ({b['error']})"
    return (
        f"{b['bound_us']:.2f} µs per window ({b['macs']:,} MACs / {b['peak']} peak "
        f"{b['peak_mac_per_s'] / 1e9:.0f} GMAC/s), single window {b['x_bound_single']}× the bound"
    )
