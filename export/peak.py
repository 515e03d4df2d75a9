"""The measured peak multiply-accumulate rate of this CPU: the denominator of the physical bound.

fp32: numpy's BLAS sgemm (`n` x `n` @ `n` x `n`, n^3 MACs). int8: onnxruntime's MatMulInteger
(uint8 x int8 -> int32, the MLAS kernels its quantized models use). Each is measured in a fresh
process with the thread count fixed before the library loads (OMP/OPENBLAS/MKL env for numpy,
intra_op_num_threads for onnxruntime); the best of repeated calls over `seconds` counts, since a
peak is what the hardware can do when nothing interferes. `python -m export.peak THREADS` prints
{"fp32": MAC/s, "int8": MAC/s} as one JSON line.

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

N = 1024


def _best(fn, seconds: float) -> float:
    fn()
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def fp32_rate(seconds: float = 1.0, n: int = N) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    return n**3 / _best(lambda: a @ b, seconds)


def int8_rate(threads: int, seconds: float = 1.0, n: int = N) -> float:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "matmul_int8",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n]),
         helper.make_tensor_value_info("b", TensorProto.INT8, [n, n])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {"a": rng.integers(0, 255, (n, n), dtype=np.uint8), "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}
    onnx.checker.check_model(model)
    return n**3 / _best(lambda: sess.run(None, feed), seconds)


def peak_rates(threads: int, seconds: float = 1.0) -> dict:
    """{"fp32": MAC/s, "int8": MAC/s} with `threads` threads, measured in a fresh process."""
    env = {**os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                      "MKL_NUM_THREADS")}}
    r = subprocess.run([sys.executable, "-m", "export.peak", str(threads), str(seconds)], env=env,
                       capture_output=True, text=True, timeout=300)
    if r.returncode:
        raise RuntimeError(f"peak MAC measurement failed: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    t, s = int(sys.argv[1]), float(sys.argv[2])
    print(json.dumps({"fp32": fp32_rate(s), "int8": int8_rate(t, s), "n": N}))
