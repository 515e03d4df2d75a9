"""Training tables of any source: the C-MAPSS preset or a `Fleet` from a dataset spec, with their `Layout`.

The training code works on one numeric table per data set (asset id, time, settings, sensors; see
pipeline.data.dataset.Layout). C-MAPSS text files already have that layout with unit numbers as
asset ids; a `Fleet` (pipeline.data.fleet, produced by the spec readers) is converted here with
asset ids 1..n in the fleet's asset order, and its declared regime, if any, as a last column.
"""
from __future__ import annotations

import numpy as np

from prognos.edge_runtime.errors import DataError
from prognos.edge_runtime.schema import SENSORS, SETTINGS
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
    if declared:  # any labels: codes group the training rows; the device finds regimes from the settings
        codes = np.unique(np.asarray(fleet.regime).astype(str), return_inverse=True)[1]
        table = np.column_stack([table, codes[keep].astype(np.float64)])
        columns.append("regime")
    layout = Layout(tuple(columns), tuple(fleet.settings), declared)
    return table, (CMAPSS_LAYOUT if layout == CMAPSS_LAYOUT else layout)


def load_fleet(data_dir, subset: str | None = None, schema: str | None = None) -> tuple[Fleet, object]:
    """(the training fleet of `data_dir`, its DatasetSpec): `schema`, DATA_DIR/schema.toml or the C-MAPSS
    preset (pipeline.data.readers). The card names the asset and time columns the device will read."""
    from prognos.pipeline.data.readers import find_spec, read_fleet

    spec = find_spec(data_dir, schema, subset)
    fleet = read_fleet(spec, data_dir)
    fleet.card.update(asset_column=spec.asset, time_column=spec.time)
    return fleet, spec
