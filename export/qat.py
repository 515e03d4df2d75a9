"""Quantization-aware training (Jacob et al. 2018) with tfmot, for LSTM and 1-D conv models too.

THE one place that works around tfmot's layer support (tfmot 0.8.1, tf_keras 2.21):

- LSTM: tfmot has no QuantizeConfig for RNN layers (its registry entry for LSTMCell is commented
  out; tensorflow/tensorflow#61329). Each keras LSTM is rewritten into `models.dense_lstm.DenseLSTM`
  (same equations, same weights) and annotated with `LayerQuantizeConfig`: fake-quantized
  kernel and recurrent kernel (8 bit, symmetric, per tensor, as TFLite's int8 FULLY_CONNECTED) and a
  quantized output. The gate pre-activations and the cell state inside the layer get no fake-quant
  node; the converter calibrates them from the representative windows, as in PTQ.
- Conv1D: not in tfmot's default 8-bit registry (tensorflow/model-optimization#362). It is
  annotated here with a fake-quantized kernel and a quantized activation. The kernel is quantized
  per tensor: tfmot's per-channel LastValueQuantize only handles rank-2 and rank-4 tensors (a
  rank-3 Conv1D kernel fails with "'reduce_dims' is used before assignment"). tf_keras computes
  Conv1D as a height-1 Conv2D, which is what the converter emits, with per-channel int8 weights.
- GRU, SimpleRNN: no QuantizeConfig either (tensorflow/model-optimization#1114). They are annotated with the weights
  of their cell (`cell.kernel`, `cell.recurrent_kernel`, fake-quantized as for DenseLSTM) and a
  quantized output, and converted unrolled (export.convert's "dense" RNN mode), because the
  converter cannot int8-calibrate a WHILE loop. Their gate activations are calibrated by the
  converter, as PTQ does.
- Layers without weighted products that tfmot's registry does not know get only their output
  quantized (`LayerQuantizeConfig` with no weights): Multiply (EfficientNet's squeeze-excitation
  x·s; tensorflow/model-optimization#733 asks for it), LayerNormalization
  (tensorflow/model-optimization#942) and the project's ClassToken / PositionEmbedding / TakeToken
  (ViT) and SignStep (perceptron). Their integer kernels come from the converter. The ViT's Dense
  layers with the registered `gelu_tanh` activation get kernel + output quantization here, because
  tfmot's Dense config accepts only activations it knows by name.
- MultiHeadAttention stays float in the QAT model (not annotated): tfmot's QuantizeWrapper calls
  the wrapped layer as `call(inputs, training)`, so attention's `(query, value)` call cannot be
  wrapped. The converter quantizes its matmuls from the representative windows, as in PTQ.
- SeparableConv1D: tfmot's rewrite of it builds a Lambda layer that tf_keras refuses to load in
  safe mode; it is not supported here and raises.

BatchNormalization: tfmot's default scheme keeps BN a layer of its own in QAT (conv without output
fake-quant, BN quantized at its output; tensorflow/model-optimization#187), the converter folds it
into the conv. BN runs with its trained moving statistics in fine-tuning (export.tune.freeze_batch_norm,
issue #5, see there).

Activation ranges: tfmot starts every moving-average range at [-6, 6] and moves it with an EMA of
decay 0.999, so a fine-tuning of a few hundred steps ends far from the data's ranges, and the
converter uses those ranges. The int8 file is very sensitive to them, far more than the Keras QAT
model (measured on the demo LSTM: model-input range [-5, 5] instead of the data's [-3.6, 3.9]:
Keras QAT RMSE 14.70 -> 14.70, its int8 file 14.96 -> 22.4, with part of the graph falling back to
float). So `calibrate_ranges` sets every range from the QAT model's own tensors on the
representative windows before fine-tuning (a good start for the EMA) and again after it, with the
fine-tuned weights (the ranges the converter uses are then the data's, as in PTQ).

Fused int8 LSTM from QAT (`float_twin`): the DenseLSTM QAT model simulates int8 weights, an int8
LSTM output and an int8 head, but nothing inside the LSTM step. The unrolled int8 file quantizes
every gate, cell and hidden state of every step to 8 bits; TFLite's fused int8 LSTM kernel keeps
the gates and the cell state in 16 bits. So the fused file is the one the QAT model simulates:
measured on the 128-unit FD001 LSTM, QAT Keras 12.74 RMSE (fp32 12.92), its unrolled int8 file
13.40-13.60 (two runs), its fused int8 file 12.83; PTQ fused 13.07. `float_twin` takes the fine-tuned weights back into the float network with
keras LSTMs, which the converter fuses; its int8 weight grid (symmetric, per tensor) is the one
the QAT weights were trained on, and its activation ranges are calibrated on the data as
`calibrate_ranges` sets them in the QAT model.

Collaborative modes (tfmot.experimental combine): `pqat` keeps the zeros of a pruned model,
`cqat` keeps the centroids of a clustered model. For the layers annotated here, the matching tfmot
weight quantizer is chosen (`_weight_quantizer`), because tfmot's preserve-registries only know
Dense and Conv2D.
"""

from __future__ import annotations

import numpy as np
import functools

from prognos.edge_runtime.errors import ConfigError
from prognos.models.dense_lstm import DenseLSTM
from prognos.models.kerasapi import keras, load_tfmot

MODES = ("qat", "pqat", "cqat")


def _weight_quantizer(mode: str):
    """tfmot's 8-bit per-tensor weight quantizer for `mode` (plain, prune- or cluster-preserving)."""
    tfmot = load_tfmot()  # first: it must import TensorFlow after models.kerasapi chose tf_keras
    from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.cluster_preserve import (
        cluster_preserve_quantize_registry as cp,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (
        prune_preserve_quantize_registry as pp,
    )

    q = tfmot.quantization.keras.quantizers
    table = {
        "qat": lambda: q.LastValueQuantizer(8, per_axis=False, symmetric=True, narrow_range=True),
        "pqat": pp.PrunePreserveDefault8BitWeightsQuantizer,
        "cqat": lambda: cp.ClusterPreserveDefault8BitWeightsQuantizer(False),
    }
    return table[mode]()


@functools.lru_cache(maxsize=None)
def _config_class():
    """QuantizeConfig for the layers annotated here, built lazily (importing this module stays TF-light)
    and once per process (a second class of the same name confused a later QAT run in the same process)."""
    tfmot = load_tfmot()
    QuantizeConfig = tfmot.quantization.keras.QuantizeConfig
    MovingAverageQuantizer = tfmot.quantization.keras.quantizers.MovingAverageQuantizer

    class LayerQuantizeConfig(QuantizeConfig):
        """Fake-quantize `weights`; quantize the `activation` attribute or, if none, the output."""

        def __init__(self, weights=("kernel",), activation: bool = False, mode: str = "qat"):
            self.weights, self.activation, self.mode = list(weights), activation, mode

        def _act(self):
            return MovingAverageQuantizer(8, per_axis=False, symmetric=False, narrow_range=False)

        def get_weights_and_quantizers(self, layer):
            return [(getattr(*_owner(layer, w)), _weight_quantizer(self.mode)) for w in self.weights]

        def get_activations_and_quantizers(self, layer):
            return [(layer.activation, self._act())] if self.activation else []

        def set_quantize_weights(self, layer, quantize_weights):
            for name, value in zip(self.weights, quantize_weights):
                setattr(*_owner(layer, name), value)

        def set_quantize_activations(self, layer, quantize_activations):
            if self.activation:
                layer.activation = quantize_activations[0]

        def get_output_quantizers(self, layer):
            return [] if self.activation else [self._act()]

        def get_config(self):
            return {"weights": self.weights, "activation": self.activation, "mode": self.mode}

    return LayerQuantizeConfig


def _owner(layer, path: str):
    """(object, attribute) of a dotted weight path: "kernel" -> (layer, "kernel"); "cell.kernel" -> (cell, ...)."""
    *parents, attr = path.split(".")
    for name in parents:
        layer = getattr(layer, name)
    return layer, attr


def _annotation(layer):
    """(weights, quantize the activation attribute) for the layers annotated here; None: tfmot's own
    registry; "float": leave the layer unannotated (see the module docstring)."""
    from prognos.models.perceptron import SignStep
    from prognos.models.vit import ClassToken, PositionEmbedding, TakeToken, gelu_tanh

    L = keras.layers
    if isinstance(layer, DenseLSTM):
        return ("kernel", "recurrent_kernel"), False
    if isinstance(layer, (L.GRU, L.SimpleRNN)):
        return ("cell.kernel", "cell.recurrent_kernel"), False
    if isinstance(layer, L.Conv1D):
        return ("kernel",), True
    if isinstance(layer, L.Dense) and layer.activation is gelu_tanh:  # tfmot knows activations by name only
        return ("kernel",), False
    if isinstance(layer, (L.Multiply, L.LayerNormalization, ClassToken, PositionEmbedding, TakeToken, SignStep)):
        return (), False
    if isinstance(layer, (L.MultiHeadAttention, L.InputLayer)):
        return "float"
    return None


def _custom_layers() -> dict:
    from prognos.models.perceptron import SignStep
    from prognos.models.vit import ClassToken, PositionEmbedding, TakeToken, gelu_tanh

    return {c.__name__: c for c in (SignStep, ClassToken, PositionEmbedding, TakeToken, gelu_tanh)}


def _check_supported(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.SeparableConv1D):
            raise ConfigError(
                f"QAT: layer {layer.name!r} is a SeparableConv1D; tfmot rewrites it with a Lambda "
                "layer that cannot be loaded in safe mode. "
                "Use PTQ formats for this model."
            )


def quantize_aware(model, mode: str = "qat"):
    """A tfmot QAT model of `model` (a plain functional tf_keras model, LSTMs already DenseLSTMs)."""
    if mode not in MODES:
        raise ConfigError(f"QAT mode {mode!r}; expected one of {MODES}")
    _check_supported(model)
    tfmot = load_tfmot()
    qk = tfmot.quantization.keras
    config_cls = _config_class()

    def annotate(layer):
        how = _annotation(layer)
        if how == "float":
            return layer
        if how is None:
            return qk.quantize_annotate_layer(layer)
        return qk.quantize_annotate_layer(layer, quantize_config=config_cls(*how, mode))

    annotated = keras.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    scheme = {
        "qat": qk.default_8bit.Default8BitQuantizeScheme,
        "pqat": tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme,
        "cqat": tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme,
    }[mode]()
    with qk.quantize_scope({"LayerQuantizeConfig": config_cls, "DenseLSTM": DenseLSTM, **_custom_layers()}):
        qat_model = qk.quantize_apply(annotated, scheme)
    return qat_model


def _activation_quantizers(qat_model) -> list:
    """(owner, attribute, value) of every activation quantizer: each model-input QuantizeLayer's, each
    wrapper's output quantizers (a list) and each QuantizeAwareActivation's (a quantized `activation`)."""
    found = []
    for layer in qat_model.layers:
        if type(layer).__name__ == "QuantizeLayer" and layer.quantizer is not None:
            found.append((layer, "quantizer", layer.quantizer))
        found += [(act, "quantizer", act.quantizer) for act in getattr(layer, "_quantize_activations", [])]
        if getattr(layer, "_output_quantizers", None):
            found.append((layer, "_output_quantizers", layer._output_quantizers))
    return found


class _RangeFromBatch:
    """Stands in for an activation quantizer for one forward pass: sets the range to the min/max of the
    tensor it receives (widened to include 0, as tfmot does), then fake-quantizes with that range."""

    def __init__(self, quantizer):
        self.quantizer = quantizer

    def __call__(self, inputs, training, weights, **kwargs):
        import tensorflow as tf

        weights["min_var"].assign(tf.minimum(0.0, tf.reduce_min(inputs)))
        weights["max_var"].assign(tf.maximum(0.0, tf.reduce_max(inputs)))
        return self.quantizer(inputs, False, weights, **kwargs)


def calibrate_ranges(qat_model, windows) -> int:
    """Set every activation range of `qat_model` to the min/max its tensor takes on `windows`, in the
    QAT model itself (inference mode, every upstream tensor already fake-quantized with its new range).

    One eager pass over all `windows` at once, with each activation quantizer replaced by
    `_RangeFromBatch`; the layers run in graph order, so each range sees its inputs fake-quantized as
    the int8 file will. (A float copy of the model, used here before, is not the same function once
    fine-tuning has adapted the weights to quantization; issue #5.) Returns how many activation
    quantizers were calibrated.
    """
    import tensorflow as tf

    found = _activation_quantizers(qat_model)
    for owner, attr, value in found:  # a list is replaced whole: tf_keras tracks list attributes
        setattr(
            owner, attr, [_RangeFromBatch(q) for q in value] if attr == "_output_quantizers" else _RangeFromBatch(value)
        )
    try:
        qat_model(tf.constant(windows), training=False)
    finally:
        for owner, attr, value in found:
            setattr(owner, attr, value)
    return sum(len(v) if attr == "_output_quantizers" else 1 for _, attr, v in found)


def calibrate_weight_ranges(qat_model) -> int:
    """Set each weight range (`kernel_min/max`, ..., per tensor or per output channel) to what one
    training step would set.

    tfmot's LastValueQuantizer records a weight's symmetric range only in training steps and
    starts at [-6, 6]; before the first step the QAT model (and a file converted from it) would
    quantize weights of magnitude ~0.5 with a step of 0.05. Setting the ranges from the weights
    makes the untuned QAT model a real candidate for the best fine-tuning epoch (epoch 0).
    Returns how many ranges were set.
    """
    count = 0
    for layer in qat_model.layers:
        weights = {w.name.split("/")[-1].split(":")[0]: w for w in layer.weights}
        for name, var in weights.items():
            source = weights.get(name[:-4]) if name.endswith(("_min", "_max")) else None
            if source is None or var.shape.rank is None:
                continue
            w = np.abs(source.numpy())
            if var.shape.num_elements() == 1:  # per tensor (a scalar, or shape (1,) for depthwise kernels)
                bound = np.full(var.shape, w.max(), np.float32)
            elif var.shape == source.shape[-1:]:  # per output channel, as tfmot's per-axis quantizer
                bound = w.reshape(-1, w.shape[-1]).max(axis=0).astype(np.float32)
            else:
                continue
            var.assign(-bound if name.endswith("_min") else bound)
            count += 1
    return count


def float_twin(qat_model):
    """The float network `qat_model` fake-quantizes, with its fine-tuned weights and each DenseLSTM
    back as a keras LSTM (converted to the fused LSTM op; see the module docstring).

    Each QuantizeWrapper becomes the layer it wraps (with its float activation) and each QuantizeLayer
    an identity; weights are matched by name (kernel, recurrent_kernel, bias, ...).
    """
    pending = []

    def unwrap(layer):
        kind = type(layer).__name__
        if kind == "QuantizeLayer":
            return keras.layers.Activation("linear", name=layer.name)
        inner = layer.layer if kind == "QuantizeWrapperV2" else layer
        if isinstance(inner, DenseLSTM):
            new = keras.layers.LSTM(inner.units, return_sequences=inner.return_sequences, name=inner.name)
        else:
            config = inner.get_config()
            if "activation" in config:
                config["activation"] = _float_activation(config["activation"])
            new = inner.__class__.from_config(config)
        own = {_short(w): w.numpy() for w in layer.weights if w.name.startswith(inner.name + "/")}
        pending.append((new, own))
        return new

    twin = keras.models.clone_model(qat_model, clone_function=unwrap)
    for new, own in pending:
        new.set_weights([own[_short(w)] for w in new.weights])
    return twin


def _float_activation(act):
    """The activation tfmot replaced: QuantizeAwareActivation wraps the original one; NoOpActivation
    stands for a linear conv whose BatchNormalization / ReLU layer after it is quantized instead."""
    if isinstance(act, dict) and act.get("class_name") == "QuantizeAwareActivation":
        act = act["config"]["activation"]
    if isinstance(act, dict) and act.get("class_name") == "NoOpActivation":
        return "linear"
    return act


def _short(weight) -> str:
    """ "quant_lstm/lstm/kernel:0" and "lstm/lstm_cell/kernel:0" -> "kernel"."""
    return weight.name.split("/")[-1].split(":")[0]
