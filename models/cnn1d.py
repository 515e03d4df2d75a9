"""A minimal 1-D convolutional backbone (temporal convolutions over the sensor window, in the spirit
of Babu et al. 2016 and Li et al. 2018 for C-MAPSS RUL).

A true Conv1D network (the zoo's other conv families use height-1 Conv2D); the compression suite's
Conv1D QAT path (export.qat) is tested on it. Conv1D + ReLU blocks -> global average pooling over
time -> dense.
"""
from models.kerasapi import keras
from models.registry import register_model


@register_model("cnn1d")
def cnn1d(inputs, filters=(32, 32), kernel_size=5, dense=32, dropout=0.1):
    """Stacked Conv1D + ReLU -> global average pooling -> dense."""
    x = inputs
    for i, n in enumerate(filters):
        x = keras.layers.Conv1D(n, kernel_size, padding="same", activation="relu", name=f"conv_{i}")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    if dense:
        x = keras.layers.Dense(dense, activation="relu", name="dense")(x)
    return x
