"""Readers: a fleet table described by a `DatasetSpec` -> `Fleet` (C-MAPSS text, CSV, Parquet).

Each source is parsed into `Raw` (typed columns plus the file and line of every row), then the same
rules (pipeline.data.rules) order, resample, truncate at failures, fill and drop, and record in
`Fleet.card` what they did. CSV: stdlib `csv` (quoted fields), header row required. Parquet:
pyarrow, imported only when a Parquet file is read. A cell that cannot be read as its role asks
raises DataError with the file, line (Parquet: row), column and what was expected.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np

from prognos.edge_runtime.errors import DataError
from prognos.pipeline.data import cmapss
from prognos.pipeline.data.cells import Raw, Seconds, classify, number, parse_numbers, parse_times
from prognos.pipeline.data.fleet import Fleet
from prognos.pipeline.data.rules import build_fleet
from prognos.pipeline.data.spec import DatasetSpec, Failures, cmapss_spec, load_spec, spec_from_dict
from prognos.edge_runtime.schema import CMAPSS_COLUMNS, SENSORS


def read_fleet(spec: DatasetSpec, path) -> Fleet:
    """Read the training fleet: `path` is a data folder (spec.files is looked up in it) or one file."""
    path = Path(path)
    files = _files(spec, path)
    folder = path if path.is_dir() else path.parent
    formats = {spec.format_of(f) for f in files}
    if len(formats) > 1:
        raise DataError(f"{path}: files {[f.name for f in files]} mix formats {sorted(formats)}; expected one")
    fmt = formats.pop()
    raw = _concat([SOURCES[fmt](spec, f) for f in files])
    events = read_events(spec, folder) if spec.failures.source == "events" else None
    fleet = build_fleet(spec, raw, events)
    fleet.card["source"]["format"] = fmt
    return fleet


def read_test_fleet(spec: DatasetSpec, path) -> Fleet:
    """A table of assets still running (e.g. test_FD001.txt, a test CSV): read like the training table,
    every asset censored (no failure label, no rows dropped after a failure; a failures column stays out
    of the sensors)."""
    return read_fleet(replace(spec, failures=replace(spec.failures, source="none")), path)


def read_events(spec: DatasetSpec, folder: Path) -> list[tuple[str, float, str]]:
    """(asset id, failure time, file:line) of each row of the failures events file (a CSV with a header)."""
    path = folder / spec.failures.events
    if not path.is_file():
        raise DataError(
            f"{path}: no such events file; expected the CSV of failures (asset, failure time) named by failures.events"
        )
    ev = replace(
        spec,
        asset=spec.failures.asset or spec.asset,
        time=spec.failures.time or spec.time,
        settings=(),
        sensors=(),
        regime="",
        failures=Failures("all"),
    )
    raw = read_csv(ev, path)
    return [(str(a), float(t), raw.where(i)) for i, (a, t) in enumerate(zip(raw.asset, raw.time))]


def find_spec(data_dir, schema=None, subset: str | None = None) -> DatasetSpec:
    """The spec of a data folder: `schema` (a TOML file, or the [data.schema] table of a run config as a
    dict), else DATA_DIR/schema.toml, else the C-MAPSS preset (train_<subset>.txt)."""
    if isinstance(schema, dict) and schema:
        return spec_from_dict(schema)
    if schema and not isinstance(schema, dict):
        return load_spec(schema)
    data_dir = Path(data_dir)
    if (data_dir / "schema.toml").is_file():
        return load_spec(data_dir / "schema.toml")
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: no such folder; expected the folder of the fleet's training table")
    if not subset and not any(data_dir.glob("train_*.txt")):
        raise DataError(
            f"{data_dir}: no schema.toml and no C-MAPSS train_<subset>.txt; expected a dataset spec "
            "describing your table (--schema FILE or DATA_DIR/schema.toml; see docs/own-data.md)"
        )
    return cmapss_spec(cmapss.find_subset(data_dir, subset))


def _files(spec: DatasetSpec, path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder; expected the fleet's data folder or training file")
    files = sorted(p for p in path.glob(spec.files) if p.is_file())
    if not files:
        raise DataError(
            f"{path}: no file matches files = {spec.files!r}; expected the training table there "
            "(set files in the schema)"
        )
    return files


def _concat(parts: list[Raw]) -> Raw:
    if len(parts) == 1:
        return parts[0]
    names = [list(p.values) for p in parts]
    if any(n != names[0] for n in names):
        raise DataError(
            f"files {[p.files[0] for p in parts]}: numeric columns differ ({names}); "
            "expected the same columns in every file"
        )

    def cat(get):
        return None if get(parts[0]) is None else np.concatenate([get(p) for p in parts])

    offsets = np.cumsum([0] + [len(p.files) for p in parts[:-1]])
    return Raw(
        files=[f for p in parts for f in p.files],
        unit=parts[0].unit,
        src=np.concatenate([p.src + o for p, o in zip(parts, offsets)]),
        line=cat(lambda p: p.line),
        asset=cat(lambda p: p.asset),
        time=cat(lambda p: p.time),
        values={k: np.concatenate([p.values[k] for p in parts]) for k in parts[0].values},
        regime=cat(lambda p: p.regime),
        failed=cat(lambda p: p.failed),
        skipped={k: v for p in parts for k, v in p.skipped.items()},
    )


def read_cmapss(spec: DatasetSpec, path: Path) -> Raw:
    """NASA text: 26 whitespace-separated numbers per row, no header (cmapss.load_table checks it)."""
    table = cmapss.load_table(path)
    col = dict(zip(CMAPSS_COLUMNS, table.T))
    roles = [*spec.settings, *(SENSORS if spec.sensors == "auto" else spec.sensors)]
    return Raw(
        files=[str(path)],
        unit="line",
        src=np.zeros(len(table), np.int64),
        line=np.arange(1, len(table) + 1),
        asset=np.array([f"{int(u)}" for u in col["unit"]]),
        time=col["cycle"],
        values={c: col[c] for c in roles},
        regime=None,
        failed=None,
    )


def read_csv(spec: DatasetSpec, path: Path) -> Raw:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = _header(path, next(reader, None))
        rows, lines = [], []
        for row in reader:
            if not any(c.strip() for c in row):
                continue  # blank line
            if len(row) != len(header):
                raise DataError(
                    f"{path}:{reader.line_num}: {len(row)} fields, expected {len(header)} (the header's columns)"
                )
            rows.append(row)
            lines.append(reader.line_num)
    columns = {name: [r[i] for r in rows] for i, name in enumerate(header)}
    return _raw(spec, path, "line", columns, np.asarray(lines, np.int64))


def _header(path: Path, header) -> list[str]:
    if not header or not any(h.strip() for h in header):
        raise DataError(f"{path}: empty file; expected a header row naming the columns, then one row per reading")
    header = [h.strip() for h in header]
    if all(number(h) is not None for h in header if h):
        raise DataError(
            f"{path}:1: the first row holds numbers ({', '.join(header[:3])}, ...); expected a "
            "header row naming the columns"
        )
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice or "" in header:
        raise DataError(
            f"{path}:1: header has {'repeated names ' + str(twice) if twice else 'an empty name'}; "
            "expected one distinct name per column"
        )
    return header


def read_parquet(spec: DatasetSpec, path: Path) -> Raw:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as e:  # pyarrow.lib.ArrowInvalid is a ValueError
        raise DataError(f"{path}: not a readable Parquet file ({e})") from None
    columns = {name: _arrow_cells(table.column(name)) for name in table.column_names}
    return _raw(spec, path, "row", columns, np.arange(1, table.num_rows + 1))


def _arrow_cells(col):
    """Numbers and timestamps as float64 arrays (null = NaN; timestamps in epoch seconds), else text cells."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(col.type):
        us = pc.cast(col, pa.timestamp("us", col.type.tz)).cast(pa.int64()).to_pylist()
        return Seconds(np.array([np.nan if v is None else v / 1e6 for v in us]))
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
        return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
    return ["" if v is None else str(v) for v in col.to_pylist()]


def _raw(spec: DatasetSpec, path: Path, unit: str, columns: dict, line: np.ndarray) -> Raw:
    """Typed columns by role; sensors="auto" keeps every other column whose cells are all numbers."""

    def where(i):
        return f"{path}:{line[i]}" if unit == "line" else f"{path}, row {line[i]}"

    named = [spec.asset, spec.time, *spec.settings, *([] if spec.sensors == "auto" else spec.sensors)]
    named += [c for c in (spec.regime, spec.failures.column) if c]
    missing = [c for c in named if c not in columns]
    if missing:
        raise DataError(f"{path}: no column {missing}; the schema names them, the file has {list(columns)}")
    sensors, skipped = list(spec.sensors) if spec.sensors != "auto" else [], {}
    if spec.sensors == "auto":
        for name, cells in columns.items():
            if name not in named:
                kind = classify(cells, name, where)
                if kind == "number":
                    sensors.append(name)
                else:
                    skipped[name] = kind
    values = {c: parse_numbers(columns[c], c, where) for c in [*spec.settings, *sensors]}
    failed = (
        parse_numbers(columns[spec.failures.column], spec.failures.column, where, flags=True)
        if spec.failures.column
        else None
    )
    return Raw(
        files=[str(path)],
        unit=unit,
        src=np.zeros(len(line), np.int64),
        line=line,
        asset=_text(columns[spec.asset], spec.asset, where, required=True),
        time=parse_times(columns[spec.time], spec.time, where, spec.step_seconds is not None),
        values=values,
        regime=_text(columns[spec.regime], spec.regime, where) if spec.regime else None,
        failed=failed,
        skipped=skipped,
    )


def _text(cells, name: str, where, required: bool = False) -> np.ndarray:
    if isinstance(cells, np.ndarray):  # a numeric Parquet column used as a label: 7.0 -> "7"
        cells = ["" if np.isnan(v) else (f"{int(v)}" if v == int(v) else f"{v:g}") for v in cells]
    out = np.array([c.strip() for c in cells], dtype=object)
    if required:
        empty = np.flatnonzero(out == "")
        if len(empty):
            raise DataError(f"{where(empty[0])}: column {name!r} is empty; expected an asset id in every row")
    return out


SOURCES = {"cmapss": read_cmapss, "csv": read_csv, "parquet": read_parquet}
