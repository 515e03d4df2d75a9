"""Parsing and validation of raw sensor rows: the C-MAPSS text format or CSV with a header.

Every rejection raises `RowError` with a short reason (the stream counts them per reason) and a
message naming the line and what was expected.
"""
from __future__ import annotations

import math

from edge_runtime.errors import DataError, RowError
from edge_runtime.schema import CMAPSS_COLUMNS, N_COLUMNS


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
        picked = [fields[i].strip() for i in self._idx]
        names = ["unit", "cycle", *self.features]
        values = [self._number(v, n, lineno) for v, n in zip(picked, names)]
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
