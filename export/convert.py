"""Model converters: TFLite (fp32, full-int8) via tf.lite.TFLiteConverter and ONNX via tf2onnx.

Known traps (TF 2.21, measured here): an LSTM converts to the fused UNIDIRECTIONAL_SEQUENCE_LSTM op
only with a fixed batch dimension, so every TFLite model is converted from a batch-1 clone. The
fused int8 LSTM kernel ran ~10x slower than fp32 in LiteRT on x86, while an unrolled LSTM
(`unroll=True`: plain FULLY_CONNECTED + elementwise ops) quantized to int8 ran faster than fp32, at
the price of a larger file (the weights are repeated per time step). Both are offered; `prognos
bench` measures them.
"""
from __future__ import annotations

import numpy as np

from models.kerasapi import keras, tf

ONNX_OPSET = 17


def inference_clone(model, batch_size: int | None = 1, unroll: bool = False):
    """The same network and weights with a fixed batch size and, optionally, unrolled RNN layers."""

    def clone_layer(layer):
        config = layer.get_config()
        if unroll and isinstance(layer, keras.layers.RNN):
            config["unroll"] = True
        return layer.__class__.from_config(config)

    inputs = keras.Input(model.input_shape[1:], batch_size=batch_size, name=model.inputs[0].name.split(":")[0])
    clone = keras.models.clone_model(model, input_tensors=inputs, clone_function=clone_layer)
    clone.set_weights(model.get_weights())
    return clone


def to_tflite(model, representative: np.ndarray | None = None, unroll: bool = False) -> bytes:
    """fp32 TFLite, or full-integer int8 with int8 input/output when `representative` windows are given."""
    converter = tf.lite.TFLiteConverter.from_keras_model(inference_clone(model, 1, unroll))
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([w[None].astype(np.float32)] for w in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def to_onnx(model) -> bytes:
    """ONNX (opset 17) with a dynamic batch dimension; tf_keras LSTMs become native ONNX LSTM ops."""
    import tf2onnx

    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="window"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=ONNX_OPSET)
    return proto.SerializeToString()
