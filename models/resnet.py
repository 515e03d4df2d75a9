"""Residual networks (He et al. 2016, "Deep Residual Learning"): a block outputs y = ReLU(F(x) + x).

F learns the residual: an identity mapping is F = 0, so depth cannot hurt by construction and
gradients reach early layers through the shortcut. When a block changes width or stride the
shortcut is a 1×1 projection W_s·x (option B).
- basic block: 3×3 conv -> 3×3 conv (ResNet-18/34 and the CIFAR ResNets of §4.2, depth 6n + 2)
- bottleneck block: 1×1 reduce -> 3×3 -> 1×1 expand ×4 (ResNet-50+, depth 9n + 2 in three stages)
Variants are rows of `RESNETS`; stage widths are sensor-sized (the CIFAR nets' 16/32/64).
"""

from dataclasses import dataclass

from prognos.edge_runtime.errors import ConfigError
from prognos.models.conv import conv_bn, global_pool, lift
from prognos.models.kerasapi import keras
from prognos.models.registry import register_model


@dataclass(frozen=True)
class ResNetSpec:
    block: str  # "basic" or "bottleneck"
    repeats: tuple  # blocks per stage; every stage after the first halves the length
    widths: tuple  # per-stage width (the bottleneck's inner width; it outputs 4× that)
    stem: int = 16

    @property
    def depth(self) -> int:
        """Weighted layers: stem + convs per block × blocks + classifier."""
        return 2 + (2 if self.block == "basic" else 3) * sum(self.repeats)


RESNETS = {
    "resnet8": ResNetSpec("basic", (1, 1, 1), (16, 32, 64)),
    "resnet14": ResNetSpec("basic", (2, 2, 2), (16, 32, 64)),
    "resnet11b": ResNetSpec("bottleneck", (1, 1, 1), (8, 16, 32)),
}
EXPANSION = 4  # bottleneck output width / inner width


def _shortcut(x, grid, out, stride, name):
    if stride == 1 and x.shape[-1] == out:
        return x
    return conv_bn(x, grid, out, 1, stride, act=None, name=f"{name}_proj")


def _merge(y, shortcut, name):
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def basic_block(x, grid, width, stride, name):
    """y = ReLU(BN(conv3(ReLU(BN(conv3(x))))) + shortcut(x))."""
    y = conv_bn(x, grid, width, 3, stride, name=f"{name}_a")
    y = conv_bn(y, grid, width, 3, act=None, name=f"{name}_b")
    return _merge(y, _shortcut(x, grid, width, stride, name), name)


def bottleneck_block(x, grid, width, stride, name):
    """1×1 to `width`, 3×3 (strided), 1×1 to 4·width, plus the shortcut."""
    y = conv_bn(x, grid, width, 1, name=f"{name}_a")
    y = conv_bn(y, grid, width, 3, stride, name=f"{name}_b")
    y = conv_bn(y, grid, width * EXPANSION, 1, act=None, name=f"{name}_c")
    return _merge(y, _shortcut(x, grid, width * EXPANSION, stride, name), name)


BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}


def resnet(inputs, spec: ResNetSpec):
    """ResNet of `spec`: stem conv -> stages of residual blocks -> global average pool."""
    if spec.block not in BLOCKS or len(spec.repeats) != len(spec.widths):
        raise ConfigError(f"bad ResNet spec {spec}; block in {sorted(BLOCKS)}, one width per stage")
    x, grid = lift(inputs)
    x = conv_bn(x, grid, spec.stem, 3, name="stem")
    for s, (n, width) in enumerate(zip(spec.repeats, spec.widths)):
        for b in range(n):
            stride = 2 if s > 0 and b == 0 else 1
            x = BLOCKS[spec.block](x, grid, width, stride, name=f"stage{s + 1}_block{b + 1}")
    return global_pool(x)


for _name, _spec in RESNETS.items():
    register_model(_name, dims=(1, 2), preset={"spec": _spec})(resnet)
