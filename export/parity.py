"""Run a converted network in its real runtime and compare it with Keras: one implementation for the
zoo report (export.zoo) and the shared zoo test (tests/test_zoo.py).

Networks may have several inputs and outputs (VAE encoder: μ and log σ²), so inputs are fed by
name and every output is compared. TFLite files run through LiteRT's signature runner at batch 1,
one window after the other, with int8 inputs quantized and int8 outputs dequantized by the scale
and zero point the file declares (edge_runtime.backends); ONNX files run in onnxruntime.

Tolerances: fp32 TFLite and ONNX match Keras to 1e-4 (relative and absolute). A full-int8 file is within
`INT8_STEPS` quantization steps of its output tensor, plus `INT8_RANGE` of the Keras output range
(the error of many int8 layers adds up, and a step is range/255): measured on the untrained zoo nets
with random windows, PTQ errors are at most ~10 steps; a wrong scale, a dropped layer or an
uncalibrated range gives tens to hundreds.
"""

from __future__ import annotations

import numpy as np

FLOAT_TOL = 1e-4
INT8_STEPS = 8
INT8_RANGE = 0.03


def random_feed(net, n: int, seed: int = 0) -> dict:
    """{input name: n random samples}: normal floats, or labels {0, 1} for integer inputs."""
    rng = np.random.default_rng(seed)
    feed = {}
    for t in net.inputs:
        shape = (n, *t.shape[1:])
        feed[t.name.split(":")[0]] = (
            rng.integers(0, 2, shape).astype("int32")
            if t.dtype.is_integer
            else rng.normal(size=shape).astype("float32")
        )
    return feed


def keras_outputs(net, feed: dict) -> list:
    args = [feed[n] for n in net.input_names]
    return [np.asarray(o) for o in _as_list(net(args if len(args) > 1 else args[0], training=False))]


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


class _Runner:
    """A TFLite file's inputs and outputs by name: its signature, or for a file without one (a traced
    QAT function sometimes converts without) its input and output tensors in file order."""

    def __init__(self, content: bytes):
        from ai_edge_litert.interpreter import Interpreter

        self.it = Interpreter(model_content=content, num_threads=1)
        if self.it.get_signature_list():
            self.sig = self.it.get_signature_runner()
            self.ins, self.outs = self.sig.get_input_details(), self.sig.get_output_details()
        else:
            self.sig = None
            self.it.allocate_tensors()
            self.ins = {f"input_{i}": d for i, d in enumerate(self.it.get_input_details())}
            self.outs = {f"output_{i}": d for i, d in enumerate(self.it.get_output_details())}

    def __call__(self, **feed) -> dict:
        if self.sig:
            return self.sig(**feed)
        for k, v in feed.items():
            self.it.set_tensor(self.ins[k]["index"], v)
        self.it.invoke()
        return {k: self.it.get_tensor(d["index"]) for k, d in self.outs.items()}


def tflite_outputs(content: bytes, feed: dict, output_names) -> tuple[list, list]:
    """(outputs in the order of `output_names`, their int8 output scales or 0.0 for float outputs)."""
    from prognos.edge_runtime.backends import TensorSpec, dequantize, quantize

    runner = _Runner(content)
    ins, outs = runner.ins, runner.outs
    names = list(output_names) if set(output_names) == set(outs) else sorted(outs)  # traced: output_0, ...
    spec = {
        k: TensorSpec(k, tuple(d["shape"]), np.dtype(d["dtype"]).name, *d["quantization"])
        for k, d in {**ins, **outs}.items()
    }
    keys = list(feed) if set(feed) == set(ins) else list(ins)  # a traced function names its one input itself
    rows = []
    for i in range(len(next(iter(feed.values())))):
        if i:  # a fresh interpreter per window: fused RNN state persists across invokes (edge_runtime.backends)
            runner = _Runner(content)
        got = runner(**{k: quantize(v[i : i + 1], spec[k]) for k, v in zip(keys, feed.values())})
        rows.append([dequantize(got[n], spec[n]) for n in names])
    return [np.concatenate(col) for col in zip(*rows)], [spec[n].scale for n in names]


def onnx_outputs(content: bytes, feed: dict) -> list:
    import onnxruntime as ort

    sess = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    keys = [i.name for i in sess.get_inputs()]
    return sess.run(None, dict(zip(keys, feed.values())))


def float_error(want: list, got: list, tol: float = FLOAT_TOL) -> str | None:
    """None when every output matches to `tol` (relative and absolute), else why not."""
    for i, (w, g) in enumerate(zip(want, got)):
        if w.shape != g.shape:
            return f"output {i}: shape {g.shape}, Keras {w.shape}"
        if not np.allclose(g, w, rtol=tol, atol=tol):
            return f"output {i}: max |diff| {np.max(np.abs(g - w)):.2g} > {tol:g}"
    return None


def int8_error(want: list, got: list, scales: list) -> str | None:
    """None when every int8 output is within INT8_STEPS steps + INT8_RANGE of Keras, else why not."""
    for i, (w, g, s) in enumerate(zip(want, got, scales)):
        if w.shape != g.shape:
            return f"output {i}: shape {g.shape}, Keras {w.shape}"
        err = float(np.max(np.abs(g - w)))
        tol = INT8_STEPS * s + INT8_RANGE * float(np.ptp(w))
        if not err <= tol:
            return (
                f"output {i}: max |diff| {err:.3g} > {tol:.3g} ({err / s:.0f} steps of {s:.3g})"
                if s
                else f"output {i}: max |diff| {err:.3g} > {tol:.3g}"
            )
    return None


def int8_steps(want: list, got: list, scales: list) -> float:
    """The largest error in quantization steps of its output (for reports)."""
    return max(float(np.max(np.abs(g - w))) / s for w, g, s in zip(want, got, scales) if s)
