"""What a TFLite file is made of: weights, biases, and flatbuffer structure.

The size ratio of an int8 file to its fp32 file is not the 0.25 of the weights alone: biases stay
int32 (as large as in fp32), and the structure (tensor tables with shapes and quantization
parameters, operators, buffer entries, alignment padding) does not shrink with the weights; a
quantized tensor even carries more (a scale and an int64 zero point per channel). `anatomy` counts
it from the flatbuffer (tflite schema via tensorflow.lite.tools); `structure` attributes every byte
of the file to the flatbuffer object it belongs to, by walking the raw tables and vectors.
"""

from __future__ import annotations

import struct
from collections import Counter

import numpy as np

# The offset fields of the tflite schema (schema.fbs field ids) that `structure` follows: ("table",
# kind), ("tables", kind): a vector of tables, ("vector", element bytes), ("string",). Fields not
# listed are inline scalars, counted with their table; builtin options are tables of scalars.
SCHEMA = {
    "Model": {
        1: ("tables", "OperatorCode"),
        2: ("tables", "SubGraph"),
        3: ("string",),
        4: ("tables", "Buffer"),
        5: ("vector", 4),
        6: ("tables", "Metadata"),
        7: ("tables", "SignatureDef"),
    },
    "OperatorCode": {1: ("string",)},
    "SubGraph": {
        0: ("tables", "Tensor"),
        1: ("vector", 4),
        2: ("vector", 4),
        3: ("tables", "Operator"),
        4: ("string",),
    },
    "Tensor": {0: ("vector", 4), 3: ("string",), 4: ("table", "Quantization"), 7: ("vector", 4)},
    "Quantization": {0: ("vector", 4), 1: ("vector", 4), 2: ("vector", 4), 3: ("vector", 8)},
    "Operator": {
        1: ("vector", 4),
        2: ("vector", 4),
        4: ("table", "Options"),
        5: ("vector", 1),
        7: ("vector", 1),
        8: ("vector", 4),
    },
    "Buffer": {0: ("vector", 1)},
    "Metadata": {},
    "SignatureDef": {},
    "Options": {},  # (strings of SignatureDefs: counted as padding)
}
FIELD_NAMES = {
    ("Model", 1): "operator code offsets",
    ("Model", 2): "subgraph offsets",
    ("Model", 3): "description",
    ("Model", 4): "buffer offsets",
    ("Model", 6): "metadata offsets",
    ("Model", 7): "signature def offsets",
    ("SubGraph", 0): "tensor offsets",
    ("SubGraph", 1): "graph inputs",
    ("SubGraph", 2): "graph outputs",
    ("SubGraph", 3): "operator offsets",
    ("SubGraph", 4): "names",
    ("Tensor", 0): "tensor shapes",
    ("Tensor", 3): "names",
    ("Tensor", 7): "tensor shape signatures",
    ("Quantization", 2): "quantization scales",
    ("Quantization", 3): "quantization zero points",
    ("Operator", 1): "operator inputs",
    ("Operator", 2): "operator outputs",
    ("Operator", 8): "operator intermediates",
    ("Buffer", 0): "buffer data",
}


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
    scales = [
        len(t.quantization.scale) for t in tensors if t.quantization is not None and t.quantization.scale is not None
    ]
    return {
        "file": len(data),
        **counts,
        "unreferenced_buffers": buffer_bytes - sum(counts.values()),
        "structure": len(data) - buffer_bytes,
        "tensors": len(tensors),
        "quantized_tensors": len(scales),
        "quant_scales": int(np.sum(scales)) if scales else 0,
        "operators": sum(len(g.operators) for g in model.subgraphs),
        "name_bytes": sum(len(t.name or b"") for t in tensors),
        "metadata": [m.name.decode() for m in (model.metadata or [])],
        "structure_parts": structure(data),
    }


def _buffer_len(buffer) -> int:
    return 0 if buffer.data is None else len(buffer.data)


def structure(data: bytes) -> dict:
    """{role: bytes} for every byte of a TFLite flatbuffer: tables (inline fields), vtables, each vector
    kind with its 4-byte length, and "padding" (alignment, and anything the walk does not reach).
    A vector or table that several objects share is counted once."""
    owner = [None] * len(data)

    def mark(start, n, role):
        for i in range(start, start + n):
            owner[i] = owner[i] or role

    def u32(p):
        return struct.unpack_from("<I", data, p)[0]

    def table(pos, kind):
        vtable = pos - struct.unpack_from("<i", data, pos)[0]
        vt_len, obj_len = struct.unpack_from("<HH", data, vtable)
        mark(vtable, vt_len, "vtables")
        mark(pos, obj_len, f"{kind} tables")
        for field, (what, *arg) in SCHEMA[kind].items():
            slot = struct.unpack_from("<H", data, vtable + 4 + 2 * field)[0] if 4 + 2 * field < vt_len else 0
            if not slot:
                continue
            target = pos + slot + u32(pos + slot)
            if what == "table":
                table(target, arg[0])
                continue
            n, role = u32(target), FIELD_NAMES.get((kind, field), f"{kind}.{field} vectors")
            size = {"string": 1, "tables": 4}.get(what) or arg[0]
            mark(target + 4, n * size + (what == "string"), role)
            mark(target, 4, "buffer length prefixes" if kind == "Buffer" else role)
            for i in range(n if what == "tables" else 0):
                table(target + 4 + 4 * i + u32(target + 4 + 4 * i), arg[0])

    mark(0, 8, "root offset + file identifier")
    table(u32(0), "Model")
    return dict(Counter(o or "padding" for o in owner).most_common())
