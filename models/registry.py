"""One registry of model builders (the timm `register_model` / `create_model` / `list_models` pattern).

Two kinds of entry share the registry. A backbone builder maps an input tensor to a feature tensor
and `create_model` attaches the task head, so any backbone pairs with any head task it declares. A
full-model builder (`full=True`) returns the whole model where a backbone/head split does not apply
(autoencoders, VAE, GAN, perceptron). A variant is one builder registered again with `preset`
hyper-parameters (a table row), never a copy of the network. Families register on import of `models`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from prognos.edge_runtime.errors import ConfigError

_REGISTRY: dict[str, "Entry"] = {}
# Input kinds, by the number of axes before channels: flat vector, window, spectrogram.
DIMS = {0: "(C,) vectors", 1: "(T, C) windows", 2: "(F, T, C) spectrograms"}


@dataclass(frozen=True)
class Entry:
    name: str
    builder: Callable
    tasks: tuple
    dims: tuple
    full: bool
    doc: str
    preset: dict = field(default_factory=dict)


def register_model(name: str, tasks=("rul", "classify"), dims=(1,), full: bool = False, preset=None):
    """Decorator: register `fn` under `name`.

    Backbone (`full=False`): `fn(inputs, **hparams) -> features`; a head from `models.heads` is attached.
    Full model (`full=True`): `fn(input_shape, task, n_outputs, batch_size, **hparams) -> keras.Model`.
    `dims` lists the input kinds the builder accepts (keys of `DIMS`); `preset` fixes hyper-parameters
    for a variant (e.g. one row of a block table).
    """
    from prognos.models.heads import TASKS

    def wrap(fn):
        if name in _REGISTRY:
            raise ConfigError(
                f"model {name!r} is registered twice ({_REGISTRY[name].builder.__module__} and {fn.__module__})"
            )
        bad = [t for t in tasks if t not in TASKS or not (full or TASKS[t].head)]
        if bad:
            raise ConfigError(
                f"model {name!r}: tasks {bad} need {'a known task' if full else 'a head'}; tasks: {sorted(TASKS)}"
            )
        doc = (fn.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = Entry(name, fn, tuple(tasks), tuple(dims), full, doc, dict(preset or {}))
        return fn

    return wrap


def list_models(task: str | None = None) -> list[str]:
    return sorted(n for n, e in _REGISTRY.items() if task is None or task in e.tasks)


def get_entry(name: str) -> Entry:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(
    name: str, input_shape, task: str = "rul", n_outputs: int = 1, batch_size: int | None = None, **hparams
):
    """Build model `name` for `task` on inputs of `input_shape` (without the batch axis)."""
    from prognos.models import heads
    from prognos.models.kerasapi import keras

    entry = get_entry(name)
    if task not in entry.tasks:
        raise ConfigError(f"model {name!r} supports tasks {entry.tasks}, not {task!r}")
    shape = tuple(input_shape)
    if len(shape) - 1 not in entry.dims:
        kinds = ", ".join(DIMS[d] for d in entry.dims)
        raise ConfigError(f"model {name!r} takes {kinds}; got input shape {shape}")
    kwargs = {**entry.preset, **_checked(entry, hparams)}
    if entry.full:
        return entry.builder(shape, task=task, n_outputs=n_outputs, batch_size=batch_size, **kwargs)
    inputs = keras.Input(shape, batch_size=batch_size, name="window")
    features = entry.builder(inputs, **kwargs)
    return keras.Model(inputs, heads.attach(task, features, n_outputs), name=name)


def hparams_of(name: str) -> dict:
    """The tunable hyper-parameters of model `name` with their defaults."""
    entry = get_entry(name)
    params = list(inspect.signature(entry.builder).parameters.values())
    fixed = 4 if entry.full else 1  # (input_shape, task, n_outputs, batch_size) or (inputs,)
    return {p.name: p.default for p in params[fixed:] if p.name not in entry.preset}


def _checked(entry: Entry, hparams: dict) -> dict:
    allowed = hparams_of(entry.name)
    unknown = sorted(set(hparams) - set(allowed))
    if unknown:
        raise ConfigError(f"model {entry.name!r}: unknown hyper-parameters {unknown}; accepted: {sorted(allowed)}")
    return hparams


def deployables(model) -> dict:
    """The functional models a device runs: a zoo Model subclass names its own, else the model itself."""
    own = getattr(model, "deployable_models", None)
    return own() if callable(own) else {model.name: model}
