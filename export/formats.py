"""The one export table: every deployable variant, listed once (the ultralytics exporter pattern).

Export, quantize, prune, cluster, qat, optimize and bench all loop over FORMATS. A row is data:
the converter and its options (`write`), an optional fine-tuning step applied to the trained model
first (`tune`, see export.tune), and the `group` whose CLI command exports it by default ("final":
none; `prognos final` measures them among its candidates, pipeline.rul.final.FORMATS).
`quantized` rows need representative windows (calibration).

How the RNN is laid out for each converter (export.convert): "fused" keeps one LSTM op (small file;
slow in int8), "unrolled" is keras' unroll=True, "dense" is models.dense_lstm.DenseLSTM (unrolled,
one shared weight per matrix, the fast int8 layout), "merged" is an ensemble's LSTM members as one
block-diagonal DenseLSTM (export.merge: half the operators). For models without RNNs they coincide.
QAT rows convert the DenseLSTM they were trained as, except tflite_int8_qat_fused: its fine-tuned
weights go back into keras LSTMs and the fused op (export.qat.float_twin).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from prognos.edge_runtime.errors import ConfigError
from prognos.export.finetune import Tune

GROUPS = {  # CLI command -> what it exports by default
    "export": "fp32 TFLite + ONNX",
    "quantize": "post-training quantized TFLite/ONNX (int8, dynamic range, float16, 16x8, ONNX int8)",
    "prune": "magnitude-pruned (tfmot, polynomial / constant / 2:4 / 4x1 blocks) int8 TFLite",
    "cluster": "weight-clustered (tfmot) int8 TFLite",
    "qat": "quantization-aware trained (tfmot; LSTM and Conv1D included) int8 TFLite",
}


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    quantized: bool
    doc: str
    write: Callable  # (keras model, representative windows) -> bytes
    group: str = "export"
    tune: Tune | None = None


def _tflite(quant: str, rnn: str = "fused", int_io: bool = True, strip: bool = False, per_channel: bool = True):
    def write(model, rep):
        from prognos.export.convert import to_tflite

        return to_tflite(model, quant, rep, rnn=rnn, int_io=int_io, strip=strip, per_channel=per_channel)

    return write


def _onnx(int8: bool):
    def write(model, rep):
        from prognos.export.convert import to_onnx

        data = to_onnx(model)
        if not int8:
            return data
        from prognos.export.onnx_quant import quantize_onnx

        return quantize_onnx(data, rep)

    return write


# fast int8: XNNPACK, float I/O in-graph. Float I/O is faster end to end than int8 I/O plus the
# backend's numpy (de)quantize for small models (1 window, 1 thread, same int8 graph otherwise:
# cnn1d 6.7 vs 15.5 µs, FD001 DenseLSTM 34 vs 48 µs); for models without RNNs this row is the
# float-I/O twin of tflite_int8.
_DENSE_INT8 = _tflite("int8", "dense", int_io=False, strip=True)
# small int8: one LSTM op, names stripped, one weight scale per tensor. Per channel, every conv channel
# and its bias carry a float32 scale and an int64 zero point (24 B, incompressible scales): FD001
# MobileNet V1, 75 % pruned, gzipped: 0.141x fp32 per channel, 0.111x per tensor (RMSE +0.0 either way).
_SMALL_INT8 = _tflite("int8", "fused", strip=True, per_channel=False)


def _qat_fused(model, rep):
    """A QAT model's fine-tuned weights as the small fused int8 file (16-bit LSTM cell; export.qat)."""
    from prognos.export.qat import float_twin

    return _SMALL_INT8(float_twin(model), rep)


FORMATS = [
    Format("tflite_fp32", ".tflite", False, "TFLite float32, batch 1, fused RNN ops", _tflite("fp32")),
    Format(
        "tflite_fp32_dense",
        ".tflite",
        False,
        "TFLite float32, LSTM as DenseLSTM (FULLY_CONNECTED + element-wise: XNNPACK runs it, fast on batches)",
        _tflite("fp32", "dense", strip=True),
    ),
    Format("onnx_fp32", ".onnx", False, "ONNX opset 17 via tf2onnx, dynamic batch", _onnx(False)),
    Format(
        "tflite_int8",
        ".tflite",
        True,
        "TFLite full-int8, int8 I/O, RNNs unrolled (fast in LiteRT)",
        _tflite("int8", "unrolled"),
        "quantize",
    ),
    Format(
        "tflite_int8_fused",
        ".tflite",
        True,
        "TFLite full-int8, int8 I/O, fused RNN ops, stripped (small per-channel int8 file)",
        _tflite("int8", "fused", strip=True),
        "quantize",
    ),
    Format(
        "tflite_int8_per_tensor",
        ".tflite",
        True,
        "as tflite_int8_fused with one weight scale per tensor (smallest int8 file: no scale + zero point per channel)",
        _SMALL_INT8,
        "quantize",
    ),
    Format(
        "tflite_int8_dense",
        ".tflite",
        True,
        "TFLite full-int8, float I/O (QUANTIZE/DEQUANTIZE in the graph), LSTM as DenseLSTM, stripped (fastest int8)",
        _DENSE_INT8,
        "quantize",
    ),
    Format(
        "tflite_dynamic",
        ".tflite",
        False,
        "TFLite dynamic range: int8 weights, float activations, LSTM as DenseLSTM",
        _tflite("dynamic", "dense", strip=True),
        "quantize",
    ),
    Format(
        "tflite_fp32_merged",
        ".tflite",
        False,
        "TFLite float32, an ensemble's LSTM members as one block-diagonal DenseLSTM (export.merge)",
        _tflite("fp32", "merged", strip=True),
        "final",
    ),
    Format(
        "tflite_dynamic_merged",
        ".tflite",
        False,
        "TFLite dynamic range (int8 weights), an ensemble's LSTM members as one block-diagonal DenseLSTM",
        _tflite("dynamic", "merged", strip=True),
        "final",
    ),
    Format(
        "tflite_int8_merged",
        ".tflite",
        True,
        "TFLite full-int8, float I/O, an ensemble's LSTM members as one block-diagonal DenseLSTM, stripped",
        _tflite("int8", "merged", int_io=False, strip=True),
        "final",
    ),
    Format(
        "tflite_fp16",
        ".tflite",
        False,
        "TFLite float16 weights, float compute, fused RNN ops",
        _tflite("float16"),
        "quantize",
    ),
    Format(
        "tflite_int16x8",
        ".tflite",
        True,
        "TFLite 16-bit activations / 8-bit weights, float I/O, LSTM as DenseLSTM",
        _tflite("int16x8", "dense", int_io=False, strip=True),
        "quantize",
    ),
    Format(
        "onnx_int8",
        ".onnx",
        True,
        "ONNX int8 QDQ (onnxruntime quantize_static); LSTM stays float",
        _onnx(True),
        "quantize",
    ),
    Format(
        "tflite_int8_pruned",
        ".tflite",
        True,
        "75% magnitude-pruned (polynomial decay), full-int8 fused, per tensor",
        _SMALL_INT8,
        "prune",
        Tune("prune", 0.75, "polynomial"),
    ),
    Format(
        "tflite_int8_pruned_4x1",
        ".tflite",
        True,
        "75% pruned in blocks of 4 inputs (zero runs: gzips smaller), full-int8 fused, per tensor",
        _SMALL_INT8,
        "prune",
        Tune("prune", 0.75, "polynomial", block=(4, 1)),
    ),
    Format(
        "tflite_int8_pruned_2x4",
        ".tflite",
        True,
        "2:4 structured-pruned, full-int8 fused, per tensor",
        _SMALL_INT8,
        "prune",
        Tune("prune", m_by_n=(2, 4)),
    ),
    Format(
        "tflite_int8_clustered",
        ".tflite",
        True,
        "16-cluster weight sharing, full-int8 fused, per tensor",
        _SMALL_INT8,
        "cluster",
        Tune("cluster", clusters=16),
    ),
    Format(
        "tflite_int8_qat",
        ".tflite",
        True,
        "quantization-aware trained, full-int8 DenseLSTM",
        _DENSE_INT8,
        "qat",
        Tune("qat"),
    ),
    Format(
        "tflite_int8_qat_fused",
        ".tflite",
        True,
        "quantization-aware trained, full-int8 fused LSTM op (16-bit cell state), per tensor, stripped",
        _qat_fused,
        "qat",
        Tune("qat"),
    ),
    Format(
        "tflite_int8_pqat",
        ".tflite",
        True,
        "75%-pruned then pruning-preserving QAT, full-int8 DenseLSTM",
        _DENSE_INT8,
        "qat",
        Tune("pqat", 0.75),
    ),
    Format(
        "tflite_int8_cqat",
        ".tflite",
        True,
        "16-clustered then cluster-preserving QAT, full-int8 DenseLSTM",
        _DENSE_INT8,
        "qat",
        Tune("cqat", clusters=16),
    ),
]
BY_NAME = {f.name: f for f in FORMATS}
DEFAULTS = {g: [f.name for f in FORMATS if f.group == g] for g in GROUPS}
DEFAULT_EXPORT = DEFAULTS["export"]
DEFAULT_QUANTIZE = DEFAULTS["quantize"]


def get_formats(names) -> list[Format]:
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ConfigError(f"unknown export formats {unknown}; expected some of {list(BY_NAME)}")
    return [BY_NAME[n] for n in names]
