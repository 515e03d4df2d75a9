"""NASA C-MAPSS turbofan run-to-failure data (Saxena, Goebel, Simon, Eklund, PHM08 2008).

Text files of 26 whitespace-separated numbers per row (unit, cycle, 3 settings, 21 sensors), one row
per operating cycle; trailing spaces occur. Labels: piecewise-linear remaining useful life,
RUL(t) = min(cap, T_fail - t), the usual protocol with cap 125 (Heimes 2008; Zheng et al. 2017).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prognos.edge_runtime.errors import DataError
from prognos.edge_runtime.schema import CMAPSS_COLUMNS, N_COLUMNS


def load_table(path) -> np.ndarray:
    """Read one C-MAPSS file into a (rows, 26) float64 array; DataError names the bad line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected a C-MAPSS text file (e.g. train_FD001.txt)")
    rows = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != N_COLUMNS:
                raise DataError(
                    f"{path}:{lineno}: {len(fields)} columns, expected {N_COLUMNS} "
                    f"({', '.join(CMAPSS_COLUMNS[:3])}, …, s21)"
                )
            try:
                values = [float(v) for v in fields]
            except ValueError:
                bad = next(v for v in fields if not _is_float(v))
                raise DataError(f"{path}:{lineno}: {bad!r} is not a number") from None
            if not np.all(np.isfinite(values)):
                raise DataError(f"{path}:{lineno}: NaN or infinite value; expected finite numbers")
            rows.append(values)
    if not rows:
        raise DataError(f"{path}: empty file; expected rows of {N_COLUMNS} numbers")
    table = np.asarray(rows, np.float64)
    _check_units(path, table)
    return table


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _check_units(path, table):
    unit, cycle = table[:, 0], table[:, 1]
    for u in np.unique(unit):
        c = cycle[unit == u]
        if np.any(np.diff(c) <= 0):
            raise DataError(f"{path}: unit {int(u)} has cycles out of order or repeated; expected increasing cycles")


def load_rul_file(path, n_units: int) -> np.ndarray:
    """True RUL of each test unit: one integer per line, in unit order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected a RUL file (one integer per line, in unit order)")
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    try:
        rul = np.asarray([float(v) for v in lines])
    except ValueError as e:
        raise DataError(f"{path}: {e}; expected one integer per line") from None
    if len(rul) != n_units:
        raise DataError(f"{path}: {len(rul)} values, expected one per test unit ({n_units})")
    return rul


def rul_targets(table: np.ndarray, cap: float) -> np.ndarray:
    """Per-row piecewise-linear RUL of run-to-failure units: min(cap, last cycle of the unit - cycle)."""
    unit, cycle = table[:, 0], table[:, 1]
    _, inverse = np.unique(unit, return_inverse=True)  # O(rows log rows): fleets of 10,000 units
    last = np.full(inverse.max() + 1, -np.inf)
    np.maximum.at(last, inverse, cycle)
    return np.minimum(cap, last[inverse] - cycle)


def find_subset(data_dir, subset: str | None = None) -> str:
    """The subset name (e.g. FD001) of the train_<subset>.txt file in `data_dir`."""
    data_dir = Path(data_dir)
    if subset:
        return subset
    found = sorted(p.stem[len("train_") :] for p in data_dir.glob("train_*.txt"))
    if len(found) != 1:
        raise DataError(
            f"{data_dir}: found train files for subsets {found or 'none'}; "
            "expected exactly one train_<subset>.txt, or name one with --subset"
        )
    return found[0]
