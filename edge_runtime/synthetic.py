"""Synthetic sensor rows for any row bundle, drawn from its manifest (`prognos-edge bench` and `soak`).

A bundle of the C-MAPSS layout gets 26-column NASA text rows (or JSON objects); a bundle trained on a
named-column fleet gets a CSV with its own header (asset and time column names, the columns it reads)
or JSON objects with those keys. Values are drawn around the training statistics: per operating
regime (a random training regime per row, its settings at the regime's centroid) when the bundle has
regimes, else around the global mean and std. Time is the cycle count, or for a bundle trained on
timestamps one step (`preprocessing.time`) per row, written as ISO 8601.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone

import numpy as np

from prognos.edge_runtime.features import Preprocessor
from prognos.edge_runtime.schema import CMAPSS_COLUMNS
from prognos.edge_runtime.steps import TimeRule

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()  # time of step 1 of every synthetic asset


class RowMaker:
    """A pool of 1,024 value rows (dicts, column -> value) and the bundle's row formats."""

    def __init__(self, preprocessing: dict, rng: random.Random):
        pre = Preprocessor.from_dict(preprocessing)
        self.named, self.rule = bool(pre.columns), TimeRule.from_dict(pre.time)
        self.asset_key, self.time_key = pre.table_columns[:2]
        self.features = [c for c in pre.row_inputs if c != self.time_key]  # the age is the time itself
        if not self.named:
            self.pool = _cmapss_pool(pre, rng)
        elif pre.regimes:
            self.pool = _regime_pool(pre, self.features, rng)
        else:
            stats = {f: (m, s) for f, m, s in zip(pre.features, pre.mean, pre.std)}
            self.pool = [{f: round(rng.gauss(*stats[f]), 4) for f in self.features} for _ in range(1024)]

    def header(self) -> list[str]:
        """Lines before the rows of a text stream: a CSV header for a named-column bundle."""
        return [",".join([self.asset_key, self.time_key, *self.features]) + "\n"] if self.named else []

    def asset(self, unit: int):
        return f"a{unit}" if self.named else unit

    def time(self, c: int):
        if self.rule is None:
            return c
        return datetime.fromtimestamp(T0 + (c - 1) * self.rule.step_seconds, timezone.utc).isoformat()

    def text(self, unit: int, c: int, values: dict) -> list[str]:
        """The fields of a text row (NASA text: unit, cycle, 24 numbers; CSV: the header's columns)."""
        return [str(self.asset(unit)), str(self.time(c)), *map(str, values.values())]

    def json(self, unit: int, c: int, values: dict) -> dict:
        key = self.time_key if self.named else "cycle"
        return {"asset": f"a{unit}", key: self.time(c), **{f: values[f] for f in self.features}}


def _cmapss_pool(pre: Preprocessor, rng: random.Random) -> list[dict]:
    f = pre.features
    cols = {c: (pre.mean[f.index(c)], pre.std[f.index(c)]) if c in f else (0.0, 1.0) for c in CMAPSS_COLUMNS[2:]}
    return [{c: round(m + s * rng.gauss(0, 1), 4) for c, (m, s) in cols.items()} for _ in range(1024)]


def _regime_pool(pre: Preprocessor, names: list[str], rng: random.Random) -> list[dict]:
    r = pre.regimes
    settings = np.asarray(r["center"]) + np.asarray(r["scale"]) * np.asarray(r["centroids"])  # (k, settings)
    pool = []
    for _ in range(1024):
        k = rng.randrange(len(settings))
        row = {f: r["mean"][k][j] + r["std"][k][j] * rng.gauss(0, 1) for j, f in enumerate(pre.features)}
        row.update(zip(r["settings"], settings[k].tolist()))
        pool.append({n: round(row[n], 4) for n in names})
    return pool
