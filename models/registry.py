"""One registry of model builders (the timm `register_model` / `create_model` / `list_models` pattern).

A backbone builder maps an input tensor to a feature tensor; `create_model` attaches the task head,
so any backbone pairs with any task it declares. Families register on import of `models`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edge_runtime.errors import ConfigError

_REGISTRY: dict[str, "Entry"] = {}


@dataclass(frozen=True)
class Entry:
    name: str
    builder: Callable
    tasks: tuple
    doc: str


def register_model(name: str, tasks=("rul", "classify")):
    """Decorator: register a backbone builder `fn(inputs, **hparams) -> features` under `name`."""

    def wrap(fn):
        if name in _REGISTRY:
            raise ConfigError(f"model {name!r} is registered twice ({_REGISTRY[name].builder.__module__} "
                              f"and {fn.__module__})")
        _REGISTRY[name] = Entry(name, fn, tuple(tasks), (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return wrap


def list_models(task: str | None = None) -> list[str]:
    return sorted(n for n, e in _REGISTRY.items() if task is None or task in e.tasks)


def get_entry(name: str) -> Entry:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(name: str, input_shape, task: str = "rul", n_outputs: int = 1,
                 batch_size: int | None = None, **hparams):
    """Build a functional tf_keras model: Input(input_shape) -> backbone `name` -> `task` head."""
    from models import heads
    from models.kerasapi import keras

    entry = get_entry(name)
    if task not in entry.tasks:
        raise ConfigError(f"model {name!r} supports tasks {entry.tasks}, not {task!r}")
    inputs = keras.Input(tuple(input_shape), batch_size=batch_size, name="window")
    try:
        features = entry.builder(inputs, **hparams)
    except TypeError as e:
        raise ConfigError(f"model {name!r}: bad hyper-parameters {hparams}: {e}") from None
    return keras.Model(inputs, heads.attach(task, features, n_outputs), name=name)
