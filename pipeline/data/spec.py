"""The dataset spec: which column of a fleet table plays which role, and the rules for reading it.

A small typed dataclass (nanoGPT's config pattern) filled from TOML: a `[data.schema]` table in a
run config, or a file of its own (the same table, or its keys at the top level). Unknown keys and
values of the wrong type are refused with the key, the value and the expected type. The NASA
C-MAPSS text format is the preset `SPEC_CMAPSS` of the same spec. The rules the readers apply
(filling, duplicates, gaps, resampling, failures) are described in docs/own-data.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from prognos.edge_runtime.configfile import load_toml
from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.schema import SENSORS, SETTINGS

FORMATS = ("auto", "cmapss", "csv", "parquet")
SUFFIX_FORMAT = {".txt": "cmapss", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
FAILURE_SOURCES = ("all", "none", "column", "events")
UNIT_SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Failures:
    """Where failures come from. An asset that is not marked failed is censored: it gets no failure label."""

    source: str = "all"  # all: every asset ran to failure | none: no asset failed | column | events
    column: str = ""  # source=column: per-row 0/1 (or true/false); the asset failed at its first 1
    events: str = ""  # source=events: CSV of (asset, failure time), relative to the data folder
    asset: str = ""  # events file: its asset column (default: the spec's asset column)
    time: str = ""  # events file: its failure-time column (default: the spec's time column)


@dataclass(frozen=True)
class DatasetSpec:
    files: str = "*.csv"  # training file name or glob, relative to the data folder
    format: str = "auto"  # auto (from the file suffix: .txt cmapss, .csv, .parquet) | cmapss | csv | parquet
    asset: str = "asset"  # asset id column (any text)
    time: str = "time"  # cycle counter (integers counting by 1), or timestamps when `resample` is set
    resample: str = ""  # "": time is a cycle counter; e.g. "1h", "15min", "1d": ISO timestamps bucketed to steps
    settings: tuple[str, ...] = ()  # operating-setting columns (what the machine was asked to do)
    sensors: tuple[str, ...] | str = "auto"  # sensor columns, or "auto": every other numeric column
    regime: str = ""  # optional declared operating-regime column (any text)
    failures: Failures = field(default_factory=Failures)
    max_fill: int = 3  # at most this many consecutive missing steps per column are forward-filled
    long_gaps: str = "refuse"  # a time gap longer than max_fill steps: refuse | keep (rows keep their times)
    drop_constant: bool = True  # drop setting/sensor columns with one value over the whole table (recorded)

    @property
    def step_seconds(self) -> int | None:
        """The resampling step in seconds, or None when time is a cycle counter."""
        return parse_step(self.resample) if self.resample else None

    def format_of(self, path: Path) -> str:
        if self.format != "auto":
            return self.format
        try:
            return SUFFIX_FORMAT[path.suffix.lower()]
        except KeyError:
            raise ConfigError(
                f"{path}: cannot infer the format from suffix {path.suffix!r}; expected one of "
                f"{sorted(SUFFIX_FORMAT)} or set format = {list(FORMATS[1:])}"
            ) from None


SPEC_CMAPSS = DatasetSpec(
    files="train_*.txt",
    format="cmapss",
    asset="unit",
    time="cycle",
    settings=tuple(SETTINGS),
    sensors=tuple(SENSORS),
    failures=Failures("all"),
    max_fill=0,
    drop_constant=False,
)  # the NASA text as it is: no filling, nothing dropped


def cmapss_spec(subset: str | None = None) -> DatasetSpec:
    """The C-MAPSS preset for train_<subset>.txt (any train_*.txt when subset is None)."""
    return replace(SPEC_CMAPSS, files=f"train_{subset}.txt") if subset else SPEC_CMAPSS


def parse_step(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*(s|min|h|d)\s*", text)
    if not m or int(m.group(1)) == 0:
        raise ConfigError(f'resample = {text!r}: expected a positive step like "1h", "15min", "30s" or "1d"')
    return int(m.group(1)) * UNIT_SECONDS[m.group(2)]


# key -> (expected type for messages, check)
_STR = ("a string", lambda v: isinstance(v, str))
_STRS = ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v))
_CHECKS = {
    "files": _STR,
    "format": _STR,
    "asset": _STR,
    "time": _STR,
    "resample": _STR,
    "regime": _STR,
    "long_gaps": _STR,
    "settings": _STRS,
    "sensors": ('"auto" or a list of strings', lambda v: v == "auto" or _STRS[1](v)),
    "failures": (
        '"all", "none", {column = NAME} or {events = FILE, asset = .., time = ..}',
        lambda v: isinstance(v, (str, dict)),
    ),
    "max_fill": ("an integer >= 0", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    "drop_constant": ("true or false", lambda v: isinstance(v, bool)),
}
_CHOICES = {"format": FORMATS, "long_gaps": ("refuse", "keep")}


def spec_from_dict(d: dict, where: str = "[data.schema]") -> DatasetSpec:
    """A DatasetSpec from a TOML table; ConfigError names the key, the value and what was expected."""
    names = [f.name for f in fields(DatasetSpec)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; expected some of {names}")
    for key, value in d.items():
        expected, ok = _CHECKS[key]
        if not ok(value):
            raise ConfigError(f"{where}: {key} = {value!r} ({type(value).__name__}); expected {expected}")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ConfigError(f"{where}: {key} = {value!r}; expected one of {list(_CHOICES[key])}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    if "failures" in d:
        values["failures"] = _failures(d["failures"], where)
    spec = DatasetSpec(**values)
    if spec.resample:
        parse_step(spec.resample)
    _check_roles(spec, where)
    return spec


def _failures(v, where: str) -> Failures:
    if isinstance(v, str):
        if v not in ("all", "none"):
            raise ConfigError(
                f'{where}: failures = {v!r}; expected "all", "none" or a table {{column = NAME}} / {{events = FILE}}'
            )
        return Failures(v)
    allowed = {"column"} if "column" in v else {"events", "asset", "time"}
    bad = sorted(k for k in v if k not in allowed or not isinstance(v[k], str) or not v[k])
    if bad or not ({"column", "events"} & set(v)):
        raise ConfigError(
            f"{where}: failures = {v!r}; expected {{column = NAME}} or "
            "{events = FILE[, asset = COLUMN, time = COLUMN]} with non-empty strings"
        )
    return Failures("column", column=v["column"]) if "column" in v else Failures("events", **v)


def _check_roles(spec: DatasetSpec, where: str) -> None:
    roles = [spec.asset, spec.time, *spec.settings, *([] if spec.sensors == "auto" else spec.sensors)]
    roles += [c for c in (spec.regime, spec.failures.column) if c]
    twice = sorted({c for c in roles if roles.count(c) > 1})
    if twice:
        raise ConfigError(
            f"{where}: columns {twice} given more than one role; expected each column once "
            "(asset, time, settings, sensors, regime, failures column)"
        )


def load_spec(path) -> DatasetSpec:
    """The spec in a TOML file: its [data.schema] table (a run config) or, without a [data] table, the file."""
    path = Path(path)
    doc = load_toml(path)
    if "data" in doc:
        if not isinstance(doc["data"], dict) or not isinstance(doc["data"].get("schema"), dict):
            raise ConfigError(f"{path}: has a [data] table but no [data.schema] table; expected the dataset spec")
        return spec_from_dict(doc["data"]["schema"], f"{path} [data.schema]")
    return spec_from_dict(doc, str(path))
