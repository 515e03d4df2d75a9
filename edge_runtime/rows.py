"""Parsing and validation of raw sensor rows: C-MAPSS text, CSV with a header, or JSON objects.

Every parser turns one line into (asset, time, values of the bundle's `features` in order), where
time is an integer cycle (`cycle`) or a float timestamp in seconds (`ts`, JSON only). Every
rejection raises `RowError` with a short reason (the stream counts them per reason) and a message
naming the line and what was expected. Reasons: malformed, wrong_type, missing_sensor, non_finite
(and, in the stream, duplicate_cycle, out_of_order).
"""
from __future__ import annotations

import json
import math
from collections import Counter

from prognos.edge_runtime.errors import DataError, RowError
from prognos.edge_runtime.schema import CMAPSS_COLUMNS, N_COLUMNS

ASSET_KEYS = ("unit", "asset")
TIME_KEYS = ("cycle", "ts")


class RowParser:
    """Turns one text line into (unit, cycle, values of `features` in order)."""

    def __init__(self, features: list[str], header: list[str] | None = None):
        self.features = features
        self.csv = header is not None
        self.columns = [h.strip() for h in header] if header else CMAPSS_COLUMNS
        missing = [c for c in ["unit", "cycle", *features] if c not in self.columns]
        if missing:
            raise DataError(f"CSV header lacks columns {missing} that the model needs; got {self.columns}")
        self._idx = [self.columns.index(c) for c in ["unit", "cycle", *features]]
        self._names = ["unit", "cycle", *features]
        self.warnings = Counter()  # accepted rows with something odd about them (JSON: extra_sensor)

    @classmethod
    def sniff(cls, first_line: str, features: list[str]) -> "RowParser | None":
        """A CSV parser if `first_line` is a header (has a comma and a letter), else None (text format)."""
        if "," in first_line and any(ch.isalpha() for ch in first_line):
            return cls(features, header=first_line.strip().split(","))
        return None

    def parse(self, line: str, lineno: int) -> tuple[int, int, list[float]]:
        fields = line.split(",") if self.csv else line.split()
        if len(fields) != len(self.columns):
            raise RowError("malformed", f"line {lineno}: {len(fields)} fields, expected {len(self.columns)}"
                                        + ("" if self.csv else f" ({N_COLUMNS} whitespace-separated numbers)"))
        try:  # fast path: every picked field a finite number; else find the first bad one and say why
            values = [float(fields[i]) for i in self._idx]
            if not all(map(math.isfinite, values)):
                raise ValueError
        except ValueError:
            values = [self._number(fields[i].strip(), n, lineno) for i, n in zip(self._idx, self._names)]
        unit, cycle = values[0], values[1]
        if unit != int(unit) or cycle != int(cycle) or cycle < 1:
            raise RowError("malformed", f"line {lineno}: unit {unit} and cycle {cycle} must be positive integers")
        return int(unit), int(cycle), values[2:]

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


class JsonRowParser(RowParser):
    """One JSON object per line: {"unit" or "asset": int|str, "cycle": int or "ts": seconds, <feature>: number}.

    Keys that are neither the model's features, C-MAPSS columns nor asset/time keys are extra sensors:
    the row is accepted (the model does not read them) and `warnings["extra_sensor"]` counts it.
    """

    def __init__(self, features: list[str]):
        super().__init__(features)
        self._known = {*ASSET_KEYS, *TIME_KEYS, *CMAPSS_COLUMNS, *features}

    def parse(self, line: str, lineno: int):
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as e:  # JSONDecodeError, a huge number, absurd nesting
            raise RowError("malformed", f"line {lineno}: not valid JSON ({e})") from None
        return self.parse_obj(obj, f"line {lineno}")

    def parse_obj(self, obj, where: str):
        if not isinstance(obj, dict):
            raise RowError("wrong_type", f"{where}: a JSON {type(obj).__name__}, expected an object")
        asset = _asset(obj, where)
        t = _time(obj, where)
        values = [_json_number(obj.get(n), n, where) for n in self.features]
        if not self._known.issuperset(obj):
            self.warnings["extra_sensor"] += 1
        return asset, t, values


def _asset(obj: dict, where: str):
    key = next((k for k in ASSET_KEYS if k in obj), None)
    value = obj.get(key)
    if isinstance(value, str) and value and len(value) <= 128:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if key is None:
        raise RowError("missing_sensor", f"{where}: no 'unit' or 'asset' key")
    raise RowError("wrong_type", f"{where}: {key}={value!r}; expected an integer or a non-empty string")


def _time(obj: dict, where: str):
    if "cycle" in obj:
        c = obj["cycle"]
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


def make_parser(first_line: str, features: list[str]) -> tuple[RowParser, bool]:
    """The parser for a stream whose first non-empty line is `first_line`; True if that line is a header."""
    if first_line.lstrip().startswith("{"):
        return JsonRowParser(features), False
    csv = RowParser.sniff(first_line, features)
    return (csv, True) if csv else (RowParser(features), False)
