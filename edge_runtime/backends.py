"""Inference backends with one tiny API: load from bytes, describe I/O as plain data, run floats.

`LiteRTBackend` wraps ai-edge-litert's Interpreter, `OnnxBackend` wraps onnxruntime's
InferenceSession. Both take and return float32 arrays; int8 models are (de)quantized here with the
scale and zero point the model file declares, so callers never see quantized tensors.
"""
from __future__ import annotations

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
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "scale": self.scale, "zero_point": self.zero_point}


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


class LiteRTBackend:
    """A .tflite model in the LiteRT interpreter. A fixed batch dimension of 1 is looped over."""

    def __init__(self, model: bytes, num_threads: int = 1, name: str = "model.tflite"):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._it = Interpreter(model_content=model, num_threads=num_threads)
            self._it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise BundleError(f"{name}: not a loadable TFLite model ({e})") from None
        self.inputs = [self._spec(d) for d in self._it.get_input_details()]
        self.outputs = [self._spec(d) for d in self._it.get_output_details()]
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]

    @staticmethod
    def _spec(d: dict) -> TensorSpec:
        scale, zp = d["quantization"]
        return TensorSpec(d["name"], tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"]).name,
                          float(scale), int(zp))

    def run(self, x: np.ndarray) -> np.ndarray:
        """Float32 batch in, float32 batch out."""
        spec_in, spec_out = self.inputs[0], self.outputs[0]
        fixed = spec_in.shape[0]
        if fixed == len(x):
            return self._invoke(x, spec_in, spec_out)
        return np.concatenate([self._invoke(x[i : i + fixed], spec_in, spec_out)
                               for i in range(0, len(x), fixed)])

    def _invoke(self, x, spec_in, spec_out):
        # The fused TFLite LSTM keeps its h/c state in variable tensors that persist across invokes
        # (tensorflow/tensorflow#47813); windows are independent, so reset them before every call.
        self._it.reset_all_variables()
        self._it.set_tensor(self._in, quantize(x, spec_in))
        self._it.invoke()
        return dequantize(self._it.get_tensor(self._out), spec_out)


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


BACKENDS = {".tflite": LiteRTBackend, ".onnx": OnnxBackend}


def open_backend(model: bytes, suffix: str, num_threads: int = 1, name: str = "model"):
    """The backend for a model file suffix ('.tflite' or '.onnx')."""
    if suffix not in BACKENDS:
        raise BundleError(f"{name}: unknown model format {suffix!r}; expected one of {sorted(BACKENDS)}")
    return BACKENDS[suffix](model, num_threads=num_threads, name=name)
