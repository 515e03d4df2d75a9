"""EfficientNet (Tan & Le 2019): MBConv + squeeze-excitation, one base table, compound scaling.

Compound scaling (eq. 3): depth d = α^φ, width w = β^φ, resolution r = γ^φ with α = 1.2, β = 1.1,
γ = 1.15 (α·β²·γ² ≈ 2, so FLOPs grow about 2^φ). Every variant B_φ is arithmetic on the B0 table:
filters -> round_filters(f·w) (a multiple of 8, never below 90 %), repeats -> ceil(d·n).
Note: the published B1/B2 checkpoints use hand-picked (w, d) = (1.0, 1.1) / (1.1, 1.2); here B_φ
follows the rule literally. A sensor window has no fixed resolution, so r is reported
(`Scaling.resolution`, a window-length factor) and the network itself is length-agnostic.
MBConv (V2's inverted residual + SE of Hu et al. 2018, swish): 1×1 expand -> depthwise k ->
squeeze-excitation s = σ(W₂ swish(W₁ GAP(x))), x·s -> 1×1 linear projection, residual if shapes match.
`base_width` (default 1/4) sizes B0 itself for sensors through the same rounding.
"""

import math
from dataclasses import dataclass, replace

from prognos.models.conv import conv_bn, depthwise_bn, global_pool, lift, make_divisible
from prognos.models.kerasapi import keras
from prognos.models.registry import register_model

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15


@dataclass(frozen=True)
class MBConv:
    expand: int
    kernel: int
    stride: int
    filters: int
    repeats: int
    se_ratio: float = 0.25


# Table 1 of the paper (stages 2-8); stage 1 is the stem, stage 9 the head.
B0_BLOCKS = (
    MBConv(1, 3, 1, 16, 1),
    MBConv(6, 3, 2, 24, 2),
    MBConv(6, 5, 2, 40, 2),
    MBConv(6, 3, 2, 80, 3),
    MBConv(6, 5, 1, 112, 3),
    MBConv(6, 5, 2, 192, 4),
    MBConv(6, 3, 1, 320, 1),
)
B0_STEM, B0_HEAD = 32, 1280


@dataclass(frozen=True)
class Scaling:
    phi: float
    depth: float
    width: float
    resolution: float


def compound_scaling(phi: float) -> Scaling:
    """d = α^φ, w = β^φ, r = γ^φ."""
    return Scaling(phi, ALPHA**phi, BETA**phi, GAMMA**phi)


def round_filters(filters: int, width: float) -> int:
    return make_divisible(filters * width, 8)


def round_repeats(repeats: int, depth: float) -> int:
    return int(math.ceil(depth * repeats))


def scaled_blocks(phi: float, base_width: float = 1.0) -> tuple:
    """The B0 table scaled to B_φ (with `base_width` applied to every width as well)."""
    s = compound_scaling(phi)
    return tuple(
        replace(b, filters=round_filters(b.filters, base_width * s.width), repeats=round_repeats(b.repeats, s.depth))
        for b in B0_BLOCKS
    )


def squeeze_excite(x, squeeze: int, name: str):
    """Channel attention: x · σ(W₂ swish(W₁ GAP(x)))."""
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_squeeze")(x)
    s = keras.layers.Conv2D(squeeze, 1, activation="swish", name=f"{name}_se_reduce")(s)
    s = keras.layers.Conv2D(x.shape[-1], 1, activation="sigmoid", name=f"{name}_se_expand")(s)
    return keras.layers.Multiply(name=f"{name}_se_excite")([x, s])


def mbconv(x, grid, block: MBConv, stride: int, name: str):
    width = x.shape[-1]
    y = x if block.expand == 1 else conv_bn(x, grid, width * block.expand, 1, act="swish", name=f"{name}_expand")
    y = depthwise_bn(y, grid, block.kernel, stride, act="swish", name=name)
    y = squeeze_excite(y, max(1, int(width * block.se_ratio)), name)
    y = conv_bn(y, grid, block.filters, 1, act=None, name=f"{name}_project")
    if stride == 1 and width == block.filters:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


def efficientnet(inputs, phi, base_width=0.25, dropout=0.2):
    """EfficientNet-B_φ: stem, the scaled MBConv stages, 1×1 head conv, global pool, dropout."""
    width = base_width * compound_scaling(phi).width
    x, grid = lift(inputs)
    x = conv_bn(x, grid, round_filters(B0_STEM, width), 3, 2, act="swish", name="stem")
    for s, block in enumerate(scaled_blocks(phi, base_width)):
        for r in range(block.repeats):
            x = mbconv(x, grid, block, block.stride if r == 0 else 1, name=f"stage{s + 1}_block{r + 1}")
    x = conv_bn(x, grid, round_filters(B0_HEAD, width), 1, act="swish", name="head")
    x = global_pool(x)
    return keras.layers.Dropout(dropout, name="head_dropout")(x) if dropout else x


for _phi in range(3):
    register_model(f"efficientnet_b{_phi}", dims=(1, 2), preset={"phi": _phi})(efficientnet)
