"""Streaming RUL estimation: raw rows in, one JSON-able prediction per accepted row out.

Each unit (asset) keeps a ring buffer of its last `window` feature rows, so memory is bounded by
units x window. A rejected row is counted per reason and the stream goes on; accepted rows are
never dropped.
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from edge_runtime.bundle import Bundle
from edge_runtime.errors import RowError
from edge_runtime.intervals import apply_interval


@dataclass
class StreamStats:
    rows_in: int = 0
    accepted: int = 0
    predictions: int = 0
    rejected: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {"rows_in": self.rows_in, "accepted": self.accepted, "predictions": self.predictions,
                "rejected": dict(self.rejected), "rejected_total": sum(self.rejected.values())}


class RulStream:
    """Per-unit ring buffers in front of a bundle; `push(unit, cycle, values)` returns a prediction."""

    def __init__(self, bundle: Bundle, rul_alert: float | None = None):
        self.bundle = bundle
        self.pre = bundle.preprocessor
        alerts = bundle.manifest.get("alerts", {})
        self.rul_alert = float(rul_alert if rul_alert is not None else alerts.get("rul_below", 30))
        self._buffers: dict[int, deque] = {}
        self._last_cycle: dict[int, int] = {}
        self.stats = StreamStats()

    def push(self, unit: int, cycle: int, values: list[float]) -> dict:
        last = self._last_cycle.get(unit)
        if last is not None and cycle <= last:
            reason = "duplicate_cycle" if cycle == last else "out_of_order"
            raise RowError(reason, f"unit {unit}: cycle {cycle} after cycle {last}; expected > {last}")
        buf = self._buffers.setdefault(unit, deque(maxlen=self.pre.window))
        buf.append(self.pre.smooth_step(buf[-1] if buf else None, values))
        self._last_cycle[unit] = cycle
        self.stats.accepted += 1
        rul = self.bundle.predict(self.pre.last_window(np.asarray(buf), smoothed=True)[None])
        self.stats.predictions += 1
        out = {"unit": unit, "cycle": cycle, "rul": round(float(rul[0]), 2)}
        if self.bundle.interval:
            low, high = apply_interval(rul, self.bundle.interval)
            out.update(rul_low=round(float(low[0]), 2), rul_high=round(float(high[0]), 2))
        out["status"] = self._status(float(rul[0]), len(buf))
        return out

    def _status(self, rul: float, seen: int) -> str:
        if seen < self.pre.window:
            return "warmup"
        return "alert" if rul <= self.rul_alert else "ok"
