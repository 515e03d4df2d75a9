"""`prognos-edge bench` for vibration bundles ("classify", "anomaly"): DSP and model per window, and how
many sensor channels one core keeps up with in real time.

- DSP per window: `dsp_spec.apply_many` on a batch of `batch` raw windows, divided by the batch;
- model per window: `backend.run` on that batch of features, divided by the batch (quantize and
  dequantize included; LiteRT loops a batch-1 model inside the backend);
- service path: rounds of one binary block of `hop` samples from each of `assets` assets through
  `SampleFeeder.feed_payloads` (decode, checks, framing, DSP, model, outputs, alert rules) and
  `json` encoding of every prediction, on this one thread: samples per CPU second (median round);
- real-time channels per core = those samples per CPU second / the bundle's sample rate (each
  channel streams `sample_rate` samples/s, one window per `hop` samples), plus the bound DSP +
  model alone allow.
Times are this thread's CPU time (`time.thread_time`), not wall time: "per core" is CPU work, and on
a shared machine wall time also counts the other processes that preempt a long batch call. The
wall-clock rate of the service path is reported next to it.
"""

from __future__ import annotations

import time

import numpy as np
from prognos.edge_runtime import dsp_spec
from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.samples import SampleConfig, encode_binary
from prognos.edge_runtime.timing import peak_rss_mb
from prognos.edge_runtime.vib_service import SampleFeeder, VibrationEngine


def _signal(spec, n: int, seed: int = 0) -> np.ndarray:
    """Broadband noise with a decaying 3 kHz ring every 10 ms: bearing-like, any model's input range."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.05, n)
    ring = np.exp(-np.arange(200) / 30) * np.sin(2 * np.pi * 3000 * np.arange(200) / spec.sample_rate)
    x[:: int(spec.sample_rate / 100)] += 1.0
    return np.convolve(x, ring)[:n].astype(np.float32)


def cpu_us(fn, seconds: float, warmup: int = 2, min_calls: int = 5) -> float:
    """Median CPU time of this thread per call of `fn`, in microseconds."""
    for _ in range(warmup):
        fn()
    times, start = [], time.thread_time()
    while len(times) < min_calls or time.thread_time() - start < seconds:
        t = time.thread_time()
        fn()
        times.append(time.thread_time() - t)
    return float(np.median(times)) * 1e6


def per_window(bundle: Bundle, seconds: float, batch: int) -> dict:
    spec = bundle.dsp
    frames = dsp_spec.windows(spec, _signal(spec, spec.window + (batch - 1) * spec.hop))
    feats = dsp_spec.apply_many(spec, frames)
    dsp = cpu_us(lambda: dsp_spec.apply_many(spec, frames), seconds) / batch
    model = cpu_us(lambda: bundle.backend.run(feats), seconds) / batch
    return {"batch": batch, "dsp_us": round(dsp, 1), "model_us": round(model, 1)}


def service_path(bundle: Bundle, seconds: float, assets: int) -> dict:
    """Samples per CPU second through decode -> framing -> DSP -> model -> outputs -> JSON on one thread.

    Every asset sends one block of `hop` samples per round, so each round (after the first window)
    is the same work: one window per asset. The median round is reported (robust to the cache misses
    of a preempted round on a busy machine), and the wall-clock rate over all rounds next to it.
    """
    import json

    spec = bundle.dsp
    n = spec.hop
    x = _signal(spec, n * 64)
    feeder = SampleFeeder(VibrationEngine(bundle, SampleConfig()), log=lambda m: None)
    warm = -(-spec.window // n)  # rounds until every asset has its first window
    cpu, t0, seq = [], None, 0
    while seq < warm + 10 or sum(cpu) < seconds:
        part = x[(seq % 64) * n : (seq % 64 + 1) * n]
        msgs = [(f"bench/{a}", encode_binary(f"a{a}", seq, spec.sample_rate, part)) for a in range(assets)]
        t0, c = (time.perf_counter() if seq == warm else t0), time.thread_time()
        preds, events = feeder.feed_payloads(msgs)
        "".join(json.dumps(p) + "\n" for p in preds + events)
        if seq >= warm:
            cpu.append(time.thread_time() - c)
        seq += 1
    wall = time.perf_counter() - t0
    stats = feeder.engine.stats
    assert not stats.rejected, stats.rejected  # the bench's own blocks are well formed
    return {
        "assets": assets,
        "block_samples": n,
        "rounds": len(cpu),
        "samples_per_cpu_s": round(n * assets / float(np.median(cpu))),
        "samples_per_cpu_s_mean": round(n * assets * len(cpu) / sum(cpu)),
        "samples_per_wall_s": round(n * assets * len(cpu) / wall),
    }


def vib_bench(bundle_dir, seconds: float = 2.0, threads: int = 1, batch: int = 64, assets: int = 64) -> dict:
    bundle = Bundle(bundle_dir, num_threads=threads)
    spec = bundle.dsp
    pw = per_window(bundle, seconds, batch)
    sp = service_path(bundle, seconds, assets)
    windows_per_channel = spec.sample_rate / spec.hop
    bound = 1e6 / ((pw["dsp_us"] + pw["model_us"]) * windows_per_channel)
    return {
        "task": bundle.manifest["task"],
        "sample_rate": spec.sample_rate,
        "window": spec.window,
        "hop": spec.hop,
        "kind": spec.kind,
        "threads": threads,
        "per_window": pw,
        "service": sp,
        "channels_per_core": round(sp["samples_per_cpu_s"] / spec.sample_rate, 1),
        "channels_per_core_dsp_model_only": round(bound, 1),
        "bench_peak_rss_mb": round(peak_rss_mb(), 1),
    }


def vib_table(r: dict) -> list[str]:
    v, pw, sp = r["vibration"], r["vibration"]["per_window"], r["vibration"]["service"]
    return [
        (
            f"vibration          {v['task']} at {v['sample_rate']:g} Hz, window {v['window']}, hop {v['hop']} "
            f"({v['sample_rate'] / v['hop']:.1f} windows/s per channel), {v['kind']}"
        ),
        f"DSP per window     {pw['dsp_us']:8.1f} us CPU (batch of {pw['batch']})",
        f"model per window   {pw['model_us']:8.1f} us CPU (batch of {pw['batch']})",
        (
            f"service path       {sp['samples_per_cpu_s']:8d} samples per CPU second, one thread (median of "
            f"{sp['rounds']} rounds of {sp['assets']} assets x {sp['block_samples']}-sample binary blocks: decode, "
            f"framing, DSP, model, JSON; mean {sp['samples_per_cpu_s_mean']}; wall clock on this machine now "
            f"{sp['samples_per_wall_s']} samples/s)"
        ),
        (
            f"real-time channels {v['channels_per_core']:8.1f} per core at {v['sample_rate']:g} Hz "
            f"(DSP + model alone: {v['channels_per_core_dsp_model_only']})"
        ),
    ]
