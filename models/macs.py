"""Multiply-accumulates (MACs) of one inference at batch 1, counted layer by layer.

Convention: a MAC is one multiply-add of a weighted product: dense and convolution kernels,
recurrent input/recurrent kernels, the four projections and the two attention products
(softmax(QKᵀ/√d)·V) of multi-head attention. Elementwise work (biases, activations, batch/layer
norm, pooling, residual adds, squeeze-excitation's rescaling, LSTM gate products) counts 0, as in
the MobileNet/EfficientNet papers' "multiply-adds". Per layer, with output spatial size H·W:

  Dense            prod(leading axes) · C_in · C_out
  Conv (1-/2-D)    H·W · k_h·k_w · C_in/groups · C_out   (height-1 Conv2D = a 1-D conv)
  Conv2DTranspose  H_in·W_in · k_h·k_w · C_in · C_out
  Depthwise        H·W · k_h·k_w · C_in · depth_multiplier
  Separable        depthwise + H·W · C_in·depth_multiplier · C_out
  SimpleRNN/LSTM/GRU   T · g · (C_in·u + u·u), g = 1 / 4 / 3 gates
  DenseLSTM        T·4u·C_in + (T−1)·4u·u  (its first step has no recurrent product, h₀ = 0)
  MultiHeadAttention   N_q·D_q·h·d_k + N_k·D_k·h·d_k + N_v·D_v·h·d_v + h·N_q·N_k·(d_k + d_v) + N_q·h·d_v·D_out

Nested models are walked recursively; tfmot wrappers (prune_low_magnitude, quantize) are counted as
the layer they wrap. A layer of any other type counts 0 and is listed in `MacCount.unknown`, and
`count_macs` logs a warning naming it, so an unsupported layer is visible, never silently free.
A layer shared by several calls is counted once (the zoo has none).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from prognos.models.kerasapi import keras

log = logging.getLogger(__name__)
L = keras.layers


@dataclass
class MacCount:
    total: int = 0
    layers: dict = field(default_factory=dict)  # "outer/inner" layer path -> MACs
    unknown: list = field(default_factory=list)  # paths of layers of an unsupported type (counted 0)


def _prod(dims) -> int:
    return int(math.prod(int(d) for d in dims))


def _spatial(shape) -> int:
    """Product of the axes between batch and channels."""
    return _prod(shape[1:-1])


def _dense(layer, inp, out):
    return _prod(out[1:-1]) * int(inp[-1]) * layer.units


def _conv(layer, inp, out):
    cin = int(inp[-1]) // getattr(layer, "groups", 1)
    return _spatial(out) * _prod(layer.kernel_size) * cin * layer.filters


def _conv_transpose(layer, inp, out):
    return _spatial(inp) * _prod(layer.kernel_size) * int(inp[-1]) * layer.filters


def _depthwise(layer, inp, out):
    return _spatial(out) * _prod(layer.kernel_size) * int(inp[-1]) * layer.depth_multiplier


def _separable(layer, inp, out):
    mid = int(inp[-1]) * layer.depth_multiplier
    return _spatial(out) * (_prod(layer.kernel_size) * mid + mid * layer.filters)


def _steps(inp) -> int:
    if inp[1] is None:
        raise ValueError("dynamic sequence length")
    return int(inp[1])


def _recurrent(gates):
    def count(layer, inp, out):
        u = layer.units
        return _steps(inp) * gates * (int(inp[-1]) * u + u * u)

    return count


def _dense_lstm(layer, inp, out):
    u, steps = layer.units, _steps(inp)
    return steps * 4 * u * int(inp[-1]) + (steps - 1) * 4 * u * u


def _attention(layer, inp, out):
    if not layer._built_from_signature:
        raise ValueError("attention layer never called")
    q, k, v = layer._query_shape, layer._key_shape, layer._value_shape
    h, dk, dv = layer._num_heads, layer._key_dim, layer._value_dim
    nq, nk = _spatial(q), _spatial(k)
    d_out = int(out[-1])
    projections = nq * int(q[-1]) * h * dk + nk * int(k[-1]) * h * dk + nk * int(v[-1]) * h * dv
    return projections + h * nq * nk * (dk + dv) + nq * h * dv * d_out


def _time_distributed(layer, inp, out):
    inner = _COUNTERS.get(type(layer.layer))
    if inner is None:
        raise ValueError(f"wraps unsupported {type(layer.layer).__name__}")
    return _steps(inp) * inner(layer.layer, (inp[0], *inp[2:]), (out[0], *out[2:]))


def _bidirectional(layer, inp, out):
    rnn = _COUNTERS[type(layer.forward_layer)]
    return rnn(layer.forward_layer, inp, None) + rnn(layer.backward_layer, inp, None)


def _counters() -> dict:
    from prognos.models.dense_lstm import DenseLSTM

    table = {
        L.Dense: _dense,
        L.Conv1D: _conv,
        L.Conv2D: _conv,
        L.Conv2DTranspose: _conv_transpose,
        L.Conv1DTranspose: _conv_transpose,
        L.DepthwiseConv2D: _depthwise,
        L.DepthwiseConv1D: _depthwise,
        L.SeparableConv1D: _separable,
        L.SeparableConv2D: _separable,
        L.SimpleRNN: _recurrent(1),
        L.LSTM: _recurrent(4),
        L.GRU: _recurrent(3),
        DenseLSTM: _dense_lstm,
        L.MultiHeadAttention: _attention,
        L.TimeDistributed: _time_distributed,
        L.Bidirectional: _bidirectional,
    }
    return table


def _zero_mac_types() -> tuple:
    """Layers without weighted products: shape changes, elementwise ops, norms, pooling, lookups."""
    from prognos.models.perceptron import SignStep
    from prognos.models.vae import Sampling
    from prognos.models.vit import ClassToken, PositionEmbedding, TakeToken

    return (
        L.InputLayer,
        L.Reshape,
        L.Flatten,
        L.Permute,
        L.RepeatVector,
        L.Dropout,
        L.SpatialDropout1D,
        L.SpatialDropout2D,
        L.GaussianNoise,
        L.BatchNormalization,
        L.LayerNormalization,
        L.Activation,
        L.ReLU,
        L.LeakyReLU,
        L.Softmax,
        L.Add,
        L.Subtract,
        L.Multiply,
        L.Average,
        L.Maximum,
        L.Minimum,
        L.Concatenate,
        L.MaxPooling1D,
        L.MaxPooling2D,
        L.AveragePooling1D,
        L.AveragePooling2D,
        L.GlobalAveragePooling1D,
        L.GlobalAveragePooling2D,
        L.GlobalMaxPooling1D,
        L.GlobalMaxPooling2D,
        L.ZeroPadding1D,
        L.ZeroPadding2D,
        L.UpSampling1D,
        L.UpSampling2D,
        L.Cropping1D,
        L.Cropping2D,
        L.Embedding,
        SignStep,
        Sampling,
        ClassToken,
        PositionEmbedding,
        TakeToken,
    )


_COUNTERS = _counters()
_ZERO = _zero_mac_types()


def _shapes(layer):
    try:
        return layer.input_shape, layer.output_shape
    except (AttributeError, RuntimeError):  # called several times: take the first call's shapes
        return layer.get_input_shape_at(0), layer.get_output_shape_at(0)


def _unwrap(layer):
    """The layer a tfmot wrapper (PruneLowMagnitude, QuantizeWrapper) wraps, else the layer."""
    inner = getattr(layer, "layer", None)
    wrapped = isinstance(layer, L.Wrapper) and not isinstance(layer, (L.TimeDistributed, L.Bidirectional))
    return inner if wrapped and isinstance(inner, L.Layer) else layer


def _walk(model, prefix: str, result: MacCount):
    for outer in model.layers:
        path = f"{prefix}{outer.name}"
        if isinstance(outer, keras.Model):
            _walk(outer, f"{path}/", result)
            continue
        layer = _unwrap(outer)
        counter = _COUNTERS.get(type(layer))
        if counter is None:
            if not isinstance(layer, _ZERO):
                result.unknown.append(f"{path} ({type(layer).__name__})")
            continue
        try:
            inp, out = _shapes(outer)
            macs = int(counter(layer, inp, out))
        except (AttributeError, RuntimeError, ValueError, TypeError) as err:
            result.unknown.append(f"{path} ({type(layer).__name__}: {err})")
            continue
        result.layers[path] = macs
        result.total += macs


def mac_count(model) -> MacCount:
    """Per-layer MACs of `model` at batch 1, and the layers that could not be counted."""
    result = MacCount()
    _walk(model, "", result)
    return result


def count_macs(model) -> int:
    """Total MACs of one inference of `model` at batch 1; logs a warning naming uncounted layers."""
    result = mac_count(model)
    if result.unknown:
        log.warning(
            "count_macs(%s): %d layer(s) not counted (0 MACs): %s",
            model.name,
            len(result.unknown),
            ", ".join(result.unknown),
        )
    return result.total
