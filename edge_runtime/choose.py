"""Choose per device: measure candidate bundles on this machine, install the fastest within budget.

`measure` times every candidate's backend on the same random windows, single window (wall p50) and
a batch of `assets` windows (one per asset): this process's CPU time per window (`per_window_us`,
and `rows_per_s` = 1 / it: per core), with the wall p50 next to it. CPU time, because a call of
milliseconds on a shared machine is descheduled for a share of its wall time that grows with the
load, which would decide against batches. `rounds` rounds interleave the candidates, keeping each
candidate's best round. `fastest` is the lowest batched time per window (what a fleet gateway
spends per row); bundles within SPEED_TIE of it are a tie (back-to-back runs of one bundle differ
by that much here), won by the smallest file, then the single-window p50.

`choose(DIR)` (`prognos-edge bench --candidates DIR`) does this for every bundle under DIR, keeps
those whose validation RMSE (measured in the runtime at export, manifest `metrics`) is within
`budget` cycles of the Keras model they were converted from (manifest `source.keras_val`), copies
the fastest to DIR/best and writes DIR/best.json: every candidate's numbers, the budget, the
machine and why the winner won.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from prognos.edge_runtime.bundle import Bundle, read_manifest
from prognos.edge_runtime.errors import BundleError, ConfigError
from prognos.edge_runtime.timing import machine_info, time_calls

BEST = "best"
SPEED_TIE = 0.05  # batched times within 5 % of the fastest are a tie: the smaller file wins


def measure(
    bundle_dirs: dict, window_shape: tuple, seconds: float = 1.0, threads: int = 1, assets: int = 64, rounds: int = 3
) -> dict:
    """{name: {single_p50_us, single_p99_us, batch, per_window_us, rows_per_s}} or {name: {error}}."""
    backends, out = {}, {}
    for name, d in bundle_dirs.items():
        try:
            backends[name] = Bundle(d, num_threads=threads).backend
        except BundleError as e:  # a bundle that does not load here is a failed candidate, not a crash
            out[name] = {"error": str(e)}
    x = np.random.default_rng(0).normal(size=(assets, *window_shape)).astype(np.float32)
    best: dict = {}
    for _ in range(rounds):
        for name, b in backends.items():
            one = time_calls(lambda b=b: b.run(x[:1]), seconds / rounds / 2)
            c0 = time.process_time()
            many = time_calls(lambda b=b: b.run(x), seconds / rounds / 2, warmup=3, min_calls=5)
            cpu_us = (time.process_time() - c0) / (many["calls"] + 3) / assets * 1e6
            row = {
                "single_p50_us": one["p50_us"],
                "single_p99_us": one["p99_us"],
                "batch": assets,
                "per_window_us": round(cpu_us, 3),
                "rows_per_s": round(1e6 / cpu_us, 1),
                "wall_per_window_us": round(many["p50_us"] / assets, 3),
            }
            if name not in best or row["per_window_us"] < best[name]["per_window_us"]:
                best[name] = row
    return {**out, **best}


def fastest(rows: dict, tie: float = SPEED_TIE) -> str | None:
    """The lowest batched time per window within budget; within `tie` of it, the smallest file."""
    ok = {n: r for n, r in rows.items() if "error" not in r and r.get("within_budget", True)}
    if not ok:
        return None
    low = min(r["per_window_us"] for r in ok.values())
    tied = {n: r for n, r in ok.items() if r["per_window_us"] <= low * (1 + tie)}
    return min(tied, key=lambda n: (tied[n].get("size_bytes") or float("inf"), tied[n]["single_p50_us"]))


def rmse_delta(manifest: dict) -> float | None:
    """Validation RMSE in the runtime minus the Keras model's on the same windows (None if unrecorded)."""
    metrics = manifest.get("metrics", {})
    val = metrics.get("val") or metrics.get("parity_on_training_units") or {}
    keras = manifest.get("source", {}).get("keras_val") or {}
    return round(val["rmse"] - keras["rmse"], 4) if "rmse" in val and "rmse" in keras else None


def candidates(folder: Path) -> dict:
    dirs = {d.name: d for d in sorted(folder.iterdir()) if d.name != BEST and (d / "manifest.json").is_file()}
    if not dirs:
        raise ConfigError(f"{folder}: no bundle directories (with manifest.json) to choose from")
    return dirs


def choose(folder, seconds: float = 1.0, threads: int = 1, assets: int = 64, budget: float = 0.3) -> dict:
    """Measure every bundle under `folder`, install the fastest within `budget` as folder/best."""
    folder = Path(folder)
    dirs = candidates(folder)
    manifests = {n: read_manifest(d) for n, d in dirs.items()}
    shapes = {n: Bundle(d).input_shape for n, d in dirs.items()}
    shape = next(iter(shapes.values()))
    if len(set(shapes.values())) > 1:
        raise ConfigError(
            f"{folder}: the bundles read different inputs ({shapes}); --candidates compares layouts of one model"
        )
    rows = measure(dirs, shape, seconds, threads, assets)
    for name, row in rows.items():
        delta = rmse_delta(manifests[name])
        row.update(
            format=manifests[name]["format"],
            size_bytes=manifests[name].get("size_bytes"),
            rmse_delta=delta,
            within_budget=delta is None or delta <= budget,
        )
    chosen = fastest(rows)
    result = {
        "folder": str(folder),
        "chosen": chosen,
        "budget_rmse": budget,
        "assets": assets,
        "threads": threads,
        "rule": "lowest batched time per window among bundles within the RMSE budget of their Keras model; "
        f"within {100 * SPEED_TIE:g} % of it, the smallest file (then single-window p50)",
        "candidates": rows,
        "machine": machine_info(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if chosen is None:
        raise ConfigError(f"{folder}: no candidate loads here within {budget} RMSE of its Keras model: {rows}")
    result["why"] = _why(rows, chosen)
    install(folder, chosen, result)
    return result


def _why(rows: dict, chosen: str) -> str:
    ok = sorted((r["per_window_us"], n) for n, r in rows.items() if "error" not in r and r["within_budget"])
    others = [(t, n) for t, n in ok if n != chosen]
    runner = f"; next {others[0][1]} at {others[0][0]:.1f} us" if others else ""
    c = rows[chosen]
    tie = (
        f" (within {100 * SPEED_TIE:g} % of {ok[0][1]}'s {ok[0][0]:.1f} us: a tie, the smaller file)"
        if ok[0][1] != chosen
        else ""
    )
    size = f", {c['size_bytes']:,} B" if c.get("size_bytes") else ""
    return f"{chosen}: {c['per_window_us']:.1f} us CPU per window at batch {c['batch']}{size}{tie}{runner}"


def install(folder: Path, name: str, result: dict) -> None:
    """Copy folder/name to folder/best (manifest says what was chosen and why); result -> folder/best.json."""
    best = folder / BEST
    shutil.rmtree(best, ignore_errors=True)
    shutil.copytree(folder / name, best)
    manifest = json.loads((best / "manifest.json").read_text())
    manifest.setdefault("source", {})["chosen"] = {
        "selected": name,
        "why": result["why"],
        "report": str(folder / f"{BEST}.json"),
    }
    (best / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (folder / f"{BEST}.json").write_text(json.dumps(result, indent=2))


def summary(result: dict) -> str:
    lines = [
        f"candidates in {result['folder']} on {result['machine']['cpu']} ({result['threads']} thread(s), "
        f"batch {result['assets']}; CPU time per window, rows/s per core):"
    ]
    for name, r in result["candidates"].items():
        if "error" in r:
            lines.append(f"  {name:24s} failed: {r['error'][:100]}")
            continue
        mark = "  <- chosen" if name == result["chosen"] else ("" if r["within_budget"] else "  (outside budget)")
        lines.append(
            f"  {name:24s} {r['per_window_us']:8.1f} us/window batched, {r['rows_per_s']:9.0f} rows/s, "
            f"single p50 {r['single_p50_us']:7.1f} us, dRMSE {r['rmse_delta']}{mark}"
        )
    lines.append(f"installed {result['folder']}/best ({result['why']}); details in {result['folder']}/best.json")
    return "\n".join(lines)
