"""`prognos mcu` and `prognos mcu-fit`: int8 bundles for microcontrollers (TensorFlow Lite Micro).

mcu: one bundle -> C header + source + mcu.json for a TFLM firmware (export.mcu), refused with the
numbers when it does not fit the target. mcu-fit: the fit table of several bundles on every target.
Both hand export the bundle's validation inputs, re-cut from the run that made it (its folder is in
the manifest's source), for the TFLM-vs-LiteRT parity, and the Keras model's MACs for the latency
estimate; without that run both are reported as not measured.
"""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    from prognos.export.targets import TARGETS

    m = sub.add_parser(
        "mcu",
        help="export an int8 TFLite bundle as C source for TensorFlow Lite Micro: model array, "
        "arena size measured in TFLM, I/O quantization, preprocessing constants",
    )
    m.add_argument("--bundle", required=True, help="bundle directory (a quantized TFLite bundle)")
    m.add_argument("--target", required=True, choices=list(TARGETS), help="microcontroller the model must fit")
    m.add_argument("--out", required=True, help="output folder for <name>.h, <name>.c, mcu.json")
    m.add_argument("--name", default="prognos", help="C prefix of the files and symbols (default prognos)")
    m.set_defaults(func=cmd_mcu)
    f = sub.add_parser(
        "mcu-fit",
        help="the fit of bundles on every microcontroller target (TFLM arena, flash, RAM, "
        "estimated latency) as a Markdown table",
    )
    f.add_argument("bundles", nargs="+", help="bundle directories")
    f.set_defaults(func=cmd_mcu_fit)


def source_inputs(bundle_dir) -> tuple:
    """(validation inputs or None, MACs or None, note) from the run named in the bundle's manifest."""
    from prognos.edge_runtime.bundle import read_manifest

    manifest = read_manifest(bundle_dir)
    run = Path(manifest.get("source", {}).get("run", ""))
    if not (run / "model.keras").is_file():
        return None, None, f"source run {run} not found: parity and latency not measured"
    from prognos.export.bench import model_macs

    if "dsp" in (manifest.get("preprocessing") or {}):
        from prognos.edge_runtime.dsp_spec import DspSpec
        from prognos.models.kerasapi import keras
        from prognos.pipeline.vibration.runs import validation_inputs

        model = keras.models.load_model(run / "model.keras", safe_mode=True)
        windows = validation_inputs(run, DspSpec.from_dict(manifest["preprocessing"]["dsp"]))
    else:
        from prognos.pipeline.rul.runs import load_run

        trained = load_run(run)
        model, windows = trained.model, trained.val.x
    return windows, model_macs(model)[0], f"validation windows of {run}"


def cmd_mcu(args) -> None:
    from prognos.export.mcu import export_mcu

    windows, macs, note = source_inputs(args.bundle)
    print(f"[prognos] {args.bundle}: {note}", flush=True)
    facts = export_mcu(args.bundle, args.target, args.out, windows, macs, args.name)
    t, f = facts["tflm"], facts["fit"][args.target]
    print(json.dumps({"tflm": t, "fit": f}, indent=2))
    print(
        f"[prognos] wrote {', '.join(str(Path(args.out) / n) for n in facts['files'])}: {facts['model_bytes']:,} B "
        f"model, arena {t['arena_bytes']:,} B, fits {args.target} with {f['flash_free_bytes'] / 1024:.1f} KB flash "
        f"and {f['ram_free_bytes'] / 1024:.1f} KB RAM to spare"
    )


def cmd_mcu_fit(args) -> None:
    from prognos.export.mcu import fit_table, measure

    rows = []
    for bundle in args.bundles:
        windows, macs, note = source_inputs(bundle)
        print(f"[prognos] {bundle}: {note}", flush=True)
        rows.append(measure(bundle, windows, macs))
    print(fit_table(rows))
