"""The measured peak multiply-accumulate rate of this CPU: the denominator of the physical bound.

fp32: the better of numpy's BLAS sgemm and onnxruntime's MatMul (MLAS); int8: onnxruntime's
MatMulInteger (uint8 x int8 -> int32, the kernels its quantized models use). Square n x n @ n x n
products (n^3 MACs) at n = 256 and 512, which stay in cache (at n = 1024 this CPU's rate halves:
memory, not arithmetic); the best rate counts. Each is measured in a fresh process with the
thread count fixed before the library loads (OMP/OPENBLAS/MKL env for numpy, intra_op_num_threads
for onnxruntime), as the best of repeated calls over `seconds`, since a peak is what the hardware
does when nothing interferes. `python -m prognos.edge_runtime.peak THREADS SECONDS` prints {"fp32": MAC/s,
"int8": MAC/s} as one JSON line.

A model's bound is then MACs per inference / peak MAC rate: no runtime can do one inference faster
on this CPU with that arithmetic (memory traffic and per-op overhead only add to it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

SIZES = (256, 512)


def _best(fn, seconds: float) -> float:
    fn()
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def numpy_rate(n: int, seconds: float) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    return n**3 / _best(lambda: a @ b, seconds)


def ort_rate(n: int, threads: int, seconds: float, int8: bool) -> float:
    """MAC/s of onnxruntime's MatMul (fp32) or MatMulInteger (uint8 x int8 -> int32)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    a_t, b_t, y_t = (TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32) if int8 else (TensorProto.FLOAT,) * 3
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger" if int8 else "MatMul", ["a", "b"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("a", a_t, [n, n]), helper.make_tensor_value_info("b", b_t, [n, n])],
        [helper.make_tensor_value_info("y", y_t, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    if int8:
        feed = {"a": rng.integers(0, 255, (n, n), dtype=np.uint8), "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}
    else:
        feed = {"a": rng.standard_normal((n, n), np.float32), "b": rng.standard_normal((n, n), np.float32)}
    return n**3 / _best(lambda: sess.run(None, feed), seconds)


def rates(threads: int, seconds: float) -> dict:
    try:
        import onnx  # noqa: F401  (builds the MatMul graphs: a training-side package, optional on a device)
    except ImportError:
        return {
            "fp32": max(numpy_rate(n, seconds) for n in SIZES),
            "sizes": list(SIZES),
            "int8_error": "the onnx package is not installed: no int8 peak (pip install onnx)",
        }
    fp32 = max(max(numpy_rate(n, seconds), ort_rate(n, threads, seconds, False)) for n in SIZES)
    return {"fp32": fp32, "int8": max(ort_rate(n, threads, seconds, True) for n in SIZES), "sizes": list(SIZES)}


def peak_rates(threads: int, seconds: float = 0.5) -> dict:
    """{"fp32": MAC/s, "int8": MAC/s} with `threads` threads, measured in a fresh process."""
    env = {**os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    r = subprocess.run(
        [sys.executable, "-m", "prognos.edge_runtime.peak", str(threads), str(seconds)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode:
        raise RuntimeError(f"peak MAC measurement failed: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(rates(int(sys.argv[1]), float(sys.argv[2]))))
