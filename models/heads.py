"""Task heads, separate from backbones (the keras-hub backbone/task split).

rul: one linear unit predicting RUL / rul_cap (the bundle's postprocessing scales it back to cycles).
classify: softmax over `n_outputs` classes.
Both output layers are float32 whatever the global dtype policy: under mixed precision the backbone
computes in float16/bfloat16 but the output (and so the loss and the softmax) stays float32, as the
Keras mixed-precision guide requires for numerical stability (Micikevicius et al. 2018).
"""
from edge_runtime.errors import ConfigError
from models.kerasapi import keras


def attach(task: str, features, n_outputs: int):
    if task == "rul":
        return keras.layers.Dense(n_outputs, name="rul", dtype="float32")(features)
    if task == "classify":
        if n_outputs < 2:
            raise ConfigError(f"classify head needs n_outputs >= 2 classes, got {n_outputs}")
        return keras.layers.Dense(n_outputs, activation="softmax", name="classes", dtype="float32")(features)
    raise ConfigError(f"unknown task {task!r}; expected 'rul' or 'classify'")
