"""Autoencoders (Hinton & Salakhutdinov 2006) and their anomaly score.

An encoder f maps a window x to a short code z = f(x), a decoder g reconstructs x̂ = g(z), and
training minimises the reconstruction error L = mean((x − x̂)²). Trained on healthy windows only,
the per-window error score(x) = mean((x − x̂)²) stays low for normal behaviour and rises for windows
unlike anything seen in training: the anomaly score (`anomaly_score`).
- dense: flatten -> dense encoder -> code -> mirrored dense decoder -> reshape.
- conv: strided 2-D convs (see `models.conv`) down, transposed convs back up.
"""

import numpy as np

from prognos.edge_runtime.dsp import reconstruction_mse  # the device computes the score with the same numpy code
from prognos.models.conv import check_divisible, conv_bn, lift, lower, upconv_bn
from prognos.models.kerasapi import keras
from prognos.models.registry import register_model

L = keras.layers


@register_model("dense_ae", tasks=("reconstruct",), dims=(0, 1, 2), full=True)
def dense_ae(input_shape, task, n_outputs, batch_size=None, widths=(64,), code=8, activation="relu"):
    """Dense autoencoder: widths -> linear code -> reversed widths -> linear reconstruction."""
    inputs = keras.Input(input_shape, batch_size=batch_size, name="window")
    x = L.Flatten(name="flatten")(inputs)
    for i, w in enumerate(widths):
        x = L.Dense(w, activation=activation, name=f"enc_{i}")(x)
    x = L.Dense(code, name="code")(x)
    for i, w in enumerate(reversed(widths)):
        x = L.Dense(w, activation=activation, name=f"dec_{i}")(x)
    x = L.Dense(int(np.prod(input_shape)), name="reconstruction")(x)
    return keras.Model(inputs, L.Reshape(input_shape, name="as_input")(x), name="dense_ae")


@register_model("conv_ae", tasks=("reconstruct",), dims=(1, 2), full=True)
def conv_ae(input_shape, task, n_outputs, batch_size=None, filters=(16, 32), kernel=3):
    """Conv autoencoder: stride-2 convs per `filters`, transposed convs back, linear 1×1 to channels."""
    check_divisible(input_shape, 2 ** len(filters), "conv_ae")
    inputs = keras.Input(input_shape, batch_size=batch_size, name="window")
    x, grid = lift(inputs)
    for i, f in enumerate(filters):
        x = conv_bn(x, grid, f, kernel, 2, name=f"enc{i + 1}")
    for i, f in enumerate(reversed(filters)):
        x = upconv_bn(x, grid, f, kernel, 2, name=f"dec{i + 1}")
    x = L.Conv2D(input_shape[-1], 1, name="reconstruction")(x)
    return keras.Model(inputs, lower(x, input_shape), name="conv_ae")


def anomaly_score(model, windows: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Reconstruction MSE of each window under a trained autoencoder (higher = more anomalous)."""
    return reconstruction_mse(windows, model.predict(windows, batch_size=batch_size, verbose=0))
