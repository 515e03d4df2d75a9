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
  parameters in the flatbuffer. `strip=True` drops what the interpreter does not read (`strip_strings`).
- A TFLite WHILE loop would keep the graph small, but full-int8 calibration of it crashed the
  converter process (segmentation fault), so no format uses one.
"""
from __future__ import annotations

import numpy as np

from edge_runtime.errors import ConfigError
from models.dense_lstm import from_keras_lstm
from models.kerasapi import keras, tf

ONNX_OPSET = 17
RNN_MODES = ("fused", "unrolled", "dense")
QUANT_MODES = ("fp32", "dynamic", "float16", "int8", "int16x8")


def inference_clone(model, batch_size: int | None = 1, rnn: str = "fused"):
    """The same network and weights with a fixed batch size; RNNs fused, unrolled or as DenseLSTM."""
    if rnn not in RNN_MODES:
        raise ConfigError(f"rnn mode {rnn!r}; expected one of {RNN_MODES}")

    def clone_layer(layer):
        if isinstance(layer, keras.Model):  # a nested model (an ensemble member): its RNNs change too
            return keras.models.clone_model(layer, clone_function=clone_layer)
        if rnn == "dense" and isinstance(layer, keras.layers.LSTM):
            return from_keras_lstm(layer)
        config = layer.get_config()
        if rnn != "fused" and isinstance(layer, keras.layers.RNN):  # "dense": GRU / SimpleRNN unrolled
            config["unroll"] = True
        return layer.__class__.from_config(config)

    inputs = [keras.Input(t.shape[1:], batch_size=batch_size, dtype=t.dtype, name=t.name.split(":")[0])
              for t in model.inputs]  # several for e.g. a conditional GAN generator G(z, y)
    clone = keras.models.clone_model(model, input_tensors=inputs if len(inputs) > 1 else inputs[0],
                                     clone_function=clone_layer)
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
    converter.target_spec.supported_ops = [ops.TFLITE_BUILTINS_INT8 if quant == "int8"
                                           else ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    if int_io:
        converter.inference_input_type = converter.inference_output_type = tf.int8 if quant == "int8" else tf.int16
    # Per-tensor weight scales have no public converter option (tensorflow/tensorflow#39944, #44153);
    # the converter's private flag is read only here.
    converter._experimental_disable_per_channel = not per_channel


def to_tflite(model, quant: str = "fp32", representative: np.ndarray | None = None, rnn: str = "fused",
              int_io: bool = True, strip: bool = False, per_channel: bool = True) -> bytes:
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
    data = converter.convert()
    return strip_strings(data) if strip else data


def single_input(model, what: str):
    """Calibration windows and the ONNX signature are one (T, C) window tensor: refuse other models."""
    if len(model.inputs) != 1:
        names = [t.name.split(":")[0] for t in model.inputs]
        raise ConfigError(f"{what} takes models with one window input; {model.name!r} has inputs {names}")


def strip_strings(data: bytes) -> bytes:
    """A TFLite flatbuffer without what the interpreter does not read when run by tensor index.

    Drops tensor names and signature defs (flatbuffer_utils.strip_strings), the metadata entries
    (the converter's `min_runtime_version` and `CONVERSION_METADATA`: informational only) and
    buffers no tensor refers to (the converter leaves the initial values of the fused LSTM's state
    variables behind as orphans; the interpreter zero-initializes variable tensors itself).
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    flatbuffer_utils.strip_strings(model)
    model.metadata = model.metadataBuffer = None
    tensors = [t for g in model.subgraphs for t in g.tensors]
    keep = sorted({0} | {t.buffer for t in tensors})  # buffer 0 is the schema's empty sentinel
    index = {old: new for new, old in enumerate(keep)}
    model.buffers = [model.buffers[i] for i in keep]
    for t in tensors:
        t.buffer = index[t.buffer]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def to_onnx(model) -> bytes:
    """ONNX (opset 17) with a dynamic batch dimension; tf_keras LSTMs become native ONNX LSTM ops."""
    import tf2onnx

    single_input(model, "ONNX export")
    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="window"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=ONNX_OPSET)
    return proto.SerializeToString()
