"""Training tables of any fleet: a `Fleet` (pipeline.data.readers: dataset spec or C-MAPSS preset) as
the numeric table the RUL code trains on, with its `Layout`.

The training code works on one numeric table per data set (asset id, time, settings, sensors; see
pipeline.data.dataset.Layout). C-MAPSS text files already have that layout with unit numbers as
asset ids (pipeline.rul.train reads them directly); a `Fleet` is converted here with asset ids 1..n
in the fleet's asset order, and its declared regime, if any, as a last column.
"""

from __future__ import annotations

import numpy as np

from prognos.edge_runtime.errors import DataError
from prognos.edge_runtime.schema import SENSORS, SETTINGS
from prognos.pipeline.data.dataset import CMAPSS_LAYOUT, Layout
from prognos.pipeline.data.fleet import Fleet


def table_of_fleet(fleet: Fleet, failed_only: bool = True) -> tuple[np.ndarray, Layout]:
    """(table of the run-to-failure assets, asset ids = index + 1; its Layout). Censored assets are left
    out: their RUL is unknown, and labelling their last row as a failure would teach early failures.
    `failed_only` False: every asset (health monitoring, pipeline.rul.health)."""
    if failed_only and not np.any(fleet.failed):
        raise DataError(
            f"none of the {len(fleet.failed)} assets failed; RUL labels need run-to-failure assets "
            "(`prognos rul` takes the health-monitoring path for such fleets)"
        )
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
    layout = Layout(tuple(columns), tuple(fleet.settings), declared, fleet.card.get("time_rule", {}))
    return table, (CMAPSS_LAYOUT if layout == CMAPSS_LAYOUT else layout)


def load_fleet(data_dir, subset: str | None = None, schema: str | None = None) -> tuple[Fleet, object]:
    """(the training fleet of `data_dir`, its DatasetSpec): `schema`, DATA_DIR/schema.toml or the C-MAPSS
    preset (pipeline.data.readers). The card names the asset and time columns the device will read."""
    from prognos.pipeline.data.readers import find_spec, read_fleet

    spec = find_spec(data_dir, schema, subset)
    fleet = read_fleet(spec, data_dir)
    fleet.card.update(asset_column=spec.asset, time_column=spec.time)
    return fleet, spec
