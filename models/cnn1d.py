"""A minimal 1-D convolutional backbone (temporal convolutions over the sensor window, in the spirit
of Babu et al. 2016 and Li et al. 2018 for C-MAPSS RUL).

A true Conv1D network (the zoo's other conv families use height-1 Conv2D); the compression suite's
Conv1D QAT path (export.qat) is tested on it. Conv1D blocks -> `head` -> dense:
- head "avg": global average pooling over time (position-free features, few weights);
- head "flatten": keep every time step, as Li et al. 2018 ("Remaining useful life estimation in
  prognostics using deep convolution neural networks"): 4 zero-padded Conv1D(10, kernel 10, tanh),
  a Conv1D(1, kernel 3), flatten, dropout 0.5, dense 100 tanh. Averaging over time throws away
  *where* in the window the degradation shows, which is most of the RUL signal.
"""

from prognos.edge_runtime.errors import ConfigError
from prognos.models.kerasapi import keras
from prognos.models.registry import register_model

L = keras.layers


@register_model("cnn1d")
def cnn1d(inputs, filters=(32, 32), kernel_size=5, dense=32, dropout=0.1, activation="relu", head="avg"):
    """Stacked zero-padded Conv1D -> global average pooling or flatten -> dense.

    `kernel_size` is one int for every layer or one per layer (Li 2018: [10, 10, 10, 10, 3]).
    """
    kernels = [kernel_size] * len(filters) if isinstance(kernel_size, int) else list(kernel_size)
    if len(kernels) != len(filters):
        raise ConfigError(f"cnn1d kernel_size {kernel_size}: expected one int or {len(filters)} values")
    if head not in ("avg", "flatten"):
        raise ConfigError(f"cnn1d head {head!r}; expected 'avg' or 'flatten'")
    x = inputs
    for i, (n, k) in enumerate(zip(filters, kernels)):
        x = L.Conv1D(n, k, padding="same", activation=activation, name=f"conv_{i}")(x)
    x = L.GlobalAveragePooling1D(name="pool")(x) if head == "avg" else L.Flatten(name="flatten")(x)
    if dropout:
        x = L.Dropout(dropout)(x)
    if dense:
        x = L.Dense(dense, activation=activation, name="dense")(x)
    return x
