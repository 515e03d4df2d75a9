"""Multi-layer perceptron (Rumelhart, Hinton & Williams 1986): h_l = φ(W_l h_{l-1} + b_l), trained by backprop.

φ is selectable: sigmoid σ(a) = 1/(1+e^-a), tanh, or ReLU max(0, a). One hidden layer already
separates XOR, which no single perceptron can (the universal approximation theorem, Cybenko 1989).
"""

from prognos.edge_runtime.errors import ConfigError
from prognos.models.kerasapi import keras
from prognos.models.registry import register_model

ACTIVATIONS = ("sigmoid", "tanh", "relu")


@register_model("mlp", dims=(0, 1, 2))
def mlp(inputs, widths=(64, 32), activation="relu", dropout=0.0):
    """Flatten -> fully connected hidden layers of `widths` with activation φ."""
    if activation not in ACTIVATIONS:
        raise ConfigError(f"mlp activation {activation!r}; expected one of {ACTIVATIONS}")
    if not widths:
        raise ConfigError("mlp widths must list at least one hidden layer width")
    return dense_stack(inputs, widths, activation, dropout, "hidden")


def dense_stack(x, widths, activation, dropout, name):
    """Flatten, then Dense(width, φ) [+ Dropout] per width: the MLP, and the classifier of the CNNs."""
    x = keras.layers.Flatten(name="flatten")(x)
    for i, width in enumerate(widths):
        x = keras.layers.Dense(width, activation=activation, name=f"{name}_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_{i}_dropout")(x)
    return x
