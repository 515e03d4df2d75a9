"""Candidate files, the one loader: `prognos rul`'s recipe (configs/recipe.toml) and `prognos search`'s sweeps
(configs/sweeps/*.toml) share one shape.

    [base.data] / [base.model] / [base.train]   a run config every candidate starts from
    [preset.<kind>.data] ...                     optional: applied over the base for one kind of data
                                                 (the recipe passes "cmapss" for the C-MAPSS preset)
    [[candidate]]                                name, doc, and only the data / model / train keys it varies

A candidate's table replaces the base's values key by key (a `model.hparams` table as a whole). Values
the recipe decides on the training data ("auto") stay in the merged tables until `run_configs` is
handed a `resolve` step; every other value is type-checked when the RunConfig is filled, and an error
names the file and the candidate.
"""

from __future__ import annotations

import copy
from pathlib import Path

from prognos.edge_runtime.configfile import load_toml
from prognos.edge_runtime.errors import ConfigError
from prognos.pipeline.config import RunConfig

SECTIONS = ("data", "model", "train")
CANDIDATE_KEYS = {"name", "doc", *SECTIONS}


def is_sweep(doc: dict) -> bool:
    """A candidate file (else a plain run config)."""
    return "candidate" in doc


def load_sweep(path) -> dict:
    """The TOML candidate file at `path`, its candidates checked (name, known keys, no name twice)."""
    doc = load_toml(path)
    if not doc.get("candidate"):
        raise ConfigError(f"{path}: no [[candidate]] tables; expected at least one")
    return checked(doc, path)


def checked(doc: dict, path) -> dict:
    names = []
    for entry in doc["candidate"]:
        unknown = set(entry) - CANDIDATE_KEYS
        if unknown or "name" not in entry:
            raise ConfigError(
                f"{path}: candidate {entry.get('name')!r}: expected keys name, doc, data, model, train; "
                f"got {sorted(entry)}"
            )
        names.append(entry["name"])
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{path}: candidates {twice} named twice; expected one name per candidate")
    return {**doc, "path": str(path)}


def merge(base: dict, over: dict) -> dict:
    """`over` on a deep copy of `base`, table by table; a `hparams` table replaces the base's whole."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = merge(out.get(key, {}), value) if isinstance(value, dict) and key != "hparams" else value
    return out


def candidate_tables(sweep: dict, preset: str | None = None) -> list[tuple[str, dict]]:
    """(name, merged run-config tables) per candidate: base, then the preset, then the candidate's keys."""
    base = merge(sweep.get("base", {}), sweep.get("preset", {}).get(preset, {}) if preset else {})
    return [(c["name"], merge(base, {k: c[k] for k in SECTIONS if k in c})) for c in sweep["candidate"]]


def run_configs(sweep: dict, preset: str | None = None, resolve=None) -> list[tuple[str, RunConfig]]:
    """(name, RunConfig) per candidate; `resolve(tables) -> tables` fills what the caller decides ("auto")."""
    out = []
    for name, tables in candidate_tables(sweep, preset):
        try:
            out.append((name, RunConfig.from_dict(resolve(tables) if resolve else tables)))
        except ConfigError as e:
            raise ConfigError(f"{sweep.get('path', 'sweep')}: candidate {name!r}: {e}") from None
    return out


def sweep_or_run(path: Path) -> list[tuple[str, RunConfig, str]]:
    """(name, config, source) of a candidate file's candidates, or of one run config (named by the file)."""
    doc = load_toml(path)
    if not is_sweep(doc):
        return [(path.stem, RunConfig.from_dict(doc), str(path))]
    return [(n, cfg, f"{path}#{n}") for n, cfg in run_configs(checked(doc, path))]
