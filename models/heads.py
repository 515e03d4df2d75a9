"""Task heads, separate from backbones (the keras-hub backbone/task split), and the table of tasks.

rul: one linear unit predicting RUL / rul_cap (the bundle's postprocessing scales it back to cycles).
classify: softmax over `n_outputs` classes.
Both output layers are float32 whatever the global dtype policy: under mixed precision the backbone
computes in float16/bfloat16 but the output (and so the loss and the softmax) stays float32, as the
Keras mixed-precision guide requires for numerical stability (Micikevicius et al. 2018).
The other tasks have no head that fits every backbone; their models are full-model builders
(autoencoders, VAE, GAN, perceptron) registered with `register_model(..., full=True)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from prognos.edge_runtime.errors import ConfigError
from prognos.models.kerasapi import keras


@dataclass(frozen=True)
class Task:
    output: str  # the output contract every model of the task keeps
    loss: str | None  # the Keras loss to compile with; None: the model trains its own objective
    head: bool  # True: `attach` puts this task on any backbone


TASKS = {
    "rul": Task("(batch, n_outputs) linear: RUL / rul_cap", "mse", True),
    "classify": Task("(batch, n_outputs) softmax class probabilities", "sparse_categorical_crossentropy", True),
    "binary": Task("(batch, 1) decision in {-1, +1} of a linear threshold unit", None, False),
    "reconstruct": Task("(batch, *input_shape): the input reconstructed; n_outputs unused", "mse", False),
    "generate": Task("(batch, *input_shape) windows from latent noise; n_outputs unused", None, False),
}


def attach(task: str, features, n_outputs: int):
    if task == "rul":
        return keras.layers.Dense(n_outputs, name="rul", dtype="float32")(features)
    if task == "classify":
        if n_outputs < 2:
            raise ConfigError(f"classify head needs n_outputs >= 2 classes, got {n_outputs}")
        return keras.layers.Dense(n_outputs, activation="softmax", name="classes", dtype="float32")(features)
    heads = [t for t, spec in TASKS.items() if spec.head]
    raise ConfigError(f"task {task!r} has no head for a backbone; expected one of {heads}")
