"""Recurrent backbones: LSTM (Hochreiter & Schmidhuber 1997), as used for C-MAPSS RUL by Zheng et al. 2017.

Gates of the lecture: f = σ(W_f[h,x]+b_f), i = σ(W_i[h,x]+b_i), o = σ(W_o[h,x]+b_o),
c' = f⊙c + i⊙tanh(W_c[h,x]+b_c), h' = o⊙tanh(c').
"""
from models.kerasapi import keras
from models.registry import register_model


@register_model("lstm")
def lstm(inputs, units=(64,), dense=32, dropout=0.1, unroll=False):
    """Stacked LSTM -> dense: the skeleton's RUL regressor."""
    x = inputs
    for i, n in enumerate(units):
        x = keras.layers.LSTM(n, return_sequences=i < len(units) - 1, unroll=unroll, name=f"lstm_{i}")(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    if dense:
        x = keras.layers.Dense(dense, activation="relu", name="dense")(x)
    return x
