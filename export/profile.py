"""`prognos profile`: a measured per-op profile of a .tflite bundle in LiteRT (which ops dominate).

LiteRT's Python API has no op profiler: the per-op profiler lives in the C++ `benchmark_model`
tool (`--enable_op_profiling`; tensorflow/tflite-support#628 points there), which has no PyPI or
Debian package we could find, and `ai_edge_litert.tools.benchmark_litert_model` (2.3) times whole
invokes only. So this module measures ops one by one, in the interpreter the device uses:

1. read the model with `ai_edge_litert.tools.flatbuffer_utils` and, for each operator of the main
   subgraph, write a one-op model: same tensors, buffers (weights), options and opcode table, the
   op's non-constant inputs as model inputs, its outputs as model outputs;
2. ops with the same signature (op type, input/output shapes and dtypes, options) are timed once
   and counted as often as they occur (an unrolled LSTM repeats one step's ops per time step);
3. each one-op model gets random inputs of its dtype and `Interpreter.invoke()` is timed with the
   project's timer (edge_runtime.timing.time_calls: p50 of samples of back-to-back invokes lasting
   ~20 µs, so sub-microsecond ops are above the timer's resolution and few samples are preempted;
   best p50 of 3 rounds); the full model is timed the same way, and
   so is a model with no op at all (input -> output): the fixed cost of one invoke() call, which is
   subtracted from every op (floored at 0).
Reported per op type: count, summed µs and share; and `coverage` = sum of the ops / (full invoke -
fixed cost). Limits: an op alone misses cache reuse and delegate fusion across ops (XNNPACK
delegates each supported one-op model on its own) and pays its own dispatch, so for models of many
tiny ops (unrolled RNNs) coverage is well above 1; the ranking of op types is the result, not the
absolute sum. Ops of the other subgraphs (control flow bodies) count inside the op that calls them.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from prognos.edge_runtime.bundle import read_manifest
from prognos.edge_runtime.errors import BundleError
from prognos.edge_runtime.tables import Table
from prognos.edge_runtime.timing import time_calls

_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}


def _op_names() -> dict:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _is_const(model, t: int) -> bool:
    buf = model.buffers[model.subgraphs[0].tensors[t].buffer]
    return buf.data is not None and len(buf.data) > 0


def _signature(model, op, name: str) -> str:
    tensors = model.subgraphs[0].tensors
    io = [(tuple(tensors[t].shape), int(tensors[t].type)) if t >= 0 else None for t in op.inputs + op.outputs]
    return json.dumps([name, str(io), str(sorted(vars(op.builtinOptions).items())) if op.builtinOptions else ""])


def one_op_model(model, index: int | None) -> bytes:
    """A copy of `model` whose main subgraph runs only operator `index` (None: no op, input -> output)."""
    from ai_edge_litert.tools import flatbuffer_utils

    m = copy.copy(model)
    sg = copy.copy(model.subgraphs[0])
    if index is None:  # the fixed cost of one invoke() call
        sg.operators, sg.inputs, sg.outputs = [], list(sg.inputs[:1]), list(sg.inputs[:1])
    else:
        op = sg.operators[index]
        sg.operators = [op]
        sg.inputs = [
            t for t in dict.fromkeys(op.inputs) if t >= 0 and not _is_const(model, t) and not sg.tensors[t].isVariable
        ]
        sg.outputs = list(op.outputs)
    m.subgraphs = [sg] + list(model.subgraphs[1:])
    m.signatureDefs = []  # they name the full model's inputs and outputs
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def time_invoke(model_bytes: bytes, min_seconds: float, threads: int = 1) -> float:
    """µs of `invoke()` on random inputs of the model's dtypes: the best p50 of 3 rounds (a busy machine)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model_bytes, num_threads=threads)
    it.allocate_tensors()
    rng = np.random.default_rng(0)
    for d in it.get_input_details():
        if np.issubdtype(d["dtype"], np.integer):
            info = np.iinfo(d["dtype"])
            x = rng.integers(max(info.min, -100), min(info.max, 100), d["shape"]).astype(d["dtype"])
        else:
            x = rng.normal(size=d["shape"]).astype(d["dtype"])
        it.set_tensor(d["index"], x)
    import time

    t = time.perf_counter()
    for _ in range(20):
        it.invoke()
    inner = int(np.clip(20e-6 / ((time.perf_counter() - t) / 20), 1, 50))  # samples of ~20 µs: rarely preempted
    return min(time_calls(it.invoke, min_seconds / 3, warmup=10, min_calls=30, inner=inner)["p50_us"] for _ in range(3))


def profile_tflite(data: bytes, min_seconds: float = 0.05, threads: int = 1) -> dict:
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    names = _op_names()
    ops, by_sig = [], {}
    for i, op in enumerate(model.subgraphs[0].operators):
        code = flatbuffer_utils.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])
        name = names.get(code, f"OP_{code}")
        sig = _signature(model, op, name)
        if sig not in by_sig:
            try:
                by_sig[sig] = time_invoke(one_op_model(model, i), min_seconds, threads)
            except (ValueError, RuntimeError) as e:  # an op that cannot run alone (e.g. needs a state tensor)
                by_sig[sig] = None
                print(f"[prognos]   op {i} {name}: not runnable alone ({str(e).splitlines()[0][:100]})")
        ops.append({"index": i, "op": name, "us": by_sig[sig]})
    empty = time_invoke(one_op_model(model, None), min_seconds, threads)
    for o in ops:
        o["us"] = None if o["us"] is None else round(max(o["us"] - empty, 0.0), 3)
    return _summary(ops, len(by_sig), time_invoke(data, max(min_seconds, 0.2), threads) - empty, empty, threads)


def _summary(ops: list, unique: int, full_us: float, empty_us: float, threads: int) -> dict:
    types = defaultdict(lambda: {"count": 0, "us": 0.0, "unmeasured": 0})
    for o in ops:
        t = types[o["op"]]
        t["count"] += 1
        if o["us"] is None:
            t["unmeasured"] += 1
        else:
            t["us"] += o["us"]
    total = sum(t["us"] for t in types.values())
    rows = sorted(
        (
            {"op": k, **v, "us": round(v["us"], 1), "share": round(v["us"] / total, 4) if total else None}
            for k, v in types.items()
        ),
        key=lambda r: -r["us"],
    )
    return {
        "ops": len(ops),
        "unique_timed": unique,
        "threads": threads,
        "invoke_overhead_us": round(empty_us, 2),
        "full_invoke_us": round(full_us, 1),
        "sum_of_ops_us": round(total, 1),
        "coverage": round(total / full_us, 2) if full_us else None,
        "by_type": rows,
        "per_op": ops,
        "method": __doc__.split("\n\n", 1)[1].strip(),
    }


def profile_bundle(bundle_dir, out: Path | None = None, min_seconds: float = 0.05) -> dict:
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    if not manifest["model_file"].endswith(".tflite"):
        raise BundleError(f"{bundle_dir}: profile needs a .tflite bundle, got {manifest['model_file']}")
    print(f"[prognos] profiling {bundle_dir} op by op in LiteRT", flush=True)
    result = {
        "bundle": str(bundle_dir),
        "format": manifest["format"],
        **profile_tflite((bundle_dir / manifest["model_file"]).read_bytes(), min_seconds),
    }
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    return result


def table(result: dict, top: int = 12) -> Table:
    out = Table(
        ["op type", "count", "µs (sum)", "share"],
        "lrrr",
        before=[
            f"`{result['bundle']}`: {result['ops']} ops ({result['unique_timed']} distinct, timed once each); minus the "
            f"fixed {result['invoke_overhead_us']:.1f} µs of one invoke() call: full model {result['full_invoke_us']:.0f} µs, "
            f"ops alone {result['sum_of_ops_us']:.0f} µs (coverage {result['coverage']})"
        ],
    )
    for r in result["by_type"][:top]:
        share = "–" if r["share"] is None else f"{100 * r['share']:.1f} %"
        miss = f" ({r['unmeasured']} not runnable alone)" if r["unmeasured"] else ""
        out.add(f"{r['op']}{miss}", r["count"], f"{r['us']:.2f}", share)
    return out


def markdown_table(result: dict, top: int = 12) -> str:
    return table(result, top).markdown()
