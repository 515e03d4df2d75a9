"""DenseLSTM: the LSTM of `models.rnn` unrolled over a fixed window as plain matrix products.

Same equations as keras.layers.LSTM (tanh / sigmoid, Hochreiter & Schmidhuber 1997), written so
that converters and tfmot see only MatMul, Add, Sigmoid, Tanh and Mul:

    Z = X·W + b                    one product for all T time steps (W is stored once)
    z_t = Z_t + h_{t-1}·U          one product per step, the same U every step
    [i f g o] = split(z_t, 4),  c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g),  h_t = σ(o)⊙tanh(c_t)

Why it exists (see `export.qat`): tfmot cannot quantize keras LSTM layers
(tensorflow/tensorflow#61329), the fused int8 TFLite LSTM kernel is slow on x86, and keras'
`unroll=True` LSTM repeats its input kernel per time step in the converted file. Here W is applied
once to the whole window and U is one tensor shared by every step, so the int8 file stays small.

Weights and gate order [i, f, c, o] are those of keras.layers.LSTM, so `from_keras_lstm` + the
keras layer's weights compute exactly what the keras layer computes (h0 = c0 = 0). The four gates
are cut with one equal SPLIT, which LiteRT's XNNPACK delegate runs; a SPLIT_V (e.g. one sigmoid
over [i f o]) is not delegated and cut the graph into 31 partitions, measured ~15 % slower.
"""

from __future__ import annotations

from prognos.edge_runtime.errors import ConfigError
from prognos.models.kerasapi import keras, tf


@keras.saving.register_keras_serializable(package="prognos")
class DenseLSTM(keras.layers.Layer):
    """An LSTM over a window of static length, from dense products (see module docstring)."""

    def __init__(self, units: int, return_sequences: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ConfigError(f"DenseLSTM: units must be a positive int, got {units!r}")
        self.units, self.return_sequences = units, bool(return_sequences)

    def build(self, input_shape):
        if input_shape[1] is None:
            raise ConfigError(f"DenseLSTM needs a static window length; got input shape {tuple(input_shape)}")
        n = 4 * self.units
        self.kernel = self.add_weight("kernel", (int(input_shape[-1]), n), initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, n), initializer="orthogonal")
        self.bias = self.add_weight("bias", (n,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        steps, features = inputs.shape[1], inputs.shape[2]
        z_all = tf.reshape(
            tf.matmul(tf.reshape(inputs, (-1, features)), self.kernel) + self.bias, (-1, steps, 4 * self.units)
        )
        recurrent = tf.convert_to_tensor(self.recurrent_kernel)  # read once: one tensor for all steps
        h = c = None
        outputs = []
        for z in tf.unstack(z_all, axis=1):
            if h is not None:
                z = z + tf.matmul(h, recurrent)
            i, f, g, o = tf.split(z, 4, axis=-1)
            ig = tf.sigmoid(i) * tf.tanh(g)
            c = ig if c is None else tf.sigmoid(f) * c + ig
            h = tf.sigmoid(o) * tf.tanh(c)
            outputs.append(h)
        return tf.stack(outputs, axis=1) if self.return_sequences else h

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def get_prunable_weights(self):
        """tfmot magnitude pruning (duck-typed `PrunableLayer`): both weight matrices, not the bias."""
        return [self.kernel, self.recurrent_kernel]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "return_sequences": self.return_sequences}


def from_keras_lstm(layer) -> DenseLSTM:
    """A DenseLSTM computing what `layer` (a keras.layers.LSTM) computes, given the same weights."""
    cfg = layer.get_config()
    wrong = {
        k: cfg[k]
        for k, ok in (
            ("activation", "tanh"),
            ("recurrent_activation", "sigmoid"),
            ("use_bias", True),
            ("go_backwards", False),
            ("stateful", False),
            ("return_state", False),
        )
        if cfg.get(k) != ok
    }
    if wrong:
        raise ConfigError(f"layer {layer.name!r}: DenseLSTM replaces only plain LSTMs; unsupported settings {wrong}")
    return DenseLSTM(cfg["units"], cfg["return_sequences"], name=layer.name)


@keras.saving.register_keras_serializable(package="prognos")
class Take(keras.layers.Layer):
    """Features [start, stop) of the last axis: one member's slice of a merged DenseLSTM's state (export.merge)."""

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, inputs):
        return inputs[..., self.start : self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}
