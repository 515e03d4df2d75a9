"""`Fleet`: the one in-memory layout every reader produces (C-MAPSS text, CSV, Parquet, simulators).

Rows sorted by (asset, time). Column roles come from the dataset spec; the table itself is numeric:
asset index, time, the operating-setting columns, then the sensor columns, in that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Fleet:
    table: np.ndarray  # float64 (rows, 2 + len(settings) + len(sensors)): asset index, time, settings..., sensors...
    settings: list[str]  # names of the operating-setting columns (may be empty)
    sensors: list[str]  # names of the sensor columns
    assets: list[str]  # assets[i] is the id of asset index i, as written in the source
    failed: np.ndarray  # bool per asset index: True = failed at its last row; False = censored (still running)
    regime: np.ndarray | None = None  # declared regime label per row (the spec's regime column), if any
    card: dict = field(default_factory=dict)  # what the reader did: source, dropped/filled rows and columns, why

    @property
    def columns(self) -> list[str]:
        return ["asset", "time", *self.settings, *self.sensors]
