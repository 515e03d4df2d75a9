"""Magnitude pruning with tfmot (Zhu & Gupta 2017, "To prune, or not to prune").

Every kernel of every prunable layer except the output head is pruned during fine-tuning: the
smallest-magnitude weights are zeroed on a schedule, either polynomial decay from 0 to the target
sparsity over the first 2/3 of the steps (the paper's cubic schedule) or constant sparsity from the
first step, or 2:4-style m-by-n structure (`sparsity_m_by_n`: m zeros in every n consecutive
weights along the input dimension; tfmot handles rank-2 and rank-4 kernels, `_m_by_n_for_conv1d`
adds Conv1D's rank 3), or in blocks (`block`, tfmot block_size): (4, 1) zeroes 4 consecutive inputs
of one output at a time, which are 4 consecutive bytes of an int8 FULLY_CONNECTED or LSTM weight
in the TFLite file (stored [outputs, inputs]), so gzip sees runs of zeros instead of scattered ones
(FD001 LSTM, 75 %: 9.5 KB gzipped instead of 11.1 KB); tfmot blocks only rank-2 kernels, so
convolutions are pruned unstructured in the same step. Of the epochs that end at full sparsity,
the one with the lowest validation loss is kept. `strip_pruning` removes the wrappers before
export; the report measures the sparsity of the stripped weights.
"""

from __future__ import annotations

import math

from prognos.export.finetune import Tune, TuneConfig, copy_model, fine_tune, weight_stats


def full_sparsity_epoch(pruning_schedule, steps_per_epoch: int) -> int:
    """The first epoch (1-based) that ends with the schedule's full sparsity: the polynomial schedule's
    `end_step`; constant sparsity and m-by-n (end_step -1) from the first epoch on."""
    return max(1, math.ceil(pruning_schedule.end_step / steps_per_epoch))


def schedule(tune: Tune, steps: int):
    """The tfmot pruning schedule for `tune` over `steps` training steps."""
    from prognos.models.kerasapi import load_tfmot

    sparsity = load_tfmot().sparsity.keras
    frequency = max(1, steps // 20)
    if tune.m_by_n or tune.schedule == "constant":
        return sparsity.ConstantSparsity(0.5 if tune.m_by_n else tune.sparsity, begin_step=0, frequency=frequency)
    return sparsity.PolynomialDecay(
        0.0, tune.sparsity, begin_step=0, end_step=max(1, 2 * steps // 3), frequency=frequency
    )


def _m_by_n_for_conv1d():
    """Let tfmot's m-by-n pruning take rank-3 Conv1D kernels (idempotent).

    tfmot 0.8.1 rearranges a kernel into [outputs x positions, inputs] rows before choosing m zeros
    per n consecutive inputs, for rank-2 (Dense) and rank-4 (Conv2D) kernels only
    (`pruning_utils.weights_rearrange` and `m_by_n_sparsity_mask_prepare` raise "weight tensor with
    shape: (3, 14, 8) is not supported" otherwise). A Conv1D kernel (k, in, out) is the Conv2D kernel
    (1, k, in, out) that the converter emits for it (a height-1 CONV_2D), so it is handled as that.
    """
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_utils as pu

    from prognos.models.kerasapi import tf

    if getattr(pu, "_prognos_rank3", False):
        return
    rearrange, prepare = pu.weights_rearrange, pu.m_by_n_sparsity_mask_prepare

    def weights_rearrange(weights):
        return rearrange(tf.expand_dims(weights, 0) if weights.shape.rank == 3 else weights)

    def mask_prepare(mask, weights_shape):
        if weights_shape.rank != 3:
            return prepare(mask, weights_shape)
        return tf.reshape(prepare(mask, tf.TensorShape([1, *weights_shape])), weights_shape)

    pu.weights_rearrange, pu.m_by_n_sparsity_mask_prepare, pu._prognos_rank3 = weights_rearrange, mask_prepare, True


def prunable(layer) -> bool:
    """tfmot prunes the built-in layers of its registry and PrunableLayer subclasses; a custom layer
    holding a vector (ViT's class token, position embedding) is left dense and listed as skipped."""
    from prognos.models.kerasapi import load_tfmot

    sparsity = load_tfmot().sparsity.keras
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

    return isinstance(layer, sparsity.PrunableLayer) or PruneRegistry.supports(layer)


def prune(model, tune: Tune, train, val, cfg: TuneConfig):
    """(stripped pruned copy of `model`, report) after cfg.epochs of pruning fine-tuning."""
    from prognos.models.kerasapi import keras, load_tfmot

    sparsity = load_tfmot().sparsity.keras

    per_epoch = math.ceil(len(train.x) / cfg.batch_size)
    steps = per_epoch * cfg.epochs
    params = {"pruning_schedule": schedule(tune, steps)}
    first = full_sparsity_epoch(params["pruning_schedule"], per_epoch)
    if tune.m_by_n:
        _m_by_n_for_conv1d()
        params["sparsity_m_by_n"] = tuple(tune.m_by_n)
    head = model.layers[-1].name

    def wrap(layer):
        if layer.name == head or not layer.trainable_weights or not prunable(layer):
            return layer
        kernels = [w for w in layer.trainable_weights if "kernel" in w.name]
        if tune.block and all(len(w.shape) == 2 for w in kernels):  # tfmot blocks rank-2 weights only
            return sparsity.prune_low_magnitude(layer, **params, block_size=tuple(tune.block))
        return sparsity.prune_low_magnitude(layer, **params)

    # wrappers wrap the layers they are given: hand them a copy, never the caller's model
    wrapped = keras.models.clone_model(copy_model(model), clone_function=wrap)
    val_loss, best = fine_tune(wrapped, train, val, cfg, [sparsity.UpdatePruningStep()], first=first)
    stripped = sparsity.strip_pruning(wrapped)
    skipped = [head] + [layer.name for layer in model.layers if layer.trainable_weights and not prunable(layer)]
    return stripped, {
        "tune": tune.relevant(),
        "epochs": cfg.epochs,
        "steps": steps,
        "val_loss": val_loss,
        "best_epoch": best,
        "skipped": skipped,
        "weights": weight_stats(stripped),
    }
