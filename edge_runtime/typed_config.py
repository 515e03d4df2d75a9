"""Typed filling of config dataclasses from TOML tables: unknown keys and values of the wrong type are refused
with a message naming the key, the value and the expected type (`epochs = "40"` is not silently a string).

Used by the device service config (edge_runtime.config) and the training run config (pipeline.config).
"""
from __future__ import annotations

from dataclasses import fields

from prognos.edge_runtime.errors import ConfigError

_TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool, "list": list, "dict": dict,
          "None": type(None)}


def type_ok(value, annotation: str) -> bool:
    """`value` fits the dataclass field annotation (a string: "int", "float | None", "list", ...)."""
    for name in annotation.replace(" ", "").split("|"):
        kind = _TYPES.get(name.split("[")[0])
        if kind is None:
            return True  # an annotation this check does not know: left to the dataclass
        if isinstance(value, kind) and not (isinstance(value, bool) and name != "bool"):
            return True
    return False


def fill(cls, values, where: str, skip=()):
    """`cls(**values)` with unknown keys and values of the wrong type refused, naming key, value and type."""
    if not isinstance(values, dict):
        raise ConfigError(f"config [{where}]: expected a table, got {values!r}")
    kinds = {f.name: f.type for f in fields(cls) if f.name not in skip}
    unknown = set(values) - set(kinds)
    if unknown:
        raise ConfigError(f"config [{where}]: unknown keys {sorted(unknown)}; expected {sorted(kinds)}")
    for key, value in values.items():
        if not type_ok(value, str(kinds[key])):
            raise ConfigError(f"config [{where}]: {key} = {value!r} is a {type(value).__name__}; "
                              f"expected {kinds[key]}")
    try:
        return cls(**values)
    except TypeError as e:
        raise ConfigError(f"config [{where}]: {e}") from None
