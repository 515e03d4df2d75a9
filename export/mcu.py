"""`prognos mcu`: a verified int8 TFLite bundle as firmware source for a TensorFlow Lite Micro project.

Writes into the output folder:
- `<name>.h` / `<name>.c` (export.c_source): the model as an aligned `const unsigned char[]` with
  its length, sha256 and CRC-32, the tensor arena size measured in TFLM (export.tflm), the input and
  output quantization (scale, zero point), the builtin ops to register, and the preprocessing the
  device computes before invoking (export.mcu_pre: feature order, means and stds, window, RUL cap;
  for vibration bundles the DspSpec with its window function and tables);
- `mcu.json`: the same facts, the TFLM check (ops, arena, parity with LiteRT on validation windows),
  the preprocessing buffers, and the fit on every target of export.targets.
The chosen target must fit (flash: model + tables; RAM: arena + buffers), else ConfigError with the
numbers; a file TFLM cannot run is refused with TFLM's reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.errors import BundleError, ConfigError
from prognos.export import c_source, mcu_pre, tflm
from prognos.export.targets import TARGETS, fit, get_target

# builtin op name -> TFLM MicroMutableOpResolver method suffix, where CamelCase of the name is not it
RESOLVER_NAMES = {
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTM",
    "PADV2": "PadV2",
    "BATCH_MATMUL": "BatchMatMul",
}


def resolver_name(op: str) -> str:
    """TFLM's MicroMutableOpResolver::Add<name>() for a builtin op: CamelCase, "2D" and "L2" kept as they are."""
    return RESOLVER_NAMES.get(op) or "".join(p if p[0].isdigit() else p.capitalize() for p in op.split("_"))


def _io(spec: dict) -> dict:
    return {k: spec[k] for k in ("shape", "dtype", "scale", "zero_point")}


def measure(bundle_dir, windows=None, macs: int | None = None) -> dict:
    """The facts of a bundle for a microcontroller: TFLM check, I/O, constants, buffers, fit per target."""
    bundle = Bundle(bundle_dir)  # sha256 verified before anything reads the model
    manifest, path = bundle.manifest, Path(bundle_dir) / bundle.manifest["model_file"]
    if path.suffix != ".tflite":
        raise BundleError(
            f"{bundle_dir}: format {manifest['format']} ({path.name}); expected a quantized TFLite "
            "bundle (e.g. tflite_int8_fused, tflite_int8)"
        )
    data = path.read_bytes()
    check = tflm.check(data, windows)
    consts = mcu_pre.constants(manifest)
    bufs = mcu_pre.buffers(manifest)
    tables = mcu_pre.tables_bytes(consts)
    fits = (
        {name: fit(t, len(data), check["arena_bytes"], tables, sum(bufs.values()), macs) for name, t in TARGETS.items()}
        if check["ok"]
        else {}
    )
    return {
        "bundle": str(bundle_dir),
        "format": manifest["format"],
        "task": manifest["task"],
        "model_file": path.name,
        "sha256": manifest["sha256"],
        "model_bytes": len(data),
        "crc32": c_source.crc32(data),
        "macs": macs,
        "tflm": check,
        "input": _io(manifest["inputs"][0]),
        "output": _io(manifest["outputs"][0]),
        "constants": consts,
        "buffers": bufs,
        "buffer_bytes": sum(bufs.values()),
        "tables_bytes": tables,
        "fit": fits,
    }


def export_mcu(bundle_dir, target: str, out_dir, windows=None, macs: int | None = None, name: str = "prognos") -> dict:
    """measure() the bundle, refuse when TFLM cannot run it or it does not fit `target`, else write the files."""
    get_target(target)
    facts = measure(bundle_dir, windows, macs)
    if not facts["tflm"]["ok"]:
        raise ConfigError(f"{bundle_dir}: TFLM cannot run {facts['format']}: {facts['tflm']['error']}")
    mine = facts["fit"][target]
    if not mine["fits"]:
        others = [t for t, f in facts["fit"].items() if f["fits"]]
        raise ConfigError(
            f"{bundle_dir} does not fit {target}: {mine['why']} (flash = model "
            f"{facts['model_bytes']:,} + tables {facts['tables_bytes']:,} B; RAM = arena "
            f"{facts['tflm']['arena_bytes']:,} + buffers {facts['buffer_bytes']:,} B); "
            f"fits: {', '.join(others) or 'no target'}"
        )
    name = c_source.c_name(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = (Path(bundle_dir) / facts["model_file"]).read_bytes()
    consts = _c_constants(facts)
    (out / f"{name}.h").write_text(_header(name, facts, consts))
    (out / f"{name}.c").write_text(c_source.source(name, f"{name}.h", data, consts))
    facts.update(
        target=target,
        files=[f"{name}.h", f"{name}.c", "mcu.json"],
        date=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    (out / "mcu.json").write_text(json.dumps(facts, indent=2))
    return facts


def _c_constants(facts: dict) -> dict:
    shapes = {f"{k}_shape": [int(v) for v in facts[k]["shape"]] for k in ("input", "output")}
    return {**shapes, **facts["constants"]}


def _header(name: str, facts: dict, consts: dict) -> str:
    t, i, o = facts["tflm"], facts["input"], facts["output"]
    comment = [
        f"{name}.h: generated by `prognos mcu` from {facts['bundle']} ({facts['format']}); do not edit.",
        f"TFLM: arena measured {t['arena_bytes']} bytes (64-bit host: an upper bound on 32-bit MCUs);",
        f"parity with LiteRT {t.get('parity_steps', '–')} output steps on {t.get('parity_windows', 0)} windows.",
        "Before invoking: compute the input from the constants below exactly as mcu.json and the README",
        "('Microcontrollers') describe, quantize it with INPUT_SCALE / INPUT_ZERO_POINT, then",
        "dequantize the output with OUTPUT_SCALE / OUTPUT_ZERO_POINT.",
    ]
    raw = c_source.Raw
    macros = {
        "MODEL_LEN": raw(f"{facts['model_bytes']}u"),
        "MODEL_SHA256": facts["sha256"],
        "MODEL_CRC32": raw(f"0x{facts['crc32']:08x}u"),
        "ARENA_BYTES": raw(f"{t['arena_bytes']}u"),
        "INPUT_TYPE": i["dtype"],
        "INPUT_SCALE": i["scale"],
        "INPUT_ZERO_POINT": int(i["zero_point"]),
        "OUTPUT_TYPE": o["dtype"],
        "OUTPUT_SCALE": o["scale"],
        "OUTPUT_ZERO_POINT": int(o["zero_point"]),
    }
    return c_source.header(name, comment, macros, consts, [resolver_name(op) for op in t["ops"]])


def _target_cell(f: dict) -> str:
    if not f["fits"]:
        return f"no ({f['why']})"
    return "yes" + (f", ~{f['est_latency_ms']:.3g} ms" if f.get("est_latency_ms") else "")


def fit_table(rows: list) -> str:
    """Markdown: one measure() result per row; the fit on every target with the estimated latency."""
    names = list(TARGETS)
    lines = [
        "| bundle | format | model KB | TFLM arena KB | TFLM − LiteRT | buffers KB | MACs | "
        + " | ".join(names)
        + " |",
        "|---|---|---:|---:|---|---:|---:|" + "---|" * len(names),
    ]
    for r in rows:
        t = r["tflm"]
        head = f"| {r['bundle']} | {r['format']} | {r['model_bytes'] / 1024:.1f} | "
        if not t["ok"]:
            lines.append(head + f"fails: {t['error']} | | | |" + " |" * len(names))
            continue
        parity = (
            f"{t['parity_steps']:g} steps ({t['parity_windows']} windows)"
            if t.get("parity_steps") is not None
            else "not measured"
        )
        cells = [_target_cell(r["fit"][n]) for n in names]
        lines.append(
            head + f"{t['arena_bytes'] / 1024:.1f} | {parity} | {r['buffer_bytes'] / 1024:.1f} | "
            f"{r['macs'] or '–':,} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"
