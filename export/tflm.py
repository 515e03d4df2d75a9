"""Run a quantized TFLite file in TensorFlow Lite Micro (the `tflite-micro` Python interpreter).

The check a microcontroller build needs before any firmware is written, per artifact:
- op coverage: the file's builtin ops (`ops`: what the device's op resolver must register) and
  whether TFLM's kernels take them all; a missing kernel ("Didn't find op for builtin opcode
  'GELU'") is a recorded reason, not a crash;
- arena: the smallest tensor arena (bytes) with which the interpreter allocates and invokes, found by
  doubling then bisection to ARENA_STEP bytes. Arena sizes at which TFLM crashed instead of
  reporting are listed (`crashed_at`; see export.tflm_worker). Measured on this 64-bit host: TFLM's
  persistent bookkeeping (pointers) is larger than on a 32-bit MCU and the planned tensor memory is
  the same, so the figure bounds a Cortex-M build of the same TFLM version from above;
- parity with LiteRT on the same (validation) windows, at that arena: max |difference| of the
  outputs in steps of the output quantization (for float-I/O files: of the tensor the final
  DEQUANTIZE reads).

Training side only: edge_runtime never imports it. The interpreter runs in export.tflm_worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ARENA_STEP = 16  # bytes: TFLM aligns arena allocations to 16
MAX_ARENA = 16 * 2**20  # larger than any target's RAM (export.targets): beyond it "does not fit" is the answer
PARITY_WINDOWS = 64


def _graph(content: bytes):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.convert_bytearray_to_object(bytearray(content))


def _op_name(model, op) -> str:
    from tflite_micro.python.tflite_micro import runtime

    code = runtime.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])
    names = {v: k for k, v in vars(runtime.schema_fb.BuiltinOperator).items() if not k.startswith("_")}
    return names.get(code, f"BUILTIN_{code}")


def builtin_ops(content: bytes) -> list[str]:
    """The distinct builtin op names of the file's main graph, sorted (what an op resolver must register)."""
    model = _graph(content)
    return sorted({_op_name(model, op) for op in model.subgraphs[0].operators})


def output_steps(content: bytes) -> list[float]:
    """Per output: its quantization scale, or for a float output the scale of the tensor its
    DEQUANTIZE reads (0.0 when neither exists: a float model)."""
    model = _graph(content)
    g = model.subgraphs[0]
    steps = []
    for out in g.outputs:
        t = g.tensors[out]
        if not _scale(t):
            producer = next((op for op in g.operators if out in op.outputs), None)
            if producer is not None and _op_name(model, producer) == "DEQUANTIZE":
                t = g.tensors[producer.inputs[0]]
        steps.append(_scale(t))
    return steps


def _scale(tensor) -> float:
    q = tensor.quantization
    return float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else 0.0


class _Worker:
    """export.tflm_worker for one model file: ask(command) -> reply, or None when the worker died."""

    def __init__(self, path: Path, n_in: int, n_out: int):
        self.args = [sys.executable, "-m", "prognos.export.tflm_worker", str(path), str(n_in), str(n_out)]
        self.proc = None

    def ask(self, cmd: dict) -> dict | None:
        if self.proc is None:
            self.proc = subprocess.Popen(
                self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if line:
            return json.loads(line)
        self.close()  # it died (a segfault in TFLM): the next command starts a new one
        return None

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait()
            self.proc = None


def _reason(why: str, arena: int) -> str:
    """TFLM's message: a missing kernel as such, anything else as a failure at this arena size."""
    lines = [ln.strip() for ln in why.splitlines() if ln.strip()] or ["TFLM failed to allocate tensors"]
    missing = [ln for ln in lines if ln.startswith("Didn't find op")]
    return missing[0] if missing else f"does not run with a {arena / 1024:g} KB arena ({lines[0]})"


def min_arena(worker: _Worker, max_arena: int = MAX_ARENA) -> dict:
    """{"arena_bytes", "crashed_at"} or {"error"}: the smallest arena with which TFLM allocates and invokes."""
    crashed = []

    def works(n: int) -> bool:
        reply = worker.ask({"arena": n})
        if reply is None:
            crashed.append(n)
        return bool(reply and reply["ok"])

    top = worker.ask({"arena": max_arena})
    if not (top and top["ok"]):
        return {"error": _reason(top["why"], max_arena) if top else f"TFLM crashed with a {max_arena} B arena"}
    lo, hi = 0, 1024
    while hi < max_arena and not works(hi):
        lo, hi = hi, min(2 * hi, max_arena)
    while hi - lo > ARENA_STEP:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid) else (mid, hi)
    return {"arena_bytes": hi, "crashed_at": sorted(crashed)}


def _parity(worker: _Worker, content: bytes, arena: int, windows, n: int, tmp: Path) -> dict:
    inputs = list(windows) if isinstance(windows, (list, tuple)) else [windows]
    paths = []
    for i, x in enumerate(inputs):
        paths.append(str(tmp / f"in{i}.npy"))
        np.save(paths[-1], np.asarray(x, np.float32))
    index = np.unique(np.linspace(0, len(inputs[0]) - 1, min(n, len(inputs[0]))).astype(int)).tolist()
    reply = worker.ask({"parity": {"arena": arena, "windows": paths, "index": index}})
    if reply is None:
        return {"parity_error": f"TFLM crashed on a validation window at arena {arena}"}
    worst = reply["max_abs"]
    steps = [w / s if s else None for w, s in zip(worst, output_steps(content))]
    return {
        "parity_windows": len(index),
        "parity_max_abs": round(max(worst), 6),
        "parity_steps": None if None in steps else round(max(steps), 3),
    }


def check(content: bytes, windows=None, n: int = PARITY_WINDOWS, max_arena: int = MAX_ARENA) -> dict:
    """{"ok", "ops", "arena_bytes", "crashed_at", parity...} or {"ok": False, "ops", "error"} for one
    TFLite file; `windows`: float model inputs (one array, or one per input in file order)."""
    graph = _graph(content).subgraphs[0]
    out = {"ops": builtin_ops(content)}
    with tempfile.TemporaryDirectory(prefix="prognos-tflm-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(content)
        worker = _Worker(path, len(graph.inputs), len(graph.outputs))
        try:
            out.update(min_arena(worker, max_arena))
            if "error" not in out and windows is not None:
                out.update(_parity(worker, content, out["arena_bytes"], windows, n, Path(tmp)))
        finally:
            worker.close()
    return {"ok": "error" not in out, **out}


def summary(result: dict | None) -> str:
    """One table cell: 'ok: arena 12.3 KB, Δ 1 steps' or 'fails: <reason>' ('–' when not checked)."""
    if not result:
        return "–"
    if not result["ok"]:
        return f"fails: {result['error']}"
    steps = result.get("parity_steps")
    return f"ok: arena {result['arena_bytes'] / 1024:.1f} KB" + (f", Δ {steps:g} steps" if steps is not None else "")


def applies(fmt) -> bool:
    """The export-table rows a microcontroller can take: quantized TFLite files."""
    return fmt.quantized and fmt.suffix == ".tflite"


def record(bundle_dir, content: bytes, windows) -> dict:
    """check() of a bundle's model file, also written into its manifest as "tflm"; returns the result."""
    result = check(content, windows)
    path = Path(bundle_dir) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["tflm"] = result
    path.write_text(json.dumps(manifest, indent=2))
    print(f"[prognos]   TFLM: {summary(result)}", flush=True)
    return result
