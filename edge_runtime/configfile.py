"""The one config loader: TOML files and CLI overrides fill small typed dataclasses.

Every config of the project (run, vibration, device service) is a dataclass whose field annotations
are the schema: `fill` refuses unknown keys and values of the wrong type with the key, the value and
the expected type, and recurses into nested dataclass fields (TOML tables). A field whose metadata
has `toml=False` is set by the program, never by a file.

TOML is parsed here for the whole project: `tomllib` is in the standard library from Python 3.11;
on 3.10 (a supported device Python) the same parser is the `tomli` package, a prognos-edge
dependency only there (edge_runtime/pyproject.toml).
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path

from prognos.edge_runtime.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def load_toml(path) -> dict:
    """The parsed TOML file at `path`; a missing or malformed file is a ConfigError naming it."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; expected a TOML config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None


def toml_fields(cls) -> list:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("toml", True)]


def fill(cls, values, where: str = ""):
    """An instance of dataclass `cls` from the TOML table `values` (missing keys keep their defaults)."""
    where = where or cls.__name__
    if not isinstance(values, dict):
        raise ConfigError(f"config [{where}]: expected a table, got {values!r}")
    known = {f.name: f for f in toml_fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"config [{where}]: unknown keys {sorted(unknown)}; expected {sorted(known)}")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _value(hints[name], v, f"{where}.{name}") for name, v in values.items()}
    return cls(**kwargs)


def override(cfg, key: str, value) -> None:
    """Set the dotted `key` (e.g. "train.epochs") of config `cfg` to `value`, type-checked like a file."""
    *path, name = key.split(".")
    target = cfg
    for part in path:
        target = getattr(target, part)
    if name not in {f.name for f in toml_fields(type(target))}:
        raise ConfigError(f"config: unknown key {key!r}")
    setattr(target, name, _value(typing.get_type_hints(type(target))[name], value, key))


def _value(tp, v, key: str):
    if dataclasses.is_dataclass(tp):
        return fill(tp, v, key)
    if not _matches(tp, v):
        raise ConfigError(f"config: {key} = {v!r} ({type(v).__name__}); expected {_name(tp)}")
    return float(v) if tp is float and isinstance(v, int) else v


def _matches(tp, v) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(arm, v) for arm in typing.get_args(tp))
    if tp is type(None):
        return v is None
    if tp is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if tp in (str, bool):
        return isinstance(v, tp)
    if (origin or tp) in (list, tuple):
        return isinstance(v, (list, tuple))
    if (origin or tp) is dict:
        return isinstance(v, dict)
    return True  # typing.Any and other annotations: not checked


def _name(tp) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_name(a) for a in typing.get_args(tp))
    return "none" if tp is type(None) else getattr(tp, "__name__", str(tp))
