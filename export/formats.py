"""The one export table: every deployable format, listed once (the ultralytics exporter pattern).

Export, quantize and bench all loop over FORMATS. `quantized` formats need representative data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edge_runtime.errors import ConfigError


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    quantized: bool
    doc: str
    write: Callable  # (keras model, representative windows) -> bytes


def _tflite(unroll: bool, int8: bool):
    def write(model, rep):
        from export.convert import to_tflite

        return to_tflite(model, rep if int8 else None, unroll=unroll)

    return write


def _onnx(model, rep):
    from export.convert import to_onnx

    return to_onnx(model)


FORMATS = [
    Format("tflite_fp32", ".tflite", False, "TFLite float32, batch 1, fused RNN ops", _tflite(False, False)),
    Format("tflite_int8", ".tflite", True, "TFLite full-int8, int8 I/O, RNNs unrolled (fast in LiteRT)",
           _tflite(True, True)),
    Format("tflite_int8_fused", ".tflite", True, "TFLite full-int8, int8 I/O, fused RNN ops (small file)",
           _tflite(False, True)),
    Format("onnx_fp32", ".onnx", False, "ONNX opset 17 via tf2onnx, dynamic batch", _onnx),
]
BY_NAME = {f.name: f for f in FORMATS}
DEFAULT_EXPORT = ["tflite_fp32", "onnx_fp32"]
DEFAULT_QUANTIZE = ["tflite_int8", "tflite_int8_fused"]


def get_formats(names) -> list[Format]:
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ConfigError(f"unknown export formats {unknown}; expected some of {list(BY_NAME)}")
    return [BY_NAME[n] for n in names]
