"""Model converters: TFLite (float, dynamic-range, float16, int8, 16x8) and ONNX via tf2onnx.

Known traps (TF 2.21, measured here):
- An LSTM converts to the fused UNIDIRECTIONAL_SEQUENCE_LSTM op only with a fixed batch dimension,
  so every TFLite model is converted from a batch-1 clone.
- The fused int8 LSTM kernel runs ~10x slower than fp32 in LiteRT on x86, and the converter
  cannot quantize it to 16x8 at all ("not yet supported for op UNIDIRECTIONAL_SEQUENCE_LSTM") nor
  to dynamic range (it stays float).
- An unrolled LSTM (`rnn="unrolled"`, keras `unroll=True`) or a DenseLSTM (`rnn="dense"`) becomes
  plain FULLY_CONNECTED + elementwise ops: fast in int8. Its weights are NOT repeated per step;
  the file is larger because each of the ~500 per-step tensors carries a name and quantization
  parameters in the flatbuffer. `strip=True` drops what the interpreter does not read (`strip_tflite`).
- A TFLite WHILE loop would keep the graph small, but full-int8 calibration of it crashed the
  converter process (segmentation fault), so no format uses one.
"""

from __future__ import annotations

import flatbuffers
import numpy as np

from prognos.edge_runtime.errors import ConfigError
from prognos.models.dense_lstm import from_keras_lstm
from prognos.models.kerasapi import keras, tf

ONNX_OPSET = 17
RNN_MODES = ("fused", "unrolled", "dense", "merged")
QUANT_MODES = ("fp32", "dynamic", "float16", "int8", "int16x8")


def inference_clone(model, batch_size: int | None = 1, rnn: str = "fused"):
    """The same network and weights with a fixed batch size; RNNs fused, unrolled, as DenseLSTM or
    ("merged") with an ensemble's LSTM members as one DenseLSTM (export.merge)."""
    if rnn not in RNN_MODES:
        raise ConfigError(f"rnn mode {rnn!r}; expected one of {RNN_MODES}")
    if rnn == "merged":
        from prognos.export.merge import merge_lstms

        model, rnn = merge_lstms(model), "dense"

    def clone_layer(layer):
        if isinstance(layer, keras.Model):  # a nested model (an ensemble member): its RNNs change too
            return keras.models.clone_model(layer, clone_function=clone_layer)
        if rnn == "dense" and isinstance(layer, keras.layers.LSTM):
            return from_keras_lstm(layer)
        config = layer.get_config()
        if rnn != "fused" and isinstance(layer, keras.layers.RNN):  # "dense": GRU / SimpleRNN unrolled
            config["unroll"] = True
        return layer.__class__.from_config(config)

    inputs = [
        keras.Input(t.shape[1:], batch_size=batch_size, dtype=t.dtype, name=t.name.split(":")[0]) for t in model.inputs
    ]  # several for e.g. a conditional GAN generator G(z, y)
    clone = keras.models.clone_model(
        model, input_tensors=inputs if len(inputs) > 1 else inputs[0], clone_function=clone_layer
    )
    clone.set_weights(model.get_weights())  # DenseLSTM keeps the keras LSTM's weight layout
    return clone


def is_quantize_aware(model) -> bool:
    return any(type(layer).__name__ in ("QuantizeWrapperV2", "QuantizeLayer") for layer in model.layers)


def _converter(model, rnn: str):
    if not is_quantize_aware(model):
        return tf.lite.TFLiteConverter.from_keras_model(inference_clone(model, 1, rnn))
    # A tfmot QAT model cannot be cloned layer by layer; trace it with a batch of one instead.
    spec = tf.TensorSpec((1, *model.input_shape[1:]), tf.float32, name="window")
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return tf.lite.TFLiteConverter.from_concrete_functions([fn], model)


def _quantize_options(converter, quant: str, representative, int_io: bool, per_channel: bool = True):
    if quant == "fp32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quant == "float16":
        converter.target_spec.supported_types = [tf.float16]
        return
    if quant == "dynamic":
        return
    if representative is None:
        raise ConfigError(f"TFLite {quant} needs representative windows for calibration")
    converter.representative_dataset = lambda: ([w[None].astype(np.float32)] for w in representative)
    ops = tf.lite.OpsSet
    converter.target_spec.supported_ops = [
        ops.TFLITE_BUILTINS_INT8 if quant == "int8" else ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]
    if int_io:
        converter.inference_input_type = converter.inference_output_type = tf.int8 if quant == "int8" else tf.int16
    # Per-tensor weight scales have no public converter option (tensorflow/tensorflow#39944, #44153);
    # the converter's private flags are read only here. Dense kernels have their own flag (per channel
    # by default since TF 2.16; named in tensorflow/tflite-micro#2602).
    converter._experimental_disable_per_channel = not per_channel
    converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel


def to_tflite(
    model,
    quant: str = "fp32",
    representative: np.ndarray | None = None,
    rnn: str = "fused",
    int_io: bool = True,
    strip: bool = False,
    per_channel: bool = True,
) -> bytes:
    """TFLite bytes. `quant`: fp32 | dynamic (int8 weights) | float16 | int8 | int16x8 (16-bit activations).

    int8 / int16x8 are calibrated on `representative` windows; with `int_io` the model's input and
    output are integer too, otherwise QUANTIZE / DEQUANTIZE ops at the ends take float32.
    `per_channel=False`: one weight scale per tensor instead of one per output channel. A per-channel
    tensor stores a float32 scale and an int64 zero point (schema) for every channel, and so does the
    int32 bias after it: 24 bytes per channel, against 3-5 int8 weights per channel of a 1-D depthwise
    kernel (export.anatomy counts them: 66 KB of the 287 KB int8 MobileNet V1 on FD001).
    """
    if quant not in QUANT_MODES:
        raise ConfigError(f"TFLite quantization {quant!r}; expected one of {QUANT_MODES}")
    if quant != "fp32":
        single_input(model, f"TFLite {quant}")
    converter = _converter(model, rnn)
    _quantize_options(converter, quant, representative, int_io, per_channel)
    data = batch_free_reshapes(converter.convert())
    return strip_tflite(data) if strip else data


def single_input(model, what: str):
    """Calibration windows and the ONNX signature are one (T, C) window tensor: refuse other models."""
    if len(model.inputs) != 1:
        names = [t.name.split(":")[0] for t in model.inputs]
        raise ConfigError(f"{what} takes models with one window input; {model.name!r} has inputs {names}")


def batch_free_reshapes(data: bytes) -> bytes:
    """The batch-1 model with every RESHAPE that keeps the batch axis first written as [-1, ...].

    Models are converted at batch 1 (the fused LSTM needs a static batch), and the converter folds
    e.g. Conv1D's expand_dims into RESHAPE to the constant [1, 1, T, C]: an interpreter resized to a
    batch of n windows then refuses the graph. A RESHAPE whose input and new shape both start with the
    batch of 1 (and hold no other -1) gets -1 there, in its shape tensor and its options; the edge
    backend checks at load that a batch computes what single windows do (edge_runtime.backends).
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    changed = False
    for g in model.subgraphs:
        for op in g.operators:
            if codes[op.opcodeIndex] != schema.BuiltinOperator.RESHAPE or len(op.inputs) < 2:
                continue
            src, shape_t = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
            buf = model.buffers[shape_t.buffer]
            if buf.data is None or len(buf.data) == 0 or src.shape is None or src.shape[0] != 1:
                continue
            shape = np.frombuffer(bytes(buf.data), np.int32).copy()
            if len(shape) < 2 or shape[0] != 1 or (shape == -1).any():
                continue
            shape[0] = -1
            model.buffers.append(schema.BufferT())
            model.buffers[-1].data = np.frombuffer(shape.tobytes(), np.uint8)
            shape_t.buffer = len(model.buffers) - 1
            if op.builtinOptions is not None and getattr(op.builtinOptions, "newShape", None) is not None:
                op.builtinOptions.newShape = shape
            changed = True
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)) if changed else data


def strip_tflite(data: bytes) -> bytes:
    """A TFLite flatbuffer without what the interpreter does not read, each remaining piece stored once.

    Dropped: tensor names and signature defs (flatbuffer_utils.strip_strings; tensors are run by
    index); the metadata entries (`min_runtime_version`, `CONVERSION_METADATA`: informational);
    buffers no constant uses (the converter leaves the initial values of the fused LSTM's state
    variables behind, the interpreter zero-initializes variable tensors itself; and it gives every
    activation an empty buffer of its own: non-constant tensors point at the schema's empty buffer 0
    instead); `has_rank` of tensors with a shape (only the converter's importer reads it, to tell an
    unranked tensor from a scalar); quantization tables without scales (the interpreter's
    ParseQuantization reads them as "not quantized"); `builtin_code` where the old
    `deprecated_builtin_code` field holds the same operator (every runtime reads the larger of two).
    Stored once: identical constant buffers, and identical vectors (shapes, scales, zero points,
    operator inputs) and quantization tables, referenced from every user (flatbuffer offsets may
    share an object, as flatc's shared strings do). Outputs stay bit-identical (tests/test_compress.py).
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    flatbuffer_utils.strip_strings(model)
    model.metadata = model.metadataBuffer = None
    for code in model.operatorCodes:
        if code.builtinCode == code.deprecatedBuiltinCode:
            code.builtinCode = 0
    tensors = [t for g in model.subgraphs for t in g.tensors]
    _share_buffers(model, tensors)
    shared = {}
    for t in tensors:
        t.hasRank = t.hasRank and (t.shape is None or len(t.shape) == 0)
        q = t.quantization
        if q is not None and (q.scale is None or len(q.scale) == 0):
            t.quantization = None
        elif q is not None and q.zeroPoint is not None and q.min is None and q.max is None and q.details is None:
            key = (q.scale.tobytes(), q.zeroPoint.tobytes(), q.quantizedDimension)
            t.quantization = shared.setdefault(key, _PackedOnce(q))
    builder = _SharingBuilder()
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _share_buffers(model, tensors):
    """Constants with the same bytes share one buffer; tensors without data point at buffer 0."""
    from tensorflow.lite.python.schema_py_generated import BufferT

    buffers, index = [BufferT()], {}  # buffer 0: the schema's empty sentinel
    for t in tensors:
        data = model.buffers[t.buffer].data
        if data is None or len(data) == 0:
            t.buffer = 0
            continue
        key = bytes(data)
        if key not in index:
            index[key] = len(buffers)
            buffers.append(model.buffers[t.buffer])
        t.buffer = index[key]
    model.buffers = buffers


class _PackedOnce:
    """An object-API table (here quantization parameters) packed once, however many tensors refer to it."""

    def __init__(self, table):
        self.table, self.offset = table, None

    def Pack(self, builder):  # noqa: N802 (the flatbuffers object API's name)
        if self.offset is None:
            self.offset = self.table.Pack(builder)
        return self.offset


class _SharingBuilder(flatbuffers.Builder):
    """A flatbuffers Builder that writes each distinct numpy vector once (the object API packs every
    vector it read as numpy through CreateNumpyVector)."""

    def __init__(self):
        super().__init__(1024)
        self._vectors = {}

    def CreateNumpyVector(self, x):  # noqa: N802 (the flatbuffers API's name)
        key = (x.dtype.str, x.tobytes())
        if key not in self._vectors:
            self._vectors[key] = super().CreateNumpyVector(x)
        return self._vectors[key]


def to_onnx(model) -> bytes:
    """ONNX (opset 17) with a dynamic batch dimension; tf_keras LSTMs become native ONNX LSTM ops."""
    import tf2onnx

    single_input(model, "ONNX export")
    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="window"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=ONNX_OPSET)
    return proto.SerializeToString()
