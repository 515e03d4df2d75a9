"""The one latency timer of the project (TF-free): `prognos bench` and `prognos-edge bench` both use it.

Protocol: `warmup` untimed calls (caches, lazy allocations, XNNPACK packing), then timed calls until at
least `min_seconds` have passed and at least `min_calls` were made, so the run count follows from a
minimum measuring time: fast models get many calls, slow ones at least `min_calls`. Reported: p50, p90
and p99 of the per-call times in microseconds over all calls (percentiles are robust to outliers by
construction; the tail is what p99 is for), plus `outliers`, the calls slower than Tukey's far-out
fence Q3 + 3 IQR (a preempted call on a shared machine), and `mean_us`, the mean without them.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np


def time_calls(fn, min_seconds: float = 1.0, warmup: int = 20, min_calls: int = 50, inner: int = 1) -> dict:
    """Per-call statistics of `fn()`; with `inner` > 1 each sample is the mean of `inner` back-to-back calls
    (for calls near the timer's own cost, e.g. one tiny op)."""
    for _ in range(warmup):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t) / inner)
    us = np.asarray(times) * 1e6
    q1, p50, q3, p90, p99 = np.percentile(us, [25, 50, 75, 90, 99])
    inliers = us[us <= q3 + 3 * (q3 - q1)]
    return {
        "p50_us": round(float(p50), 3),
        "p90_us": round(float(p90), 3),
        "p99_us": round(float(p99), 3),
        "mean_us": round(float(inliers.mean()), 3),
        "outliers": int(len(us) - len(inliers)),
        "calls": len(us),
    }


def _proc_status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """Resident set size of this process in MB, from /proc (Linux); 0.0 where /proc is absent."""
    return _proc_status_mb("VmRSS") or 0.0


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB.

    VmHWM (Linux) belongs to the address space exec created; `ru_maxrss` is kept across exec, so
    a child started by a large parent would report the parent's peak. ru_maxrss only without /proc.
    """
    hwm = _proc_status_mb("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "os": platform.platform()}
