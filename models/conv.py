"""Convolution helpers shared by every conv family: a (T, C) window is a (1, T, C) image.

All convolutions are 2-D. A 1-D window is reshaped to height 1 and convolved with (1, k) kernels and
(1, s) strides; an (F, T, C) spectrogram uses (k, k) and (s, s). Reasons: tfmot's QAT wraps
Conv2D/DepthwiseConv2D but rejects Conv1D, its SeparableConv1D rewrite builds a Lambda layer that
tf_keras refuses to load in safe mode, and TFLite's optimised kernels are the 2-D ones. `Grid` carries
that single decision through a builder, so family code reads the same for both input kinds.
Also `make_divisible`, the channel rounding of MobileNet V2 and EfficientNet (multiples of 8, never
below 90 % of the request).
"""

from __future__ import annotations

from dataclasses import dataclass

from prognos.edge_runtime.errors import ConfigError
from prognos.models.kerasapi import keras

L = keras.layers


@dataclass(frozen=True)
class Grid:
    """How a square kernel/stride of the lecture maps onto the lifted input."""

    one_d: bool

    def size(self, k: int) -> tuple:
        return (1, k) if self.one_d else (k, k)


def lift(inputs, name: str = "as_image"):
    """(T, C) -> (1, T, C) with a 1-D Grid; an (F, T, C) input passes unchanged with a 2-D Grid."""
    rank = len(inputs.shape) - 1
    if rank == 2:
        return L.Reshape((1, -1, inputs.shape[-1]), name=name)(inputs), Grid(one_d=True)
    if rank == 3:
        return inputs, Grid(one_d=False)
    raise ConfigError(f"conv models take (T, C) windows or (F, T, C) spectrograms; got {tuple(inputs.shape[1:])}")


def lower(x, input_shape, name: str = "as_window"):
    """Undo `lift` for a decoder output: back to `input_shape` (a no-op reshape for 2-D inputs)."""
    return L.Reshape(tuple(input_shape), name=name)(x)


def activation(x, act, name=None):
    """None: linear; "relu6": ReLU capped at 6 (MobileNet); "leaky_relu": slope 0.2 below 0 (GAN
    critics); else a Keras activation name."""
    if act is None:
        return x
    if act == "relu6":
        return L.ReLU(6.0, name=name)(x)
    if act == "leaky_relu":
        return L.LeakyReLU(0.2, name=name)(x)
    return L.Activation(act, name=name)(x)


def _names(name, *parts):
    return [f"{name}_{p}" if name else None for p in parts]


def conv_bn(x, grid, filters, k, stride=1, act="relu", bn=True, name=None):
    """Conv (k, stride on the Grid) -> BatchNorm -> activation; the conv has a bias only without BN."""
    n_conv, n_bn, n_act = _names(name, "conv", "bn", "act")
    x = L.Conv2D(filters, grid.size(k), grid.size(stride), padding="same", use_bias=not bn, name=n_conv)(x)
    if bn:
        x = L.BatchNormalization(name=n_bn)(x)
    return activation(x, act, n_act)


def depthwise_bn(x, grid, k, stride=1, act="relu", name=None):
    """Depthwise conv (one k-kernel per channel) -> BatchNorm -> activation."""
    n_conv, n_bn, n_act = _names(name, "dw", "dw_bn", "dw_act")
    x = L.DepthwiseConv2D(grid.size(k), grid.size(stride), padding="same", use_bias=False, name=n_conv)(x)
    x = L.BatchNormalization(name=n_bn)(x)
    return activation(x, act, n_act)


def upconv_bn(x, grid, filters, k, stride=2, act="relu", bn=True, name=None):
    """Transposed conv that multiplies the spatial size by `stride` (decoders, generators)."""
    n_conv, n_bn, n_act = _names(name, "upconv", "bn", "act")
    x = L.Conv2DTranspose(filters, grid.size(k), grid.size(stride), padding="same", use_bias=not bn, name=n_conv)(x)
    if bn:
        x = L.BatchNormalization(name=n_bn)(x)
    return activation(x, act, n_act)


POOLS = {"max": L.MaxPooling2D, "avg": L.AveragePooling2D}


def pool(x, grid, kind="max", size=2, stride=None, name=None):
    """Max or average pooling with window `size` and `stride` (default: `size`) on the Grid."""
    if kind not in POOLS:
        raise ConfigError(f"pool {kind!r}; expected one of {sorted(POOLS)}")
    return POOLS[kind](grid.size(size), grid.size(stride or size), padding="same", name=name)(x)


def global_pool(x, name="global_pool"):
    return L.GlobalAveragePooling2D(name=name)(x)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of `divisor`, never below 90 % of `value` (MobileNet V2, EfficientNet)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def check_divisible(shape, factor: int, what: str):
    """Raise unless every spatial axis of an input `shape` (without channels) is divisible by `factor`."""
    spatial = tuple(shape[:-1])
    if any(s is None or s % factor for s in spatial):
        raise ConfigError(f"{what} needs spatial sizes divisible by {factor}; got input shape {tuple(shape)}")
