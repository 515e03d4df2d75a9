"""Training tables of any source: the C-MAPSS preset or a `Fleet` from a dataset spec, with their `Layout`.

The training code works on one numeric table per data set (asset id, time, settings, sensors; see
pipeline.data.dataset.Layout). C-MAPSS text files already have that layout with unit numbers as
asset ids; a `Fleet` (pipeline.data.fleet, produced by the spec readers) is converted here with
asset ids 1..n in the fleet's asset order, and its declared regime, if any, as a last column.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from prognos.edge_runtime.errors import DataError
from prognos.edge_runtime.schema import SENSORS, SETTINGS
from prognos.pipeline.data import cmapss
from prognos.pipeline.data.dataset import CMAPSS_LAYOUT, Layout
from prognos.pipeline.data.fleet import Fleet


def fleet_from_cmapss(table: np.ndarray, source: str = "") -> Fleet:
    """A C-MAPSS table as a Fleet: every unit ran to failure (the training files' protocol)."""
    units = np.unique(table[:, 0]).astype(int)
    index = np.searchsorted(units, table[:, 0].astype(int))
    out = np.column_stack([index, table[:, 1:]]).astype(np.float64)
    return Fleet(out, list(SETTINGS), list(SENSORS), [str(u) for u in units], np.ones(len(units), bool),
                 card={"source": source, "preset": "C-MAPSS text (unit, cycle, 3 settings, 21 sensors)"})


def table_of_fleet(fleet: Fleet, failed_only: bool = True) -> tuple[np.ndarray, Layout]:
    """(table of the run-to-failure assets, asset ids = index + 1; its Layout). Censored assets are left
    out: their RUL is unknown, and labelling their last row as a failure would teach early failures.
    `failed_only` False: every asset (health monitoring, pipeline.rul.health)."""
    if failed_only and not np.any(fleet.failed):
        raise DataError(f"none of the {len(fleet.failed)} assets failed; RUL labels need run-to-failure assets "
                        "(`prognos rul` takes the health-monitoring path for such fleets)")
    keep = fleet.failed[fleet.table[:, 0].astype(int)] if failed_only else np.ones(len(fleet.table), bool)
    table = fleet.table[keep].copy()
    table[:, 0] += 1
    columns = [*fleet.columns]
    columns[:2] = fleet.card.get("asset_column", "asset"), fleet.card.get("time_column", "time")
    if list(fleet.settings) == SETTINGS and list(fleet.sensors) == SENSORS:
        columns[:2] = ["unit", "cycle"]  # the C-MAPSS preset keeps its layout (and its bundles' rows)
    declared = fleet.regime is not None
    if declared:
        try:
            table = np.column_stack([table, np.asarray(fleet.regime, np.float64)[keep]])
        except ValueError:
            raise DataError("the declared regime column must hold numbers (regime codes)") from None
        columns.append("regime")
    layout = Layout(tuple(columns), tuple(fleet.settings), declared)
    return table, (CMAPSS_LAYOUT if layout == CMAPSS_LAYOUT else layout)


def load_fleet(data_dir, subset: str | None = None, schema: str | None = None) -> Fleet:
    """The training fleet of `data_dir`: described by `schema` (a dataset spec), else C-MAPSS text."""
    if schema:
        return read_csv_fleet(data_dir, schema)
    data_dir = Path(data_dir)
    name = cmapss.find_subset(data_dir, subset)
    path = data_dir / f"train_{name}.txt"
    return fleet_from_cmapss(cmapss.load_table(path), str(path))


def read_csv_fleet(data_dir, schema) -> Fleet:
    """A CSV fleet as its schema names it: [schema] file, asset, time, settings, sensors, failed.

    The minimal reader the recipe needs (every asset ran to failure, or a 0/1 `failed` column whose
    last value per asset says whether it failed); the full dataset spec and its readers (missing values,
    timestamps, events files, Parquet) belong to pipeline.data's spec readers.
    """
    import csv
    import tomllib

    spec = tomllib.loads(Path(schema).read_text()).get("schema", {})
    path = Path(data_dir) / spec.get("file", "fleet.csv")
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected the CSV the schema {schema} names")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise DataError(f"{path}: no data rows")
    asset, time_col = spec.get("asset", "asset"), spec.get("time", "time")
    settings = list(spec.get("settings", []))
    sensors = list(spec.get("sensors") or [c for c in rows[0] if c not in {asset, time_col, spec.get("failed"),
                                                                             *settings}])
    ids = sorted({r[asset] for r in rows}, key=lambda a: (len(a), a))
    index = {a: i for i, a in enumerate(ids)}
    try:
        table = np.array([[index[r[asset]], float(r[time_col]), *(float(r[c]) for c in settings + sensors)]
                          for r in rows], np.float64)
    except (KeyError, ValueError) as e:
        raise DataError(f"{path}: {e}; expected numbers in the columns the schema names") from None
    table = table[np.lexsort((table[:, 1], table[:, 0]))]
    failed = np.ones(len(ids), bool)
    if spec.get("failed"):
        last = {r[asset]: r[spec["failed"]] for r in rows}  # rows in file order: the last value per asset
        failed = np.array([last[a].strip() in ("1", "true", "True") for a in ids])
    return Fleet(table, settings, sensors, ids, failed, card={"source": str(path), "schema": str(schema),
                                                              "asset_column": asset, "time_column": time_col})
