"""The one latency timer of the project (TF-free): `prognos bench` and `prognos-edge bench` both use it.

Protocol: `warmup` untimed calls, then timed calls until at least `min_seconds` have passed and at
least `min_calls` were made; p50 and p99 of the per-call times in microseconds.
"""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np


def time_calls(fn, min_seconds: float = 1.0, warmup: int = 20, min_calls: int = 50) -> dict:
    for _ in range(warmup):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    us = np.asarray(times) * 1e6
    return {"p50_us": round(float(np.percentile(us, 50)), 1), "p99_us": round(float(np.percentile(us, 99)), 1),
            "calls": len(us)}


def rss_mb() -> float:
    """Resident set size of this process in MB, from /proc (Linux); 0.0 where /proc is absent."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (ru_maxrss is KB on Linux)."""
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
