"""Service counters and the Prometheus text exposition format (version 0.0.4), stdlib only.

`StreamStats` is what the stream counts (rows in, rejections per reason, inferences, a latency
histogram of backend calls, hot-swaps); `prometheus(stats, sha256)` renders it for `/metrics`.
"""
from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

_LABEL_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1.0)


def sample(name: str, value, **labels) -> str:
    """One sample line; label values escaped per the text format (backslash, double quote, line feed)."""
    if not labels:
        return f"{name} {value}"
    inner = ",".join(f'{k}="{str(v).translate(_LABEL_ESCAPES)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {value}"


@dataclass
class Histogram:
    """Cumulative-bucket histogram (Prometheus semantics: bucket `le` counts observations <= le)."""

    buckets: tuple = BUCKETS
    counts: list = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds
        self.n += 1

    def lines(self, name: str) -> list[str]:
        out, running = [], 0
        for le, c in zip([*map(repr, self.buckets), "+Inf"], self.counts):
            running += c
            out.append(sample(f"{name}_bucket", running, le=le))
        return out + [f"{name}_sum {self.total:.6f}", f"{name}_count {self.n}"]


@dataclass
class StreamStats:
    rows_in: int = 0
    accepted: int = 0
    predictions: int = 0
    batches: int = 0
    rejected: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)
    assets_evicted: int = 0
    swaps: Counter = field(default_factory=Counter)  # ok / refused
    latency: Histogram = field(default_factory=Histogram)

    def reject(self, reason: str) -> None:
        self.rejected[reason] += 1

    def to_dict(self) -> dict:
        return {"rows_in": self.rows_in, "accepted": self.accepted, "predictions": self.predictions,
                "rejected": dict(self.rejected), "rejected_total": sum(self.rejected.values()),
                "warnings": dict(self.warnings), "batches": self.batches,
                "assets_evicted": self.assets_evicted, "swaps": dict(self.swaps)}


def prometheus(stats: StreamStats, sha256: str, extra: dict | None = None) -> str:
    """The /metrics page. `extra` adds gauges {name: (help, value)}."""
    lines = []

    def metric(name, kind, help_, samples):
        lines.extend([f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *samples])

    metric("prognos_rows_in_total", "counter", "Rows read from all inputs.", [f"prognos_rows_in_total {stats.rows_in}"])
    metric("prognos_rows_accepted_total", "counter", "Rows accepted into an asset window.",
           [f"prognos_rows_accepted_total {stats.accepted}"])
    metric("prognos_rows_rejected_total", "counter", "Rows rejected, by reason.",
           [sample("prognos_rows_rejected_total", c, reason=r) for r, c in sorted(stats.rejected.items())])
    metric("prognos_row_warnings_total", "counter", "Accepted rows with something odd, by kind.",
           [sample("prognos_row_warnings_total", c, kind=k) for k, c in sorted(stats.warnings.items())])
    metric("prognos_inferences_total", "counter", "Windows run through the model.",
           [f"prognos_inferences_total {stats.predictions}"])
    metric("prognos_inference_batches_total", "counter", "Backend calls (one per batch of windows).",
           [f"prognos_inference_batches_total {stats.batches}"])
    metric("prognos_inference_seconds", "histogram", "Latency of one backend call (a batch of windows).",
           stats.latency.lines("prognos_inference_seconds"))
    metric("prognos_model_swaps_total", "counter", "Hot-swaps of the model bundle, by result.",
           [sample("prognos_model_swaps_total", c, result=r) for r, c in sorted(stats.swaps.items())])
    metric("prognos_model_info", "gauge", "The model bundle in use (value 1).",
           [sample("prognos_model_info", 1, sha256=sha256)])
    for name, (help_, value) in (extra or {}).items():
        metric(name, "gauge", help_, [f"{name} {value}"])
    return "\n".join(lines) + "\n"
