"""Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words") for sensor data.

  z₀ = [x_class; x_p¹E; …; x_pᴺE] + E_pos       (eq. 1: patch embedding, class token, positions)
  z'_ℓ = MSA(LN(z_{ℓ-1})) + z_{ℓ-1}              (eq. 2)
  z_ℓ = MLP(LN(z'_ℓ)) + z'_ℓ                      (eq. 3, MLP = dense GELU dense)
  y = LN(z_L⁰)                                    (eq. 4: the class token's final state)
MSA is multi-head scaled dot-product attention softmax(QKᵀ/√d_k)·V (Vaswani et al. 2017).
Patches: a (T, C) window is cut into T/p time patches, an (F, T, C) spectrogram into p×p tiles;
the linear projection E is a conv with kernel = stride = patch (on the (1, T, C) image for windows).
"""

from prognos.edge_runtime.errors import ConfigError
from prognos.models.conv import check_divisible, lift
from prognos.models.kerasapi import keras, tf
from prognos.models.registry import register_model

L = keras.layers


@keras.utils.register_keras_serializable(package="prognos")
def gelu_tanh(x):
    """GELU in its tanh form (Hendrycks & Gimpel 2016, eq. 2). The exact form lowers to Erfc, which
    tf2onnx 1.17 cannot express in ONNX (opset 17 has no Erfc); the two differ by < 1e-3."""
    return keras.activations.gelu(x, approximate=True)


@keras.utils.register_keras_serializable(package="prognos")
class ClassToken(L.Layer):
    """Prepends one learned token x_class (initialised to zeros) to the patch sequence."""

    def build(self, input_shape):
        self.token = self.add_weight(name="token", shape=(1, 1, input_shape[-1]), initializer="zeros")
        super().build(input_shape)

    def call(self, x):
        token = tf.tile(tf.cast(self.token, x.dtype), [tf.shape(x)[0], 1, 1])
        return tf.concat([token, x], axis=1)


@keras.utils.register_keras_serializable(package="prognos")
class PositionEmbedding(L.Layer):
    """Adds a learned embedding E_pos, one vector per sequence position."""

    def __init__(self, stddev=0.02, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev

    def build(self, input_shape):
        init = keras.initializers.RandomNormal(stddev=self.stddev)
        self.positions = self.add_weight(name="positions", shape=(1, *input_shape[1:]), initializer=init)
        super().build(input_shape)

    def call(self, x):
        return x + tf.cast(self.positions, x.dtype)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


@keras.utils.register_keras_serializable(package="prognos")
class TakeToken(L.Layer):
    """Selects the sequence position `index` (0: the class token): (B, N, D) -> (B, D)."""

    def __init__(self, index=0, **kwargs):
        super().__init__(**kwargs)
        self.index = index

    def call(self, x):
        return x[:, self.index]

    def get_config(self):
        return {**super().get_config(), "index": self.index}


def patch_embed(inputs, patch, dim):
    """Non-overlapping patches linearly projected to `dim`: (B, N, dim)."""
    check_divisible(inputs.shape[1:], patch, f"vit with patch {patch}")
    x, grid = lift(inputs)
    x = L.Conv2D(dim, grid.size(patch), grid.size(patch), name="patch_embed")(x)
    return L.Reshape((-1, dim), name="patches")(x)


def encoder_block(x, heads, mlp, dropout, name):
    """Pre-norm transformer block: eq. 2 then eq. 3."""
    dim = x.shape[-1]
    y = L.LayerNormalization(epsilon=1e-6, name=f"{name}_ln1")(x)
    y = L.MultiHeadAttention(heads, dim // heads, dropout=dropout, name=f"{name}_msa")(y, y)
    x = L.Add(name=f"{name}_res1")([x, y])
    y = L.LayerNormalization(epsilon=1e-6, name=f"{name}_ln2")(x)
    y = L.Dense(mlp, activation=gelu_tanh, name=f"{name}_mlp1")(y)
    y = L.Dense(dim, name=f"{name}_mlp2")(y)
    if dropout:
        y = L.Dropout(dropout, name=f"{name}_dropout")(y)
    return L.Add(name=f"{name}_res2")([x, y])


@register_model("vit", dims=(1, 2))
def vit(inputs, patch=4, dim=32, depth=2, heads=2, mlp=64, dropout=0.0):
    """ViT: patch embedding, class token, position embedding, `depth` MSA blocks, LN(class token)."""
    if dim % heads:
        raise ConfigError(f"vit dim {dim} must be divisible by heads {heads}")
    x = patch_embed(inputs, patch, dim)
    x = ClassToken(name="class_token")(x)
    x = PositionEmbedding(name="position_embedding")(x)
    for i in range(depth):
        x = encoder_block(x, heads, mlp, dropout, name=f"block{i + 1}")
    x = L.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
    return TakeToken(0, name="class_output")(x)
