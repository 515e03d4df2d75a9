"""Service counters and the Prometheus text exposition format (version 0.0.4), stdlib only.

`StreamStats` is what the row stream counts (rows in, rejections per reason, inferences, a latency
histogram of backend calls, hot-swaps), `SampleStats` what the vibration service counts (blocks,
samples, gaps, windows, DSP time); `prometheus(stats, sha256)` renders either for `/metrics`.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter, deque
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
    unknown_regime: int = 0  # accepted rows whose settings are far from every training regime (edge_runtime.regimes)
    swaps: Counter = field(default_factory=Counter)  # ok / refused
    ood: Counter = field(default_factory=Counter)  # rows outside the training range, per feature
    latency: Histogram = field(default_factory=Histogram)

    def reject(self, reason: str) -> None:
        self.rejected[reason] += 1

    def to_dict(self) -> dict:
        return {
            "rows_in": self.rows_in,
            "accepted": self.accepted,
            "predictions": self.predictions,
            "rejected": dict(self.rejected),
            "rejected_total": sum(self.rejected.values()),
            "warnings": dict(self.warnings),
            "batches": self.batches,
            "assets_evicted": self.assets_evicted,
            "swaps": dict(self.swaps),
            "ood": dict(self.ood),
            "unknown_regime": self.unknown_regime,
        }

    def health(self) -> dict:
        return {"rows_in": self.rows_in, "predictions": self.predictions}

    def families(self) -> list[tuple]:
        """(name, type, help, sample lines) of the input counters."""
        return [
            (
                "prognos_rows_in_total",
                "counter",
                "Rows read from all inputs.",
                [f"prognos_rows_in_total {self.rows_in}"],
            ),
            (
                "prognos_rows_accepted_total",
                "counter",
                "Rows accepted into an asset window.",
                [f"prognos_rows_accepted_total {self.accepted}"],
            ),
            (
                "prognos_rows_rejected_total",
                "counter",
                "Rows rejected, by reason.",
                [sample("prognos_rows_rejected_total", c, reason=r) for r, c in sorted(self.rejected.items())],
            ),
            (
                "prognos_row_warnings_total",
                "counter",
                "Accepted rows with something odd, by kind.",
                [sample("prognos_row_warnings_total", c, kind=k) for k, c in sorted(self.warnings.items())],
            ),
            (
                "prognos_ood_rows_total",
                "counter",
                "Rows outside the training range of a feature (the manifest's input_ranges), by feature.",
                [sample("prognos_ood_rows_total", c, feature=f) for f, c in sorted(self.ood.items())],
            ),
            (
                "prognos_rows_unknown_regime_total",
                "counter",
                "Accepted rows whose operating settings are far from "
                "every training regime (their predictions have status unknown_regime).",
                [sample("prognos_rows_unknown_regime_total", self.unknown_regime)],
            ),
        ]


@dataclass
class SampleStats:
    """What the vibration service counts: blocks of raw samples in, windows out (edge_runtime.vib_service)."""

    blocks_in: int = 0
    blocks_accepted: int = 0
    samples_in: int = 0  # samples of accepted blocks
    predictions: int = 0  # windows run through the model
    batches: int = 0
    gaps: int = 0  # seq gaps: the asset's framing was reset
    resampled: int = 0  # blocks at another rate, resampled to the bundle's (samples.resample = true)
    rejected: Counter = field(default_factory=Counter)  # blocks, by reason (samples.REASONS)
    assets_evicted: int = 0
    swaps: Counter = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)  # backend calls
    dsp: Histogram = field(default_factory=Histogram)  # DspSpec features of one batch of windows
    recent: deque = field(default_factory=lambda: deque(maxlen=64))  # (monotonic s, windows) after each batch

    def reject(self, reason: str) -> None:
        self.rejected[reason] += 1

    def windows_per_s(self, span: float = 10.0) -> float:
        """Windows per second over the batches of the last `span` seconds (0 when idle)."""
        now = time.monotonic()
        pts = [(t, n) for t, n in self.recent if now - t <= span]
        if len(pts) < 2:
            return 0.0
        return round((pts[-1][1] - pts[0][1]) / max(now - pts[0][0], 1e-3), 2)

    def to_dict(self) -> dict:
        return {
            "blocks_in": self.blocks_in,
            "blocks_accepted": self.blocks_accepted,
            "samples_in": self.samples_in,
            "windows": self.predictions,
            "gaps": self.gaps,
            "resampled": self.resampled,
            "rejected": dict(self.rejected),
            "rejected_total": sum(self.rejected.values()),
            "batches": self.batches,
            "assets_evicted": self.assets_evicted,
            "swaps": dict(self.swaps),
        }

    def health(self) -> dict:
        return {"blocks_in": self.blocks_in, "samples_in": self.samples_in, "windows": self.predictions}

    def families(self) -> list[tuple]:
        return [
            (
                "prognos_blocks_in_total",
                "counter",
                "Sample blocks read from all inputs.",
                [f"prognos_blocks_in_total {self.blocks_in}"],
            ),
            (
                "prognos_blocks_rejected_total",
                "counter",
                "Sample blocks rejected, by reason.",
                [sample("prognos_blocks_rejected_total", c, reason=r) for r, c in sorted(self.rejected.items())],
            ),
            (
                "prognos_samples_received_total",
                "counter",
                "Samples of accepted blocks.",
                [f"prognos_samples_received_total {self.samples_in}"],
            ),
            (
                "prognos_sample_gaps_total",
                "counter",
                "Sequence gaps (the asset's framing was reset).",
                [f"prognos_sample_gaps_total {self.gaps}"],
            ),
            (
                "prognos_blocks_resampled_total",
                "counter",
                "Blocks resampled to the bundle's rate.",
                [f"prognos_blocks_resampled_total {self.resampled}"],
            ),
            (
                "prognos_windows_per_second",
                "gauge",
                "Windows per second over the last 10 s.",
                [f"prognos_windows_per_second {self.windows_per_s()}"],
            ),
            (
                "prognos_dsp_seconds",
                "histogram",
                "DSP features of one batch of windows.",
                self.dsp.lines("prognos_dsp_seconds"),
            ),
        ]


def prometheus(stats, sha256: str, extra: dict | None = None) -> str:
    """The /metrics page of a StreamStats or a SampleStats. `extra` adds gauges {name: (help, value)}."""
    lines = []

    def metric(name, kind, help_, samples):
        lines.extend([f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *samples])

    for family in stats.families():
        metric(*family)
    metric(
        "prognos_inferences_total",
        "counter",
        "Windows run through the model.",
        [f"prognos_inferences_total {stats.predictions}"],
    )
    metric(
        "prognos_inference_batches_total",
        "counter",
        "Backend calls (one per batch of windows).",
        [f"prognos_inference_batches_total {stats.batches}"],
    )
    metric(
        "prognos_inference_seconds",
        "histogram",
        "Latency of one backend call (a batch of windows).",
        stats.latency.lines("prognos_inference_seconds"),
    )
    metric(
        "prognos_model_swaps_total",
        "counter",
        "Hot-swaps of the model bundle, by result.",
        [sample("prognos_model_swaps_total", c, result=r) for r, c in sorted(stats.swaps.items())],
    )
    metric(
        "prognos_model_info",
        "gauge",
        "The model bundle in use (value 1).",
        [sample("prognos_model_info", 1, sha256=sha256)],
    )
    for name, (help_, value) in (extra or {}).items():
        metric(name, "gauge", help_, [f"{name} {value}"])
    return "\n".join(lines) + "\n"
