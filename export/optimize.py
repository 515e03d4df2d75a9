"""`prognos optimize`: build every candidate variant, measure it, keep the best one within budget.

For each format of the export table (or a given subset) the artifact is built (export_run, with
its fine-tuning step), its validation RMSE is measured in its real runtime, its size raw and
gzipped, its single-window latency and its time per window on a batch of 64 (one window per asset
of a fleet) with rows/s, 1 thread (edge_runtime.choose.measure: rounds that interleave all
candidates, so a burst of other jobs on the machine hits every candidate alike instead of deciding
the choice). The fastest (lowest batched time per window; or, with `prefer="smallest"`, the
smallest gzipped) artifact whose RMSE is within `budget` cycles of the fp32 Keras model is copied
to R/bundles/best. The whole trade-off table goes to stdout and to
R/report/optimize.{md,json,png}. Failed formats stay in the table with their error.
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.tables import Table
from prognos.edge_runtime.bundle import read_manifest
from prognos.edge_runtime.choose import measure
from prognos.edge_runtime.timing import machine_info
from prognos.export.bundle import library_versions
from prognos.export import tflm
from prognos.export.fit import fit_cell, fit_rows, refusal
from prognos.export.formats import BY_NAME, FORMATS, get_formats
from prognos.export.run import Trained, export_run
from prognos.export.targets import get_target

PREFER = {"fastest": "per_window_us", "smallest": "gzip_bytes"}
TARGET_PREFER = {"fastest": ("est_latency_ms", "flash_bytes"), "smallest": ("flash_bytes", "est_latency_ms")}
FP32 = "tflite_fp32"  # the reference file of the size ratios


def optimize_run(
    trained: Trained,
    budget: float,
    prefer: str = "fastest",
    formats=None,
    calibration: int = 256,
    tune_cfg=None,
    min_seconds: float = 1.0,
    reuse: bool = False,
    target: str | None = None,
) -> dict:
    """Build, measure and choose (see module docstring). `reuse`: keep bundles newer than model.keras;
    `target` (export.targets): choose only among the variants that fit it."""
    if target:
        get_target(target)
    run_dir = Path(trained.out)
    if prefer not in PREFER:
        raise ConfigError(f"optimize: prefer {prefer!r}; expected one of {sorted(PREFER)}")
    if not budget >= 0:
        raise ConfigError(f"optimize: budget {budget!r}; expected RMSE cycles >= 0")
    names = [f.name for f in get_formats(formats)] if formats else [f.name for f in FORMATS]
    todo = [n for n in names if not (reuse and _fresh(run_dir, n))]
    if todo:
        export_run(trained, todo, calibration, tune_cfg)
    parity = json.loads((run_dir / "parity.json").read_text())
    keras_rmse = parity["keras"]["val"]["rmse"]
    window = trained.val.x[:1]
    built = [n for n in names if "error" not in parity[n]]
    latency = latencies({n: run_dir / "bundles" / n for n in built}, window, min_seconds)
    rows = [_row(run_dir, n, parity[n], latency.get(n), keras_rmse, budget) for n in names]
    if target:
        fit_rows(rows, run_dir, target, trained.model)
    chosen = select(rows, prefer, on_target=bool(target))
    result = {
        "run": str(run_dir),
        "budget": budget,
        "prefer": prefer,
        "keras_val_rmse": keras_rmse,
        "target": target,
        "chosen": chosen["format"] if chosen else None,
        "rows": rows,
        "machine": machine_info(),
        "libraries": library_versions(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if chosen is None:
        _write_report(run_dir, result)
        why = (
            refusal(rows, target, budget)
            if target
            else f"no artifact within {budget} RMSE of the Keras model ({keras_rmse:.3f})"
        )
        raise ConfigError(f"optimize: {why}; see {run_dir}/report/optimize.md")
    _install_best(run_dir, chosen["format"], result)
    _write_report(run_dir, result)
    return result


def _fresh(run_dir: Path, name: str) -> bool:
    """A bundle of `name` exists, was verified (it has a parity row) and is newer than the trained model."""
    manifest = run_dir / "bundles" / name / "manifest.json"
    parity = run_dir / "parity.json"
    return (
        manifest.is_file()
        and parity.is_file()
        and name in json.loads(parity.read_text())
        and manifest.stat().st_mtime >= (run_dir / "model.keras").stat().st_mtime
        and ("tflm" in json.loads(manifest.read_text()) or not tflm.applies(BY_NAME[name]))
    )


def latencies(bundle_dirs: dict, window, min_seconds: float, assets: int = 64) -> dict:
    """{name: single-window p50/p99 and batched time per window, rows/s} (edge_runtime.choose.measure)."""
    rows = measure(bundle_dirs, window.shape[1:], min_seconds, 1, assets)
    return {
        n: r
        if "error" in r
        else {
            "p50_us": r["single_p50_us"],
            "p99_us": r["single_p99_us"],
            **{k: r[k] for k in ("batch", "per_window_us", "rows_per_s")},
        }
        for n, r in rows.items()
    }


def _row(run_dir: Path, name: str, parity_row: dict, latency: dict | None, keras_rmse: float, budget: float):
    if "error" in parity_row or latency is None or "error" in latency:
        return {"format": name, "error": parity_row.get("error") or (latency or {}).get("error", "not built")}
    bundle_dir = run_dir / "bundles" / name
    data = (bundle_dir / read_manifest(bundle_dir)["model_file"]).read_bytes()
    delta = round(parity_row["val"]["rmse"] - keras_rmse, 4)
    row = {
        "format": name,
        **latency,
        "size_bytes": len(data),
        "gzip_bytes": len(gzip.compress(data, 9)),
        "val_rmse": parity_row["val"]["rmse"],
        "rmse_delta": delta,
        "within_budget": bool(delta <= budget),
        **({"tflm": parity_row["tflm"]} if "tflm" in parity_row else {}),
    }
    if bundle_dir.joinpath("model.tflite").is_file():
        from prognos.export.anatomy import anatomy

        row["anatomy"] = anatomy(data)
    return row


def select(rows: list, prefer: str, on_target: bool = False) -> dict | None:
    """The within-budget row with the lowest latency (fastest) or gzip size (smallest); ties by the other.

    On a target: among the rows that also fit it, by estimated target latency (fastest; equal for the
    variants of one model, as MACs are) or flash bytes (smallest), ties by the other."""
    keys = (
        TARGET_PREFER[prefer]
        if on_target
        else (PREFER[prefer], PREFER["smallest" if prefer == "fastest" else "fastest"])
    )
    ok = [r for r in rows if r.get("within_budget") and (not on_target or r["fit"]["fits"])]
    source = (lambda r: r["fit"]) if on_target else (lambda r: r)
    return min(ok, key=lambda r: tuple(source(r).get(k) or 0 for k in keys)) if ok else None


def _install_best(run_dir: Path, name: str, result: dict):
    best = run_dir / "bundles" / "best"
    shutil.rmtree(best, ignore_errors=True)
    shutil.copytree(run_dir / "bundles" / name, best)
    manifest = json.loads((best / "manifest.json").read_text())
    manifest["source"]["optimize"] = {
        "selected": name,
        "budget": result["budget"],
        "prefer": result["prefer"],
        "report": str(run_dir / "report" / "optimize.json"),
    }
    (best / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _write_report(run_dir: Path, result: dict):
    from prognos.export.plots import tradeoff

    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    (out / "optimize.json").write_text(json.dumps(result, indent=2))
    (out / "optimize.md").write_text(markdown_table(result))
    ok = [r for r in result["rows"] if "error" not in r]
    tradeoff(ok, result["keras_val_rmse"], result["budget"], result["chosen"], out / "optimize.png")


def table(result: dict) -> Table:
    m, target = result["machine"], result.get("target")
    columns = [
        "format",
        "val RMSE",
        "Δ RMSE",
        "size KB",
        "gzip KB",
        "size ×fp32",
        "gzip ×fp32",
        "p50 µs",
        "p99 µs",
        "µs/window, batch 64",
        "rows/s",
        "within budget",
        "TFLM (arena, Δ LiteRT)",
    ]
    out = Table(
        columns + ([f"fits {target}"] if target else []),
        "lrrrrrrrrrrcl" + ("l" if target else ""),
        before=[
            f"Compression trade-off, {result['run']} — {m['cpu']}, {m['cores']} cores, {result['date']} "
            f"(`prognos optimize --run {result['run']} --budget {result['budget']} --prefer "
            f"{result['prefer']}{f' --target {target}' if target else ''}`; Keras fp32 val RMSE {result['keras_val_rmse']:.3f}; 1 thread; p50/p99: one "
            "window; batch 64: one window per asset, CPU time of the model alone)"
        ],
        after=[
            f"×fp32: raw or gzipped size over the raw {FP32} file (same model, fused RNN ops, names kept). "
            "TFLM: smallest tensor arena in TensorFlow Lite Micro and max |TFLM − LiteRT| in output "
            "steps on validation windows (export.tflm)."
        ],
    )
    fp32 = next((r["size_bytes"] for r in result["rows"] if r["format"] == FP32 and "error" not in r), None)
    for r in result["rows"]:
        if "error" in r:
            out.add(r["format"], f"failed: {r['error'][:90]}", *[""] * (len(out.columns) - 2))
            continue
        mark = "**chosen**" if r["format"] == result["chosen"] else ("yes" if r["within_budget"] else "no")
        ratios = [f"{r[k] / fp32:.3f}" if fp32 else "" for k in ("size_bytes", "gzip_bytes")]
        out.add(
            r["format"],
            f"{r['val_rmse']:.3f}",
            f"{r['rmse_delta']:+.3f}",
            f"{r['size_bytes'] / 1024:.1f}",
            f"{r['gzip_bytes'] / 1024:.1f}",
            *ratios,
            f"{r['p50_us']:.0f}",
            f"{r['p99_us']:.0f}",
            f"{r['per_window_us']:.1f}",
            f"{r['rows_per_s']:,.0f}",
            mark,
            tflm.summary(r.get("tflm"))[:90],
            *([fit_cell(r["fit"])] if target else []),
        )
    return out


def markdown_table(result: dict) -> str:
    return table(result).markdown()
