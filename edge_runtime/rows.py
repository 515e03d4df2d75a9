"""Parsing and validation of raw sensor rows: C-MAPSS text, CSV with a header, or JSON objects.

Every parser turns one line into (asset, time, values of the bundle's raw inputs in order: its
features, then any regime settings), where time is an integer cycle (`cycle`) or a float timestamp in
seconds (`ts`, JSON only). A bundle trained on a named-column fleet reads its own asset and time
column names (`Preprocessor.table_columns`) besides unit/asset and cycle/ts. Every
rejection raises `RowError` with a short reason (the stream counts them per reason) and a message
naming the line and what was expected. Reasons: malformed, wrong_type, missing_sensor, non_finite
(and, in the stream, duplicate_cycle, out_of_order).
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter

from prognos.edge_runtime.errors import DataError, RowError
from prognos.edge_runtime.schema import CMAPSS_COLUMNS, N_COLUMNS
from prognos.edge_runtime.steps import iso_seconds

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})  # as the training reader (pipeline.data.cells)

ASSET_KEYS = ("unit", "asset")
TIME_KEYS = ("cycle", "ts")


class RowParser:
    """Turns one text line into (unit, cycle, values of `features` in order).

    `keys`: the (asset, time) column names of a CSV header (default unit, cycle). `timestamps`: the
    bundle's time is resampled timestamps (edge_runtime.steps): the time is an ISO 8601 timestamp (or
    epoch seconds), returned as epoch seconds, and a missing value is NaN (the step clock fills it)."""

    def __init__(self, features: list[str], header: list[str] | None = None, keys=("unit", "cycle"), timestamps=False):
        self.features, self.timestamps = features, timestamps
        self.csv = header is not None
        self.columns = [h.strip().strip('"') for h in header] if header else CMAPSS_COLUMNS
        if self.csv and keys[0] not in self.columns and "unit" in self.columns:
            keys = ("unit", "cycle")  # a C-MAPSS-named CSV for a bundle of the C-MAPSS preset
        missing = [c for c in [*keys, *features] if c not in self.columns]
        if missing:
            raise DataError(f"CSV header lacks columns {missing} that the model needs; got {self.columns}")
        self._idx = [self.columns.index(c) for c in [*keys, *features]]
        self._names = [*keys, *features]
        self.warnings = Counter()  # accepted rows with something odd about them (JSON: extra_sensor)

    @classmethod
    def sniff(cls, first_line: str, features: list[str], keys=("unit", "cycle"), timestamps=False):
        """A CSV parser if `first_line` is a header (has a comma and a letter), else None (text format)."""
        if "," in first_line and any(ch.isalpha() for ch in first_line):
            return cls(features, header=_split(first_line.strip()), keys=keys, timestamps=timestamps)
        return None

    def parse(self, line: str, lineno: int) -> tuple[int, int, list[float]]:
        fields = _split(line) if self.csv else line.split()
        if len(fields) != len(self.columns):
            raise RowError(
                "malformed",
                f"line {lineno}: {len(fields)} fields, expected {len(self.columns)}"
                + ("" if self.csv else f" ({N_COLUMNS} whitespace-separated numbers)"),
            )
        idx, names = self._idx, self._names
        if self.csv:  # a named fleet's asset id may be any non-empty text
            asset = _csv_asset(fields[idx[0]].strip().strip('"'), lineno)
            idx, names = idx[1:], names[1:]
        if self.timestamps:
            return asset, _stamp(fields[idx[0]], names[0], lineno), self._maybe_all(fields, idx[1:], names[1:], lineno)
        try:  # fast path: every picked field a finite number; else find the first bad one and say why
            values = [float(fields[i]) for i in idx]
            if not all(map(math.isfinite, values)):
                raise ValueError
        except ValueError:
            values = [self._number(fields[i].strip(), n, lineno) for i, n in zip(idx, names)]
        if not self.csv:
            asset, values = values[0], values[1:]
            if asset != int(asset):
                raise RowError("malformed", f"line {lineno}: unit {asset} must be a positive integer")
            asset = int(asset)
        cycle = values[0]
        if cycle != int(cycle) or cycle < 1:
            if self.csv and cycle >= 0:  # a timestamp in seconds
                return asset, cycle, values[1:]
            raise RowError("malformed", f"line {lineno}: unit {asset} and cycle {cycle} must be positive integers")
        return asset, int(cycle), values[1:]

    @staticmethod
    def _maybe_all(fields, idx, names, lineno: int) -> list[float]:
        """Values that may be missing (NaN, filled by the step clock); fast path: all plain numbers."""
        try:
            values = [float(fields[i]) for i in idx]
            if any(map(math.isinf, values)):
                raise ValueError
            return values
        except ValueError:
            return [_maybe(fields[i], n, lineno) for i, n in zip(idx, names)]

    @staticmethod
    def _number(text: str, name: str, lineno: int) -> float:
        if text == "":
            raise RowError("missing_sensor", f"line {lineno}: no value for {name!r}")
        try:
            value = float(text)
        except ValueError:
            raise RowError("malformed", f"line {lineno}: {name}={text!r} is not a number") from None
        if not math.isfinite(value):
            raise RowError("non_finite", f"line {lineno}: {name}={text} is not finite")
        return value


def _split(line: str) -> list[str]:
    """CSV fields; the csv module only for a line with quotes (a quoted comma), the fast split otherwise."""
    return next(csv.reader([line])) if '"' in line else line.split(",")


def _stamp(text, name: str, where) -> float:
    """Epoch seconds of a time cell: ISO 8601 text or a number of seconds."""
    where = f"line {where}" if isinstance(where, int) else where
    if isinstance(text, (int, float)) and not isinstance(text, bool) and math.isfinite(text):
        return float(text)
    try:
        return iso_seconds(text)
    except (TypeError, ValueError, AttributeError):
        raise RowError(
            "malformed", f"{where}: {name}={text!r}; expected an ISO 8601 timestamp (e.g. 2024-03-01T13:00:00)"
        ) from None


def _maybe(text: str, name: str, lineno: int) -> float:
    """A value that may be missing (NaN: filled by the step clock as in training)."""
    text = text.strip()
    return math.nan if text.lower() in MISSING else RowParser._number(text, name, lineno)


class JsonRowParser(RowParser):
    """One JSON object per line: {"unit" or "asset": int|str, "cycle": int or "ts": seconds, <feature>: number}.

    Keys that are neither the model's features, C-MAPSS columns nor asset/time keys are extra sensors:
    the row is accepted (the model does not read them) and `warnings["extra_sensor"]` counts it.
    """

    def __init__(self, features: list[str], keys=("unit", "cycle"), timestamps=False):
        # no super().__init__: that matches a CSV header (or the C-MAPSS columns); JSON rows name their keys
        self.features, self.timestamps, self.csv = features, timestamps, False
        self.warnings = Counter()
        self._keys = keys
        self._known = {*ASSET_KEYS, *TIME_KEYS, *CMAPSS_COLUMNS, *features, *keys}

    def parse(self, line: str, lineno: int):
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as e:  # JSONDecodeError, a huge number, absurd nesting
            raise RowError("malformed", f"line {lineno}: not valid JSON ({e})") from None
        return self.parse_obj(obj, f"line {lineno}")

    def parse_obj(self, obj, where: str):
        if not isinstance(obj, dict):
            raise RowError("wrong_type", f"{where}: a JSON {type(obj).__name__}, expected an object")
        asset = _asset(obj, where, (*ASSET_KEYS, self._keys[0]))
        if self.timestamps:  # null or a missing key: NaN, filled by the step clock
            key = self._keys[1] if self._keys[1] in obj else "ts"
            t = _stamp(obj.get(key), key, where)
            values = [math.nan if obj.get(n) is None else _json_number(obj[n], n, where) for n in self.features]
        else:
            t = _time(obj, where, self._keys[1])
            values = [_json_number(obj.get(n), n, where) for n in self.features]
        if not self._known.issuperset(obj):
            self.warnings["extra_sensor"] += 1
        return asset, t, values


def _csv_asset(text: str, lineno: int):
    """A CSV asset id: an integer (C-MAPSS units), or text that is not a number (a named asset)."""
    if not text:
        raise RowError("missing_sensor", f"line {lineno}: no asset id")
    try:
        return int(text)
    except ValueError:
        if _is_number(text):
            raise RowError("malformed", f"line {lineno}: asset id {text} is a number but not an integer") from None
        return text


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _asset(obj: dict, where: str, keys=ASSET_KEYS):
    key = next((k for k in keys if k in obj), None)
    value = obj.get(key)
    if isinstance(value, str) and value and len(value) <= 128:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if key is None:
        raise RowError("missing_sensor", f"{where}: no 'unit' or 'asset' key")
    raise RowError("wrong_type", f"{where}: {key}={value!r}; expected an integer or a non-empty string")


def _time(obj: dict, where: str, key: str = "cycle"):
    if key != "ts" and (key in obj or "cycle" in obj):
        c = obj[key] if key in obj else obj["cycle"]
        integral = isinstance(c, int) or (isinstance(c, float) and c.is_integer())
        if isinstance(c, bool) or not integral or c < 1:
            raise RowError("wrong_type", f"{where}: cycle={c!r}; expected a positive integer")
        return int(c)
    if "ts" in obj:
        return _json_number(obj["ts"], "ts", where)
    raise RowError("missing_sensor", f"{where}: no 'cycle' or 'ts' key")


def _json_number(value, name: str, where: str) -> float:
    if value is None:
        raise RowError("missing_sensor", f"{where}: no value for {name!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowError("wrong_type", f"{where}: {name}={value!r} is a {type(value).__name__}; expected a number")
    if not math.isfinite(value):
        raise RowError("non_finite", f"{where}: {name}={value} is not finite")
    return float(value)


def make_parser(first_line: str, features: list[str], keys=("unit", "cycle"), timestamps=False):
    """(the parser for a stream whose first non-empty line is `first_line`, True if that line is a header).
    `keys`: the bundle's (asset, time) column names for CSV (JSON also accepts unit/asset, cycle/ts)."""
    if first_line.lstrip().startswith("{"):
        return JsonRowParser(features, keys, timestamps), False
    parser = RowParser.sniff(first_line, features, keys, timestamps)
    return (parser, True) if parser else (RowParser(features), False)
