"""ONNX int8: onnxruntime static quantization in QDQ format, calibrated on representative windows.

`quantize_static` inserts QuantizeLinear/DequantizeLinear pairs around the ops that onnxruntime
has int8 kernels for (MatMul, Gemm, Conv, ...; see onnxruntime.quantization.registry). ONNX LSTM
is not among them, so in an LSTM model the recurrent layer stays float32 and only the dense layers
run in int8; a 1-D conv model is int8 end to end. Calibration: min/max over the same windows the
TFLite int8 converters use.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def quantize_onnx(onnx_bytes: bytes, representative: np.ndarray, input_name: str = "window") -> bytes:
    """int8 QDQ ONNX bytes of `onnx_bytes` (weights per channel, activations per tensor)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Windows(CalibrationDataReader):
        def __init__(self):
            self._it = iter([{input_name: w[None].astype(np.float32)} for w in representative])

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(onnx_bytes)
        quantize_static(
            str(src),
            str(dst),
            Windows(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
        return dst.read_bytes()
