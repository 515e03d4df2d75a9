"""Inference backends with one tiny API: load from bytes, describe I/O as plain data, run floats.

`LiteRTBackend` wraps ai-edge-litert's Interpreter, `OnnxBackend` wraps onnxruntime's
InferenceSession, `OpenVinoBackend` (optional runtime) OpenVINO's compiled model. All take and return
float32 arrays; int8 models are (de)quantized here with the scale and zero point the model file
declares, so callers never see quantized tensors. `run(x)` takes a whole batch of windows in one
call: onnxruntime and OpenVINO through the model's dynamic batch axis, LiteRT through interpreters
resized per batch size (see LiteRTBackend).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from prognos.edge_runtime.errors import BundleError


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }


def _is_quantized(spec: TensorSpec) -> bool:
    """An integer tensor with a scale: int8/uint8 (full-int8 models) or int16 (16x8 models)."""
    return np.issubdtype(np.dtype(spec.dtype), np.integer) and spec.scale > 0


def quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if not _is_quantized(spec):
        return x.astype(spec.dtype)
    info = np.iinfo(spec.dtype)
    q = np.round(x / spec.scale + spec.zero_point)
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(y: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if not _is_quantized(spec):
        return y.astype(np.float32)
    return ((y.astype(np.float32) - spec.zero_point) * spec.scale).astype(np.float32)


# Recurrent ops whose state lives in variable tensors (inputs of the op, shape (batch, units)): these
# must be resized with the input, or the kernel refuses a batch > 1 ("NumElements(output_state) !=
# n_batch * n_output"). Indices per the TFLite schema of each op.
_STATE_INPUTS = {"UNIDIRECTIONAL_SEQUENCE_LSTM": (18, 19), "UNIDIRECTIONAL_SEQUENCE_RNN": (4,)}
MAX_CHUNK = (
    128  # largest batch per invoke: CPU time per window is flat from ~64 on, and shorter calls are preempted less
)


def chunks(n: int, largest: int = MAX_CHUNK) -> list[int]:
    """Batch sizes, powers of two <= `largest`, that add up to n (greedy; 100 -> 64, 32, 4)."""
    out, size = [], largest
    while n:
        while size > n:
            size //= 2
        out.append(size)
        n -= size
    return out


class LiteRTBackend:
    """A .tflite model in the LiteRT interpreter, run on real batches.

    The converter writes batch-1 models (export.convert: the fused LSTM needs a static batch). A batch
    of n windows is run as a few invokes of interpreters resized to powers of two (`chunks`), each
    created once and cached per batch size; a model whose graph cannot take another batch (a constant
    reshape, an output that does not follow the batch) is run window by window (`batched` False).
    """

    def __init__(self, model: bytes, num_threads: int = 1, name: str = "model.tflite"):
        self._model, self._threads, self._name = model, num_threads, name
        self._its: dict = {}
        it = self._interpreter(1)[0]
        self.inputs = [self._spec(d) for d in it.get_input_details()]
        self.outputs = [self._spec(d) for d in it.get_output_details()]
        self.batched = self.inputs[0].shape[0] == 1 and self._batch_ok(2)

    @staticmethod
    def _spec(d: dict) -> TensorSpec:
        scale, zp = d["quantization"]
        return TensorSpec(
            d["name"], tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"]).name, float(scale), int(zp)
        )

    def _interpreter(self, batch: int):
        it = self._its.get(batch)
        if it is None:
            it = self._its[batch] = _open_interpreter(self._model, self._threads, self._name, batch)
        return it

    def _batch_ok(self, batch: int) -> bool:
        """Does the model at `batch` compute what it computes window by window? (A reshape to a constant
        batch-1 shape would mix windows without failing.)"""
        try:
            it = self._interpreter(batch)[0]
        except BundleError:
            return False
        shape = it.get_output_details()[0]["shape"]
        if len(shape) == 0 or int(shape[0]) != batch:
            return False
        x = np.random.default_rng(0).normal(size=(batch, *self.inputs[0].shape[1:])).astype(np.float32)
        single = np.concatenate([self._invoke(x[i : i + 1]) for i in range(batch)])
        tol = max(self.outputs[0].scale, 1e-4) * 2  # an int8 step; float kernels may sum in another order
        return bool(np.allclose(self._invoke(x), single, rtol=1e-3, atol=tol))

    def run(self, x: np.ndarray) -> np.ndarray:
        """Float32 batch in, float32 batch out."""
        if not self.batched:
            return np.concatenate([self._invoke(x[i : i + 1]) for i in range(len(x))])
        if len(x) == 1 or len(x) == MAX_CHUNK:
            return self._invoke(x)
        out, start = [], 0
        for size in chunks(len(x)):
            out.append(self._invoke(x[start : start + size]))
            start += size
        return np.concatenate(out)

    def _invoke(self, x):
        it, i, o = self._interpreter(len(x))
        # The fused TFLite LSTM keeps its h/c state in variable tensors that persist across invokes
        # (tensorflow/tensorflow#47813); windows are independent, so reset them before every call.
        it.reset_all_variables()
        it.set_tensor(i, quantize(x, self.inputs[0]))
        it.invoke()
        return dequantize(it.get_tensor(o), self.outputs[0])


def _open_interpreter(model: bytes, threads: int, name: str, batch: int):
    """(interpreter, input index, output index): `model` allocated with its input (and recurrent state)
    at `batch`."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        it = Interpreter(model_content=model, num_threads=threads)
        if batch != 1:
            d = it.get_input_details()[0]
            it.resize_tensor_input(d["index"], [batch, *d["shape"][1:]])
            for op in it._get_ops_details():  # the only way to the op's state tensors; see _STATE_INPUTS
                for i in _STATE_INPUTS.get(op["op_name"], ()):
                    k = int(op["inputs"][i])
                    it.resize_tensor_input(k, [batch, *it._get_tensor_details(k, 0)["shape"][1:]])
        it.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise BundleError(f"{name}: not a loadable TFLite model at batch {batch} ({e})") from None
    return it, it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]


class OnnxBackend:
    """An .onnx model in onnxruntime (CPU execution provider)."""

    def __init__(self, model: bytes, num_threads: int = 1, name: str = "model.onnx"):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.enable_mem_pattern = False  # its plans are cached per input shape, and batch sizes vary
        try:
            self._sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception classes per failure kind
            raise BundleError(f"{name}: not a loadable ONNX model ({e})") from None
        self.inputs = [TensorSpec(i.name, tuple(i.shape), _ort_dtype(i.type)) for i in self._sess.get_inputs()]
        self.outputs = [TensorSpec(o.name, tuple(o.shape), _ort_dtype(o.type)) for o in self._sess.get_outputs()]

    def run(self, x: np.ndarray) -> np.ndarray:
        y = self._sess.run(None, {self.inputs[0].name: np.asarray(x, np.float32)})[0]
        return np.asarray(y, np.float32)  # no copies when the model already speaks float32


def _ort_dtype(t: str) -> str:
    return {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}.get(t, t)


class OpenVinoBackend:
    """An .onnx model compiled by OpenVINO for the CPU: optional (`pip install 'prognos-edge[openvino]'`),
    chosen with runtime="openvino" (`prognos-edge bench --runtime openvino`). f32 inference precision:
    its CPU plugin would otherwise run bf16 on CPUs that have it, and parity with the export would go."""

    def __init__(self, model: bytes, num_threads: int = 1, name: str = "model.onnx"):
        try:
            import openvino as ov
        except ImportError:
            raise BundleError(
                f"{name}: runtime 'openvino' needs the openvino package (pip install 'prognos-edge[openvino]')"
            ) from None
        core = ov.Core()
        try:
            compiled = core.compile_model(
                core.read_model(io.BytesIO(model)),
                "CPU",
                {
                    "INFERENCE_NUM_THREADS": num_threads,
                    "PERFORMANCE_HINT": "LATENCY",
                    "INFERENCE_PRECISION_HINT": "f32",
                },
            )
        except RuntimeError as e:
            raise BundleError(f"{name}: OpenVINO cannot compile this model ({e})") from None
        self._req = compiled.create_infer_request()
        self.inputs = [TensorSpec(p.any_name, _ov_shape(p), "float32") for p in compiled.inputs]
        self.outputs = [TensorSpec(p.any_name, _ov_shape(p), "float32") for p in compiled.outputs]

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._req.infer({0: np.asarray(x, np.float32)})[0], np.float32)


def _ov_shape(port) -> tuple:
    return tuple(int(d.get_length()) if d.is_static else "batch" for d in port.get_partial_shape())


BACKENDS = {".tflite": LiteRTBackend, ".onnx": OnnxBackend}
RUNTIMES = {"openvino": {".onnx": OpenVinoBackend}}  # optional runtimes, by name then model suffix


def open_backend(model: bytes, suffix: str, num_threads: int = 1, name: str = "model", runtime: str | None = None):
    """The backend for a model file suffix ('.tflite' or '.onnx'), or of an optional `runtime`."""
    table = BACKENDS if runtime is None else RUNTIMES.get(runtime)
    if table is None:
        raise BundleError(f"{name}: unknown runtime {runtime!r}; expected one of {sorted(RUNTIMES)} or none")
    if suffix not in table:
        raise BundleError(
            f"{name}: model format {suffix!r} not run by runtime {runtime or 'default'!r}; "
            f"expected one of {sorted(table)}"
        )
    return table[suffix](model, num_threads=num_threads, name=name)
