"""Cells of a fleet table -> typed columns, and `Raw`, the parsed table before the reading rules.

Missing cells: empty, or one of MISSING (any case). A number is what Python's float() reads
(finite only). A timestamp is ISO 8601 (datetime.fromisoformat: "2024-03-01T13:00:00", a space
instead of the T, optional UTC offset or Z); timestamps without an offset are taken as UTC, and a
column may not mix both. Errors name the file and line (`where(i)`), the column and the cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from prognos.edge_runtime.errors import DataError

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})
FLAGS = {"0": 0.0, "1": 1.0, "false": 0.0, "true": 1.0, "no": 0.0, "yes": 1.0}


@dataclass
class Raw:
    """A parsed table, one entry per data row, in file order; where(i) = files[src[i]] + line[i]."""

    files: list[str]
    unit: str  # "line" (text files) or "row" (Parquet)
    src: np.ndarray  # int: index into files
    line: np.ndarray  # int: line (or row) number of each row in its file
    asset: np.ndarray  # object: asset id text
    time: np.ndarray  # float64: cycle, or epoch seconds (UTC)
    values: dict[str, np.ndarray]  # float64 setting and sensor columns, NaN = missing
    regime: np.ndarray | None  # object: declared regime label text, "" = missing
    failed: np.ndarray | None  # float64 0/1 of the failures column, NaN = missing
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why sensors="auto" did not take it

    def where(self, i: int) -> str:
        f, n = self.files[self.src[i]], int(self.line[i])
        return f"{f}:{n}" if self.unit == "line" else f"{f}, row {n}"


@dataclass
class Seconds:
    """A Parquet timestamp column, already in epoch seconds (NaN = null)."""

    values: np.ndarray


def _missing(c: str) -> bool:
    return c.strip().lower() in MISSING


def classify(cells, name: str, where) -> str:
    """'number' (every present cell a number), 'empty' (all missing) or 'text' (no cell a number)."""
    if isinstance(cells, Seconds):
        return "text"
    fast = cells if isinstance(cells, np.ndarray) else _fast(cells)
    if fast is not None:
        return "empty" if np.all(np.isnan(fast)) else "number"
    present = [i for i, c in enumerate(cells) if not _missing(c)]
    numeric = [number(cells[i]) is not None for i in present]
    if not present:
        return "empty"
    if all(numeric):
        return "number"
    if not any(numeric):
        return "text"
    bad = present[numeric.index(False)]
    raise DataError(
        f"{where(bad)}: column {name!r}: {cells[bad]!r} is not a number; expected a number or an "
        f"empty cell (the column's other cells are numbers)"
    )


def _fast(cells: list[str]) -> np.ndarray | None:
    """numpy's own string -> float64 conversion (empty cells as NaN); None if any cell needs a closer look."""
    try:
        return np.asarray([c or "nan" for c in cells], dtype=np.float64)
    except ValueError:
        return None


def number(c: str) -> float | None:
    try:
        return float(c)
    except ValueError:
        return None


def parse_numbers(cells, name: str, where, flags: bool = False) -> np.ndarray:
    """float64 column, NaN for missing cells; non-numbers and infinities refused. flags: 0/1, true/false."""
    if isinstance(cells, Seconds):
        raise DataError(f"{where(0)}: column {name!r} holds timestamps; expected numbers")
    if not isinstance(cells, np.ndarray) and not flags:
        fast = _fast(cells)
        cells = cells if fast is None else fast
    if not isinstance(cells, np.ndarray):
        table = FLAGS if flags else None
        out = np.empty(len(cells))
        for i, c in enumerate(cells):
            key = c.strip().lower()
            v = np.nan if key in MISSING else (table.get(key) if table else number(c))
            if v is None:
                what = (
                    "a flag; expected 0/1, true/false or yes/no"
                    if flags
                    else "a number; expected a number or an empty cell"
                )
                raise DataError(f"{where(i)}: column {name!r}: {c!r} is not {what}")
            out[i] = v
        cells = out
    bad = np.flatnonzero(np.isinf(cells) | (flags & ~np.isin(cells, (0.0, 1.0)) & ~np.isnan(cells)))
    if len(bad):
        expected = "0 or 1" if flags else "a finite number"
        raise DataError(f"{where(bad[0])}: column {name!r}: {float(cells[bad[0]]):g}; expected {expected}")
    return cells


def parse_times(cells, name: str, where, timestamps: bool) -> np.ndarray:
    """Cycle counts (integers), or epoch seconds of ISO timestamps; a missing time is refused."""
    if isinstance(cells, Seconds):
        if not timestamps:
            raise DataError(
                f'{where(0)}: time column {name!r} holds timestamps; set resample (e.g. "1h") '
                "in the schema, or give a cycle counter"
            )
        t = cells.values
    elif timestamps:
        t = _stamps(cells, name, where)
    else:
        t = _cycles(cells, name, where)
    gone = np.flatnonzero(np.isnan(t))
    if len(gone):
        raise DataError(f"{where(gone[0])}: time column {name!r} is empty; expected a time in every row")
    return t


def _cycles(cells, name: str, where) -> np.ndarray:
    if not isinstance(cells, np.ndarray):
        for i, c in enumerate(cells):
            if not _missing(c) and number(c) is None:
                hint = '; it looks like a timestamp: set resample (e.g. "1h")' if "-" in c or ":" in c else ""
                raise DataError(f"{where(i)}: time column {name!r}: {c!r} is not a cycle count{hint}")
    t = parse_numbers(cells, name, where)
    frac = np.flatnonzero(~np.isnan(t) & (t != np.round(t)))
    if len(frac):
        raise DataError(
            f"{where(frac[0])}: time column {name!r}: {t[frac[0]]:g}; expected a whole cycle count "
            "(or timestamps with resample set)"
        )
    return t


def _stamps(cells, name: str, where) -> np.ndarray:
    if isinstance(cells, np.ndarray):
        raise DataError(
            f"{where(0)}: time column {name!r} holds numbers; resample is set, so ISO timestamps "
            "are expected (leave resample empty for a cycle counter)"
        )
    out, seen, aware = np.empty(len(cells)), {}, set()
    for i, c in enumerate(cells):
        if _missing(c):
            out[i] = np.nan
            continue
        if c not in seen:
            try:
                d = datetime.fromisoformat(c.strip())
            except ValueError:
                raise DataError(
                    f"{where(i)}: time column {name!r}: {c!r} is not an ISO 8601 timestamp; expected "
                    "e.g. 2024-03-01T13:00:00"
                ) from None
            aware.add(d.tzinfo is not None)
            if len(aware) > 1:
                raise DataError(
                    f"{where(i)}: time column {name!r}: {c!r} mixes timestamps with and without a "
                    "UTC offset; expected one kind in the column"
                )
            seen[c] = (d if d.tzinfo else d.replace(tzinfo=timezone.utc)).timestamp()
        out[i] = seen[c]
    return out
