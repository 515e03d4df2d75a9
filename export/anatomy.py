"""What a TFLite file is made of: weights, biases, and flatbuffer structure.

The size ratio of an int8 file to its fp32 file is not the 0.25 of the weights alone: biases stay
int32 (as large as in fp32), and the structure (tensor tables with shapes and quantization
parameters, operators, buffer entries, 16-byte alignment of the constant data) does not shrink
with the weights; a quantized tensor even carries more (a scale and an int64 zero point per
channel). `anatomy` counts it from the flatbuffer (tflite schema via tensorflow.lite.tools).
"""
from __future__ import annotations

import numpy as np


def anatomy(data: bytes) -> dict:
    """Byte counts of a TFLite flatbuffer: constant data by rank, and everything else (structure)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    counts = {"weights": 0, "vectors": 0}  # constants of rank >= 2; of rank <= 1 (biases, slice indices)
    tensors = [t for g in model.subgraphs for t in g.tensors]
    owned = {}
    for t in tensors:
        size = _buffer_len(model.buffers[t.buffer])
        if size and t.buffer not in owned:
            owned[t.buffer] = True
            rank = len(t.shape) if t.shape is not None else 0
            counts["weights" if rank >= 2 else "vectors"] += size
    buffer_bytes = sum(_buffer_len(b) for b in model.buffers)
    scales = [len(t.quantization.scale) for t in tensors if t.quantization is not None and t.quantization.scale is not None]
    return {"file": len(data), **counts, "unreferenced_buffers": buffer_bytes - sum(counts.values()),
            "structure": len(data) - buffer_bytes, "tensors": len(tensors), "quantized_tensors": len(scales),
            "quant_scales": int(np.sum(scales)) if scales else 0,
            "operators": sum(len(g.operators) for g in model.subgraphs),
            "name_bytes": sum(len(t.name or b"") for t in tensors),
            "metadata": [m.name.decode() for m in (model.metadata or [])]}


def _buffer_len(buffer) -> int:
    return 0 if buffer.data is None else len(buffer.data)
