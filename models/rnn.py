"""Recurrent backbones over (T, C) windows; stacked layers, `unroll` passed through to Keras.

- SimpleRNN (Elman 1990): h' = tanh(W x + U h + b).
- LSTM (Hochreiter & Schmidhuber 1997), as used for C-MAPSS RUL by Zheng et al. 2017:
  f = σ(W_f[h,x]+b_f), i = σ(W_i[h,x]+b_i), o = σ(W_o[h,x]+b_o),
  c' = f⊙c + i⊙tanh(W_c[h,x]+b_c), h' = o⊙tanh(c').
- GRU (Cho et al. 2014): z = σ(W_z[h,x]), r = σ(W_r[h,x]), h̃ = tanh(W x + U(r⊙h)),
  h' = z⊙h + (1-z)⊙h̃.
- CNN-LSTM: a conv front end extracts local features and shortens the sequence, the LSTM models
  the longer-range dynamics (e.g. Mo et al. 2021 for RUL).
"""

from prognos.models.conv import conv_bn, lift, pool
from prognos.models.kerasapi import keras
from prognos.models.registry import register_model

CELLS = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def stacked(x, kind, units, dense, dropout, unroll):
    """`len(units)` recurrent layers of `kind` (the last returns its final state) -> dropout -> dense."""
    for i, n in enumerate(units):
        x = CELLS[kind](n, return_sequences=i < len(units) - 1, unroll=unroll, name=f"{kind}_{i}")(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    if dense:
        x = keras.layers.Dense(dense, activation="relu", name="dense")(x)
    return x


@register_model("lstm")
def lstm(inputs, units=(64,), dense=32, dropout=0.1, unroll=False):
    """Stacked LSTM -> dense: the skeleton's RUL regressor."""
    return stacked(inputs, "lstm", units, dense, dropout, unroll)


@register_model("gru")
def gru(inputs, units=(64,), dense=32, dropout=0.1, unroll=False):
    """Stacked GRU -> dense."""
    return stacked(inputs, "gru", units, dense, dropout, unroll)


@register_model("simple_rnn")
def simple_rnn(inputs, units=(64,), dense=32, dropout=0.1, unroll=False):
    """Stacked Elman RNN -> dense."""
    return stacked(inputs, "simple_rnn", units, dense, dropout, unroll)


@register_model("cnn_lstm")
def cnn_lstm(inputs, filters=(32, 32), kernel=3, pool_size=2, units=(64,), dense=32, dropout=0.1, unroll=False):
    """(conv -> max pool) per `filters` over time, then stacked LSTM -> dense."""
    x, grid = lift(inputs)
    for i, f in enumerate(filters):
        x = conv_bn(x, grid, f, kernel, name=f"conv{i + 1}")
        x = pool(x, grid, "max", pool_size, name=f"pool{i + 1}")
    x = keras.layers.Reshape((-1, filters[-1]), name="as_sequence")(x)
    return stacked(x, "lstm", units, dense, dropout, unroll)
