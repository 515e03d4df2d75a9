"""Which `prognos optimize` candidates fit a microcontroller target (export.targets), and why not.

A candidate's fit comes from its bundle: the model file size, the TFLM check export.run wrote into the
manifest (arena), the preprocessing tables and buffers (export.mcu_pre) and the Keras model's MACs
(estimated latency). Nothing is re-measured here.
"""

from __future__ import annotations

from pathlib import Path

from prognos.export import mcu_pre
from prognos.export.targets import fit, get_target


def bundle_fit(bundle_dir, target: str, macs: int | None) -> dict:
    """fit() on `target` of a bundle, from its manifest's TFLM check (export.run records it)."""
    from prognos.edge_runtime.bundle import read_manifest

    manifest = read_manifest(bundle_dir)
    check = manifest.get("tflm")
    if check is None:
        return {"target": target, "fits": False, "why": "not a quantized TFLite file (no TFLM check)"}
    if not check["ok"]:
        return {"target": target, "fits": False, "why": f"TFLM: {check['error']}"}
    consts = mcu_pre.constants(manifest)
    return fit(
        get_target(target),
        manifest["size_bytes"],
        check["arena_bytes"],
        mcu_pre.tables_bytes(consts),
        sum(mcu_pre.buffers(manifest).values()),
        macs,
    )


def fit_rows(rows: list, run_dir: Path, target: str, model) -> None:
    """row["fit"] on `target` for every built row (bundle_fit: flash, RAM, estimated latency)."""
    from prognos.export.bench import model_macs

    macs, _ = model_macs(model)
    for r in rows:
        if "error" not in r:
            r["fit"] = bundle_fit(run_dir / "bundles" / r["format"], target, macs)


def refusal(rows: list, target: str, budget: float) -> str:
    """Why nothing was chosen on `target`: what fits but misses the budget, or the smallest candidate's needs."""
    t = get_target(target)
    fitting = [r for r in rows if r.get("fit", {}).get("fits")]
    if fitting:
        best = min(fitting, key=lambda r: r["rmse_delta"])
        return (
            f"on {target}, {', '.join(r['format'] for r in fitting)} fit but none is within {budget} RMSE "
            f"(best {best['format']}: {best['rmse_delta']:+.3f})"
        )
    sized = [r for r in rows if "flash_bytes" in r.get("fit", {})]
    if not sized:
        return (
            f"nothing fits {target}: no variant runs in TFLM ("
            + "; ".join(f"{r['format']}: {r.get('fit', {}).get('why', r.get('error'))}" for r in rows)
            + ")"
        )
    s = min(sized, key=lambda r: max(r["fit"]["flash_bytes"] / t.flash_bytes, r["fit"]["ram_bytes"] / t.ram_bytes))
    return (
        f"nothing fits {target} ({t.flash_bytes // 1024} KB flash, {t.ram_bytes // 1024} KB RAM); the smallest "
        f"candidate, {s['format']}, needs {s['fit']['flash_bytes'] / 1024:.1f} KB flash and "
        f"{s['fit']['ram_bytes'] / 1024:.1f} KB RAM (TFLM arena {s['tflm']['arena_bytes'] / 1024:.1f} KB): "
        f"{s['fit']['why']}"
    )


def fit_cell(f: dict) -> str:
    if not f["fits"]:
        return f"no: {f['why'][:80]}"
    latency = f" ~{f['est_latency_ms']:.2g} ms" if f.get("est_latency_ms") else ""
    return f"yes: {f['flash_bytes'] / 1024:.1f} KB flash, {f['ram_bytes'] / 1024:.1f} KB RAM{latency}"
