"""MobileNets: V1 depthwise-separable convolutions and V2 inverted residuals, variants as tables.

V1 (Howard et al. 2017): a standard D_K×D_K conv from M to N channels costs D_K²·M·N weights; the
depthwise-separable pair (one D_K×D_K filter per input channel, then a 1×1 pointwise conv to N)
costs D_K²·M + M·N, a ratio of 1/N + 1/D_K² (eq. 5). The width multiplier α thins every layer
(M -> αM, N -> αN). On a 1-D window the kernel is (1, k), and the ratio becomes 1/N + 1/k.
V2 (Sandler et al. 2018): inverted residual with linear bottleneck: 1×1 expand by t (ReLU6) ->
3×3 depthwise (ReLU6) -> 1×1 linear projection, with y = x + F(x) when stride 1 and widths match.
Default α = 0.25 sizes the paper's tables for sensor windows.
"""

from prognos.models.conv import conv_bn, depthwise_bn, global_pool, lift, make_divisible
from prognos.models.kerasapi import keras
from prognos.models.registry import register_model

# V1 Table 1 after the stem: (pointwise filters, depthwise stride).
MOBILENET_V1 = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)
# V2 Table 2 after the stem: (expansion t, output channels c, repeats n, first stride s).
MOBILENET_V2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def depthwise_separable(x, grid, filters, k=3, stride=1, name=None):
    """V1 block: depthwise k-conv (BN, ReLU) -> 1×1 pointwise conv to `filters` (BN, ReLU)."""
    x = depthwise_bn(x, grid, k, stride, name=name)
    return conv_bn(x, grid, filters, 1, name=f"{name}_pw" if name else None)


def inverted_residual(x, grid, expansion, filters, stride, name):
    """V2 block: expand (ReLU6) -> depthwise 3 (ReLU6) -> linear project, residual if shapes match."""
    width = x.shape[-1]
    y = x if expansion == 1 else conv_bn(x, grid, width * expansion, 1, act="relu6", name=f"{name}_expand")
    y = depthwise_bn(y, grid, 3, stride, act="relu6", name=name)
    y = conv_bn(y, grid, filters, 1, act=None, name=f"{name}_project")
    if stride == 1 and width == filters:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


@register_model("mobilenet_v1", dims=(1, 2), preset={"table": MOBILENET_V1})
def mobilenet_v1(inputs, table, alpha=0.25, stem=32):
    """MobileNet V1: stride-2 stem conv, depthwise-separable blocks of `table` at width α."""
    x, grid = lift(inputs)
    x = conv_bn(x, grid, make_divisible(stem * alpha), 3, 2, name="stem")
    for i, (filters, stride) in enumerate(table):
        x = depthwise_separable(x, grid, make_divisible(filters * alpha), 3, stride, name=f"block{i + 1}")
    return global_pool(x)


@register_model("mobilenet_v2", dims=(1, 2), preset={"table": MOBILENET_V2})
def mobilenet_v2(inputs, table, alpha=0.25, stem=32, last=1280):
    """MobileNet V2: stem, inverted-residual stages of `table` at width α, 1×1 conv to `last`."""
    x, grid = lift(inputs)
    x = conv_bn(x, grid, make_divisible(stem * alpha), 3, 2, act="relu6", name="stem")
    block = 0
    for t, c, n, s in table:
        for r in range(n):
            block += 1
            x = inverted_residual(x, grid, t, make_divisible(c * alpha), s if r == 0 else 1, f"block{block}")
    last = make_divisible(last * alpha) if alpha > 1.0 else last  # the paper keeps 1280 for α <= 1
    x = conv_bn(x, grid, last, 1, act="relu6", name="head")
    return global_pool(x)
