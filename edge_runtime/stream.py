"""Stream engine: per-asset ring buffers -> batched windows -> one backend call -> predictions + alerts.

Each asset keeps a ring of its last `window` raw rows, stored twice in a (2 x window, F) array so
the latest window is always one contiguous slice (no reordering copy per row); the first row fills
the whole ring, which is exactly the "edge" front padding of `Preprocessor.last_window`. Memory is
bounded by max_assets x 2 x window x F floats (the least recently seen asset is forgotten beyond
`max_assets`) plus one (max_batch, window, F) batch array.

`add()` accepts a row (or raises `RowError`: duplicate or out-of-order time) and, when the asset is
due, copies its window into the next batch slot; `flush()` normalizes the batch and runs it in one
backend call: onnxruntime takes the whole batch (dynamic batch dimension), LiteRT runs it on
interpreters resized to the batch (edge_runtime.backends). Accepted rows are never dropped: every
due window gets a prediction.

Out-of-distribution flag: when the manifest carries `input_ranges` (export.bundle), the newest row of
each window is compared with the training range of every feature; the prediction gets
"ood": [features outside] and `stats.ood` counts per feature. Each row is checked once, as it
enters; the prediction itself is unchanged.
"""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from prognos.edge_runtime.alerts import AlertTracker, Rule, rules_from_manifest
from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.dsp import reconstruction_mse
from prognos.edge_runtime.errors import BundleError, ConfigError, RowError
from prognos.edge_runtime.metrics import StreamStats
from prognos.edge_runtime.steps import StepClock, TimeRule


@dataclass
class StreamConfig:
    max_batch: int = 64  # windows per backend call; 64 amortizes onnxruntime's per-call overhead
    max_assets: int = 10_000  # bounded memory: ~10k x 2 x 30 x 14 floats = 34 MB at most
    stride: int = 1  # predict every stride-th accepted row of an asset (1: every row, as `predict` did)
    asset_start: dict = field(default_factory=dict)  # bundles on timestamps: asset id -> the time its step 1
    #   began (ISO 8601 or epoch seconds), for assets already in service; unlisted assets are new at their
    #   first row the device sees (edge_runtime.steps)

    def __post_init__(self):
        for name in ("max_batch", "max_assets", "stride"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"stream: {name} must be a positive integer, got {getattr(self, name)!r}")


class _Ring:
    __slots__ = ("data", "seen", "last_t", "ema", "unknown_at")

    def __init__(self, row: np.ndarray, window: int):
        self.data = np.repeat(row[None], 2 * window, axis=0)
        self.seen, self.last_t, self.ema = 0, None, None  # ema: float64 smoothing state, as in training
        self.unknown_at = None  # `seen` count of the last row in an unknown operating regime

    def append(self, row: np.ndarray, window: int) -> np.ndarray:
        """Store `row`; returns the latest window (oldest first) as a view."""
        i = self.seen % window
        self.data[i] = row
        self.data[i + window] = row
        self.seen += 1
        return self.data[i + 1 : i + 1 + window]


def rul_outputs(bundle: Bundle, raw: np.ndarray, inputs=None) -> list[dict]:
    """Task 'rul', raw outputs (N, 1) -> cycles: {"rul"}, plus {"rul_low", "rul_high"} if the bundle is calibrated.

    The interval is `intervals.apply_interval` per value in plain Python (bisect_right == np.digitize):
    for the usual small batches that is several times cheaper than numpy's per-call overhead.
    """
    y = bundle.rul_of(raw)
    spec = bundle.interval
    if not spec:
        return [{"rul": round(v, 2)} for v in y.tolist()]
    edges, widths = spec["edges"], spec["half_width"]
    out = []
    for v in y.tolist():
        q = widths[bisect.bisect_right(edges, v)]
        out.append({"rul": round(v, 2), "rul_low": round(min(v, max(0.0, v - q)), 2), "rul_high": round(v + q, 2)})
    return out


def classify_outputs(bundle: Bundle, raw: np.ndarray, inputs=None) -> list[dict]:
    """Task 'classify', softmax outputs (N, classes) -> {"class", "prob", "status"}: "ok" for the normal
    class (postprocessing.normal_class), else "fault"."""
    names = bundle.classes or [str(i) for i in range(raw.shape[1])]
    normal = bundle.manifest["postprocessing"].get("normal_class")
    out = []
    for k, p in zip(raw.argmax(1).tolist(), raw.max(1).tolist()):
        out.append({"class": names[k], "prob": round(p, 4), "status": "ok" if names[k] == normal else "fault"})
    return out


def anomaly_outputs(bundle: Bundle, raw: np.ndarray, inputs: np.ndarray) -> list[dict]:
    """Task 'anomaly', reconstructions of the model `inputs` -> {"score", "threshold", "status"}.

    score = mean squared reconstruction error per window (dsp.reconstruction_mse, numpy, on the device);
    status "anomalous" above the manifest's postprocessing.threshold, else "healthy".
    """
    threshold = float(bundle.manifest["postprocessing"]["threshold"])
    return [
        {"score": round(v, 6), "threshold": round(threshold, 6), "status": "anomalous" if v > threshold else "healthy"}
        for v in reconstruction_mse(inputs, raw).tolist()
    ]


# task -> (bundle, raw (N, outputs) model outputs, the (N, ...) model inputs) -> one dict per window
OUTPUTS = {"rul": rul_outputs, "classify": classify_outputs, "anomaly": anomaly_outputs}


class StreamEngine:
    """Raw rows of many assets in, batched predictions and debounced alert events out."""

    def __init__(
        self,
        bundle: Bundle,
        config: StreamConfig | None = None,
        rules: list[Rule] | None = None,
        rul_alert: float | None = None,
    ):
        self.config = config or StreamConfig()
        self.stats = StreamStats()
        alerts = bundle.manifest.get("alerts", {})
        self.rul_alert = float(rul_alert if rul_alert is not None else alerts.get("rul_below", 30))
        self.alerts = AlertTracker(rules if rules is not None else rules_from_manifest(alerts, rul_alert))
        self._rings: OrderedDict = OrderedDict()
        self._set_bundle(bundle)

    def _set_bundle(self, bundle: Bundle) -> None:
        self.bundle, self.pre = bundle, bundle.preprocessor
        self.window = self.pre.window
        # with regimes, rows enter the rings already normalized per regime: the batch step is an identity
        regimes = bool(self.pre.regimes)
        self._mean = np.zeros(self.pre.width, np.float32) if regimes else np.asarray(self.pre.mean, np.float32)
        self._std = np.ones(self.pre.width, np.float32) if regimes else np.asarray(self.pre.std, np.float32)
        rule = TimeRule.from_dict(self.pre.time)
        if rule is None:
            self.clock = None
        elif getattr(self, "clock", None) is None or self.clock.rule != rule:
            self.clock = StepClock(
                rule, self.stats.warnings, self.config.asset_start, self.config.max_assets, self._forget
            )
        room = self.config.max_batch + (rule.max_fill + 1 if rule else 0)  # one row can complete several steps
        self._batch = np.empty((room, self.window, self.pre.width), np.float32)
        self._age = self.pre.inputs.index(rule.column) if rule and rule.column in self.pre.inputs else None
        self._meta: list[tuple] = []
        self._ranges = _normalized_ranges(bundle)

    def _forget(self, asset) -> None:
        """The clock forgot `asset` (max_assets): its ring goes too (the clock holds every ring's asset)."""
        self.stats.assets_evicted += 1
        if self._rings.pop(asset, None) is not None:
            self.alerts.forget(asset)

    @property
    def pending(self) -> int:
        return len(self._meta)

    @property
    def n_assets(self) -> int:
        return len(self._rings)

    def add(self, asset, t, values) -> bool:
        """Accept one parsed row; True when the batch is full and `flush()` is due. A bundle trained on
        timestamps (`self.clock`) gets its rows' `row_inputs` and epoch seconds: the rows become steps."""
        if self.clock is None:
            return self._add(asset, t, values)
        if len(values) != len(self.pre.row_inputs):
            raise RowError("malformed", f"unit {asset}: {len(values)} values, expected {len(self.pre.row_inputs)}")
        self._steps(asset, self.clock.push(asset, t, values))
        self.stats.accepted += 1
        return len(self._meta) >= self.config.max_batch

    def close_steps(self) -> bool:
        """End of input: every asset's open step is complete (a no-op without a clock); True when a
        flush is due. Call it again after the flush until it returns False."""
        for asset in list(self.clock.assets if self.clock else []):
            if len(self._meta) >= self.config.max_batch:
                return True
            self._steps(asset, self.clock.close(asset))
        return len(self._meta) > 0

    def _steps(self, asset, steps) -> None:
        for step, row in steps:
            row = row.tolist()
            if self._age is not None:
                row.insert(self._age, float(step))
            self._add(asset, step, row, stamp=self.clock.stamp(asset, step))

    def _add(self, asset, t, values, stamp: str | None = None) -> bool:
        """One row (without a clock) or one completed step (`stamp`: the ISO start of the step) into its ring."""
        ring = self._rings.get(asset)
        if ring is not None and ring.last_t is not None and t <= ring.last_t:
            reason = "duplicate_cycle" if t == ring.last_t else "out_of_order"
            key = "cycle" if isinstance(t, int) else "ts"
            raise RowError(reason, f"unit {asset}: {key} {t} after {key} {ring.last_t}; expected > {ring.last_t}")
        if len(values) != len(self.pre.inputs):
            raise RowError("malformed", f"unit {asset}: {len(values)} values, expected {len(self.pre.inputs)}")
        regime = None
        if self.pre.regimes:  # normalized per regime on arrival, as Preprocessor.regime_rows in training
            values, regime, known = self.pre.regime_step(values)
            if not known:
                self.stats.unknown_regime += 1
        row = np.asarray(values, np.float32)
        if ring is None:
            ring = self._new_ring(asset, row)
        else:
            self._rings.move_to_end(asset)
        if self.pre.smoothing:  # the rings hold smoothed rows: s_t = α x_t + (1 - α) s_{t-1}
            ring.ema = self.pre.smooth_step(ring.ema, values)
            row = ring.ema.astype(np.float32)
        win = ring.append(row, self.window)
        ring.last_t = t
        if regime is not None and not known:
            ring.unknown_at = ring.seen
        self.stats.accepted += stamp is None  # with a clock, `add` counts the rows
        if (ring.seen - 1) % self.config.stride == 0:
            self._batch[len(self._meta)] = win
            unknown = ring.unknown_at is not None and ring.seen - ring.unknown_at < self.window
            self._meta.append((asset, t, ring.seen, regime, unknown, stamp))
        return len(self._meta) >= self.config.max_batch

    def _new_ring(self, asset, row: np.ndarray) -> _Ring:
        if len(self._rings) >= self.config.max_assets:
            old, _ = self._rings.popitem(last=False)
            self.alerts.forget(old)
            self.stats.assets_evicted += 1
        ring = self._rings[asset] = _Ring(row, self.window)
        return ring

    def flush(self) -> tuple[list[dict], list[dict]]:
        """Run the pending windows in one backend call: (predictions, alert events), in arrival order."""
        n = len(self._meta)
        if n == 0:
            return [], []
        x = self._batch[:n]  # scratch space: normalized in place, (x - mean) / std as Preprocessor.normalize
        x -= self._mean
        x /= self._std
        t0 = time.perf_counter()
        raw = self.bundle.backend.run(x).reshape(n, -1)
        self.stats.latency.observe(time.perf_counter() - t0)
        self.stats.batches += 1
        self.stats.predictions += n
        fields = OUTPUTS[self.bundle.manifest["task"]](self.bundle, raw, x)
        if self._ranges is not None:
            self._flag_ood(x[:, -1], fields)
        preds, events, rules = [], [], bool(self.alerts.rules)
        for (asset, t, seen, regime, unknown, stamp), f in zip(self._meta, fields):
            key = "step" if self.clock else ("cycle" if type(t) is int else "ts")
            when = {key: t, "ts": stamp} if stamp else {key: t}
            out = {"unit": asset, **when, **f, "status": "unknown_regime" if unknown else self._status(f, seen)}
            if regime is not None:
                out["regime"] = regime
            preds.append(out)
            if rules and seen >= self.window:  # padded warm-up windows do not feed alerts
                events += self.alerts.update(asset, key, t, out)
        self._meta.clear()
        return preds, events

    def _flag_ood(self, newest: np.ndarray, fields: list[dict]) -> None:
        """Add "ood": [feature names] to the outputs whose newest normalized row leaves the training range."""
        low, high = self._ranges
        outside = (newest < low) | (newest > high)
        for i in np.flatnonzero(outside.any(1)).tolist():
            names = [self.pre.features[j] for j in np.flatnonzero(outside[i]).tolist()]
            fields[i]["ood"] = names
            self.stats.ood.update(names)

    def _status(self, f: dict, seen: int) -> str:
        if seen < self.window:
            return "warmup"
        if "rul" not in f:  # anomaly / classify outputs carry their own status
            return f.get("status", "ok")
        return "alert" if f.get("rul", float("inf")) <= self.rul_alert else "ok"

    def swap(self, bundle: Bundle) -> None:
        """Use `bundle` from the next window on; it must read the same features with the same window."""
        if self._meta:
            raise BundleError("swap: windows are pending; flush() before swapping the model")
        check_compatible(self.bundle, bundle)
        self._set_bundle(bundle)


def _normalized_ranges(bundle: Bundle):
    """The manifest's input_ranges as normalized (low, high) arrays in feature order, or None."""
    r = bundle.manifest.get("input_ranges")
    if not r:
        return None
    if r.get("features") != bundle.preprocessor.features:
        raise BundleError(
            f"{bundle.path}: input_ranges features {r.get('features')} are not the preprocessing's "
            f"{bundle.preprocessor.features}"
        )
    return tuple(bundle.preprocessor.normalize(np.asarray(r[k], np.float64)) for k in ("low", "high"))


def check_compatible(old: Bundle, new: Bundle) -> None:
    """The asset rings hold rows of `old`'s features: `new` must read and normalize them the same way."""
    a, b = old.preprocessor, new.preprocessor
    if b is None:
        raise BundleError(
            f"{new.path}: a {new.manifest['task']!r} bundle of raw samples; the running bundle reads sensor rows"
        )
    if a.features != b.features or a.window != b.window or a.regimes != b.regimes or a.time != b.time:
        raise BundleError(
            f"{new.path}: input spec window={b.window} features={b.features} is not compatible "
            f"with the running bundle's window={a.window} features={a.features}"
        )
    if new.manifest["task"] != old.manifest["task"]:
        raise BundleError(
            f"{new.path}: task {new.manifest['task']!r}, the running bundle's is {old.manifest['task']!r}"
        )


class RulStream(StreamEngine):
    """One row in, its prediction out (the original per-row API, batch of one)."""

    def push(self, unit, cycle, values) -> dict:
        self.add(unit, cycle, values)
        return self.flush()[0][0]
