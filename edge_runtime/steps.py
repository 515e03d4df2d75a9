"""Timestamped rows -> time steps on the device, by the training reader's rules (pipeline.data.rules).

A fleet whose time column holds timestamps (`resample = "1h"` in the dataset spec) trains on one row
per asset per step; the model's windows are steps and its age input is the step number. The bundle's
manifest records that rule (`preprocessing.time`, `TimeRule`), and `StepClock` applies it to a live
stream, row by row, with numpy only:

- step index: floor(epoch seconds / step_seconds) - floor(first / step_seconds) + 1, where `first` is
  the asset's first row seen (the default: an asset new when the device first sees it, as every asset
  is in training) or its configured start time (`[stream] asset_start`: an asset already in service);
- a step holds the mean of its rows per column (missing cells ignored); it is complete, and goes to
  the model, when a row of a later step arrives (or the input ends: `close_all`);
- two rows of an asset with the same timestamp: the last one is kept; a timestamp earlier than the
  asset's previous row is rejected (`out_of_order`);
- a gap of up to `max_fill` missing steps is filled with copies of the previous step; a longer one
  (training refused it, or kept it with long_gaps = "keep") is kept as a jump in time and counted
  (`long_gap`);
- a missing value is filled from the asset's previous step for up to `max_fill` steps in a row. A step
  that cannot be filled (a longer run; the asset's first step, which training fills from the next
  value the device has not seen yet) is skipped and counted (`unfilled_step`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from prognos.edge_runtime.errors import ConfigError, RowError


@dataclass
class TimeRule:
    """`preprocessing.time` of a bundle trained on timestamps resampled to a step."""

    column: str  # the time column (also the age input when the model reads it)
    step: str  # as written in the spec, e.g. "1h"
    step_seconds: float
    max_fill: int
    long_gaps: str  # the training reader's rule: "refuse" or "keep" (the device keeps and counts)

    @classmethod
    def from_dict(cls, d: dict) -> "TimeRule | None":
        """None for a cycle counter (an empty dict, or kind "cycle")."""
        if not d or d.get("kind", "cycle") == "cycle":
            return None
        if d.get("kind") != "timestamp":
            raise ConfigError(f"preprocessing.time: kind {d.get('kind')!r}; expected cycle or timestamp")
        try:
            return cls(d["column"], d["step"], float(d["step_seconds"]), int(d["max_fill"]), d["long_gaps"])
        except KeyError as e:
            raise ConfigError(f"preprocessing.time: no {e.args[0]!r}; the bundle's time rule is incomplete") from None


def iso_seconds(text: str) -> float:
    """Epoch seconds of an ISO 8601 timestamp (no offset: UTC, as the training reader) or of a number."""
    try:
        return float(text)
    except ValueError:
        pass
    text = text.strip()
    if text.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not read a Z suffix; 3.11+ does
        text = text[:-1] + "+00:00"
    d = datetime.fromisoformat(text)  # ValueError when it is not one
    return (d if d.tzinfo else d.replace(tzinfo=timezone.utc)).timestamp()


def start_seconds(value, where: str) -> float:
    """A configured asset start: ISO 8601 text or epoch seconds."""
    try:
        return iso_seconds(value) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} = {value!r}; expected an ISO 8601 timestamp or epoch seconds") from None


class _Asset:
    __slots__ = ("first", "step", "sum", "count", "last_row", "last_ts", "prev", "runs", "emitted")

    def __init__(self, first: int, step: int, width: int):
        self.first, self.step = first, step  # epoch step of its step 1; the open step's index
        self.sum, self.count = np.zeros(width), np.zeros(width)  # the open step without its last row
        self.last_row, self.last_ts = None, None
        self.prev = None  # the last step sent to the model (filled)
        self.runs = np.zeros(width, np.int64)  # missing values in a row per column
        self.emitted = 0  # index of the last step sent


class StepClock:
    """Per-asset step counters: `push(asset, ts, values)` -> the steps completed by this row."""

    def __init__(self, rule: TimeRule, warnings, starts: dict | None = None, max_assets: int = 10_000, evict=None):
        self.rule, self.warnings, self.max_assets = rule, warnings, max_assets
        self.evict = evict or (lambda asset: None)  # told when an asset is forgotten (bounded memory)
        self.starts = {str(a): start_seconds(v, f"stream.asset_start.{a}") for a, v in (starts or {}).items()}
        self._assets: OrderedDict = OrderedDict()

    def bucket(self, ts: float) -> int:
        return math.floor(ts / self.rule.step_seconds)

    def stamp(self, asset, step: int) -> str:
        """ISO time of the start of `asset`'s step `step`."""
        first = self._assets[asset].first
        return datetime.fromtimestamp((first + step - 1) * self.rule.step_seconds, timezone.utc).isoformat()

    def push(self, asset, ts: float, values) -> list[tuple[int, np.ndarray]]:
        row = np.asarray(values, np.float64)
        a = self._assets.get(asset)
        if a is None:
            return self._new(asset, ts, row)
        self._assets.move_to_end(asset)
        if ts < a.last_ts:
            raise RowError("out_of_order", f"unit {asset}: ts {ts:g} before ts {a.last_ts:g}; expected >= it")
        if ts == a.last_ts:  # the training reader keeps the last row of a duplicated time
            a.last_row = row
            self.warnings["duplicate_ts_replaced"] += 1
            return []
        step = self.bucket(ts) - a.first + 1
        if step == a.step:
            self._absorb(a, row, ts)
            return []
        out = self._close(a)
        out += self._gap(a, step)
        a.step, a.sum[:], a.count[:], a.last_row, a.last_ts = step, 0.0, 0.0, row, ts
        return out

    def _new(self, asset, ts: float, row: np.ndarray) -> list:
        start = self.starts.get(str(asset))
        first = self.bucket(ts if start is None else start)
        if self.bucket(ts) < first:
            raise RowError("out_of_order", f"unit {asset}: ts {ts:g} before its configured start {start:g}")
        if len(self._assets) >= self.max_assets:
            self.evict(self._assets.popitem(last=False)[0])
        a = self._assets[asset] = _Asset(first, self.bucket(ts) - first + 1, len(row))
        a.emitted = a.step - 1  # an asset in service starts at its age, with no gap before it
        a.last_row, a.last_ts = row, ts
        return []

    @staticmethod
    def _absorb(a: _Asset, row: np.ndarray, ts: float) -> None:
        """Fold the open step's last row into its sums (in row order, as np.add.reduceat in training)."""
        present = ~np.isnan(a.last_row)
        a.sum += np.where(present, a.last_row, 0.0)
        a.count += present
        a.last_row, a.last_ts = row, ts

    def _close(self, a: _Asset) -> list:
        """The open step's mean, filled; [] when it cannot be filled (skipped, counted)."""
        present = ~np.isnan(a.last_row)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (a.sum + np.where(present, a.last_row, 0.0)) / (a.count + present)
        return self._emit(a, a.step, mean)

    def _gap(self, a: _Asset, step: int) -> list:
        k = step - a.emitted - 1
        if k > self.rule.max_fill:
            self.warnings["long_gap"] += 1  # kept as a jump: the rows on each side keep their steps
            a.emitted = step - 1
            return []
        out = []
        for s in range(a.emitted + 1, step):
            out += self._emit(a, s, np.full(len(a.runs), np.nan))
        return out

    def _emit(self, a: _Asset, step: int, row: np.ndarray) -> list:
        gone = np.isnan(row)
        a.runs = np.where(gone, a.runs + 1, 0)
        if gone.any():
            if a.prev is None or (a.runs[gone] > self.rule.max_fill).any():
                self.warnings["unfilled_step"] += 1
                return []
            row = np.where(gone, a.prev, row)
        a.prev, a.emitted = row, step
        return [(step, row)]

    def close(self, asset) -> list[tuple[int, np.ndarray]]:
        """End of input for `asset`: its open step is complete."""
        a = self._assets.get(asset)
        if a is None or a.last_row is None:
            return []
        out, a.last_row = self._close(a), None
        return out

    @property
    def assets(self) -> list:
        return list(self._assets)
