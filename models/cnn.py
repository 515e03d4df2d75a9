"""Classic convolutional networks, scaled down for sensor windows and spectrograms.

A convolution layer computes y[i] = φ(Σ_k w[k]·x[i+k] + b): shared weights and local receptive
fields; pooling (max or average) downsamples. All convs are 2-D (see `models.conv`).
- LeNet-5 (LeCun et al. 1998): conv 5 -> subsample -> conv 5 -> subsample -> dense 120 -> 84, tanh.
- AlexNet (Krizhevsky, Sutskever & Hinton 2012): large strided first kernel, ReLU, overlapping
  max pooling (3, stride 2), three stacked 3-kernel convs, dropout 0.5 in the dense layers.
- VGG (Simonyan & Zisserman 2015): stages of stacked 3×3 convs (two 3×3 see what one 5×5 sees with
  fewer weights) followed by 2×2 max pooling.
`padding="same"` everywhere, so any window length works. Layer tables are data.
"""

from prognos.models.conv import conv_bn, lift, pool
from prognos.models.mlp import dense_stack
from prognos.models.registry import register_model

# (filters, kernel, stride, pool after): AlexNet's five conv layers at a quarter of its width.
ALEXNET_SENSOR = ((24, 7, 2, True), (64, 5, 1, True), (96, 3, 1, False), (96, 3, 1, False), (64, 3, 1, True))
# (convs per stage, filters): VGG-16 is ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)).
VGG16 = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
VGG_SENSOR = ((2, 16), (2, 32), (3, 64))  # VGG-16's first three stages at a quarter width


@register_model("lenet", dims=(1, 2))
def lenet(inputs, filters=(6, 16), kernel=5, pool_kind="avg", activation="tanh", dense=(120, 84)):
    """LeNet-5: (conv -> pool) × 2 -> dense; `pool_kind` "avg" (LeNet's subsampling) or "max"."""
    x, grid = lift(inputs)
    for i, f in enumerate(filters):
        x = conv_bn(x, grid, f, kernel, act=activation, bn=False, name=f"c{2 * i + 1}")
        x = pool(x, grid, pool_kind, 2, name=f"s{2 * i + 2}")
    return dense_stack(x, dense, activation, 0.0, "fc")


@register_model("alexnet", dims=(1, 2))
def alexnet(inputs, layers=ALEXNET_SENSOR, dense=(128, 128), dropout=0.5, pool_kind="max"):
    """AlexNet-style: strided first conv, ReLU, overlapping 3/2 pooling, dropout in the dense layers."""
    x, grid = lift(inputs)
    for i, (f, k, s, pooled) in enumerate(layers):
        x = conv_bn(x, grid, f, k, s, act="relu", bn=False, name=f"conv{i + 1}")
        if pooled:
            x = pool(x, grid, pool_kind, 3, 2, name=f"pool{i + 1}")
    return dense_stack(x, dense, "relu", dropout, "fc")


@register_model("vgg", dims=(1, 2))
def vgg(inputs, stages=VGG_SENSOR, dense=(64,), dropout=0.5, pool_kind="max", batch_norm=True):
    """VGG-style: per stage `n` stacked 3×3 convs (ReLU) then 2×2 pooling."""
    x, grid = lift(inputs)
    for s, (n, f) in enumerate(stages):
        for c in range(n):
            x = conv_bn(x, grid, f, 3, act="relu", bn=batch_norm, name=f"block{s + 1}_conv{c + 1}")
        x = pool(x, grid, pool_kind, 2, name=f"block{s + 1}_pool")
    return dense_stack(x, dense, "relu", dropout, "fc")
