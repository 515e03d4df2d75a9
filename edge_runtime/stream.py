"""Stream engine: per-asset ring buffers -> batched windows -> one backend call -> predictions + alerts.

Each asset keeps a ring of its last `window` raw rows, stored twice so the latest window is always
one contiguous slice; the first row fills the whole ring, which is exactly the "edge" front padding
of `Preprocessor.last_window` (edge_runtime.rings: all rings in one array). Memory is
bounded by max_assets x 2 x window x F floats (the least recently seen asset is forgotten beyond
`max_assets`) plus one (max_batch, window, F) batch array.

`add()` accepts a row (or raises `RowError`: duplicate or out-of-order time) and, when the asset is
due, copies its window into the next batch slot; `add_rows()` does the same for many rows, with the
per-tick work (regimes, smoothing, ring update, window gather) as numpy over the rows of distinct
assets, and gives exactly what `add` row by row gives; `flush()` normalizes the batch and runs it in one
backend call: onnxruntime takes the whole batch (dynamic batch dimension), LiteRT runs it on
interpreters resized to the batch (edge_runtime.backends). Accepted rows are never dropped: every
due window gets a prediction.

Out-of-distribution flag: when the manifest carries `input_ranges` (export.bundle), the newest row of
each window is compared with the training range of every feature; the prediction gets
"ood": [features outside] and `stats.ood` counts per feature. Each row is checked once, as it
enters; the prediction itself is unchanged.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from prognos.edge_runtime.alerts import AlertTracker, Rule, rules_from_manifest
from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.dsp import reconstruction_mse
from prognos.edge_runtime.errors import BundleError, ConfigError, RowError
from prognos.edge_runtime.intervals import apply_interval
from prognos.edge_runtime.metrics import StreamStats
from prognos.edge_runtime.rings import Rings
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


def rul_outputs(bundle: Bundle, raw: np.ndarray, inputs=None) -> list[dict]:
    """Task 'rul', raw outputs (N, 1) -> cycles: {"rul"}, plus {"rul_low", "rul_high"} if the bundle is
    calibrated (`intervals.apply_interval`, as training's coverage check); rounded as numpy over the batch."""
    y = bundle.rul_of(raw).astype(np.float64)
    rul = np.round(y, 2).tolist()
    if not bundle.interval:
        return [{"rul": v} for v in rul]
    low, high = (np.round(b, 2).tolist() for b in apply_interval(y, bundle.interval))
    return [{"rul": v, "rul_low": lo, "rul_high": hi} for v, lo, hi in zip(rul, low, high)]


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
        self._rings: OrderedDict = OrderedDict()  # asset -> its slot in self._pool, least recently seen first
        self._set_bundle(bundle)
        self._pool = Rings(self.window, self.pre.width)

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
        self._ood_names: dict[bytes, list[str]] = {}  # an outside-mask's feature names, computed once

    def _forget(self, asset) -> None:
        """The clock forgot `asset` (max_assets): its ring goes too (the clock holds every ring's asset)."""
        self.stats.assets_evicted += 1
        slot = self._rings.pop(asset, None)
        if slot is not None:
            self._pool.release(slot)
            self.alerts.forget(asset)

    @property
    def pending(self) -> int:
        return len(self._meta)

    @property
    def n_assets(self) -> int:
        return len(self._rings)

    def add(self, asset, t, values) -> bool:
        """Accept one parsed row (or raise `RowError`); True when the batch is full and `flush()` is due. A
        bundle trained on timestamps (`self.clock`) gets its rows' `row_inputs` and epoch seconds: the rows
        become steps."""
        if self.clock is None:
            self._check(asset, t, values)
            self._take([(asset, t, values)])
            return len(self._meta) >= self.config.max_batch
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
        """Completed steps (`stamp`: the ISO start of the step) into the asset's ring, one by one."""
        for step, row in steps:
            row = row.tolist()
            if self._age is not None:
                row.insert(self._age, float(step))
            self._check(asset, step, row)
            self._take([(asset, step, row)], [self.clock.stamp(asset, step)])

    def add_rows(self, rows) -> tuple[list[dict], list[dict], list[RowError]]:
        """Accept parsed rows (asset, t, values) in order, flushing each full batch: (predictions, alert
        events, the rows' RowErrors). Rows of distinct assets go through numpy together (`_take`); a
        segment ends before an asset it already holds, at the batch's free room (so batches, and so
        outputs, are exactly those of `add` row by row) and around a row that evicts an asset. Rows on
        timestamps (a step clock) go through `add` one by one."""
        if self.clock is not None:
            return self._add_each(rows)
        preds, events, errors, seg, held, fresh = [], [], [], [], set(), 0
        for row in rows:
            asset = row[0]
            unseen = asset not in self._rings
            evicts = unseen and len(self._rings) + fresh >= self.config.max_assets
            if seg and (asset in held or evicts or len(seg) >= self.config.max_batch - len(self._meta)):
                self._take_and_flush(seg, preds, events)
                seg, held, fresh = [], set(), 0
                unseen = asset not in self._rings
                evicts = unseen and len(self._rings) >= self.config.max_assets
            try:
                self._check(*row)
            except RowError as e:
                errors.append(e)
                continue
            seg.append(row)
            held.add(asset)
            fresh += unseen
            if evicts:
                self._take_and_flush(seg, preds, events)
                seg, held, fresh = [], set(), 0
        if seg:
            self._take_and_flush(seg, preds, events)
        return preds, events, errors

    def _add_each(self, rows) -> tuple[list[dict], list[dict], list[RowError]]:
        preds, events, errors = [], [], []
        for row in rows:
            try:
                full = self.add(*row)
            except RowError as e:
                errors.append(e)
                continue
            if full:
                p, e = self.flush()
                preds += p
                events += e
        return preds, events, errors

    def _take_and_flush(self, seg, preds: list, events: list) -> None:
        self._take(seg)
        if len(self._meta) >= self.config.max_batch:
            p, e = self.flush()
            preds += p
            events += e

    def _check(self, asset, t, values) -> None:
        slot = self._rings.get(asset)
        last = None if slot is None else self._pool.last_t[slot]
        if last is not None and t <= last:
            reason = "duplicate_cycle" if t == last else "out_of_order"
            key = "cycle" if isinstance(t, int) else "ts"
            raise RowError(reason, f"unit {asset}: {key} {t} after {key} {last}; expected > {last}")
        if len(values) != len(self.pre.inputs):
            raise RowError("malformed", f"unit {asset}: {len(values)} values, expected {len(self.pre.inputs)}")

    def _take(self, seg, stamps=None) -> None:
        """Checked rows of distinct assets (at most the batch's free room) into the rings and the batch;
        `stamps`: the rows are a clock's steps (counted as rows by `add`)."""
        pool, pre, n = self._pool, self.pre, len(seg)
        x = np.array([v for _, _, v in seg], np.float64)
        labels = known = None
        if pre.regimes:  # normalized per regime on arrival, as Preprocessor.regime_rows in training
            labels, known = pre.regime_of(x)
            x = pre.regime_rows(x)
            self.stats.unknown_regime += int(n - known.sum())
        slots, new = self._slots(seg)
        if pre.smoothing:  # the rings hold smoothed rows
            x = pool.smooth(pre, slots, x, new)
        i = pool.append(slots, x.astype(np.float32), new)
        seen = pool.seen[slots]
        if known is not None:
            pool.unknown_at[slots[~known]] = seen[~known]
        due = np.flatnonzero((seen - 1) % self.config.stride == 0)
        p = len(self._meta)
        pool.windows(slots[due], i[due], self._batch[p : p + len(due)])
        unknown = (seen - pool.unknown_at[slots] < self.window).tolist()
        regimes = [None] * n if labels is None else labels.tolist()
        seen = seen.tolist()
        stamps = stamps or [None] * n
        self._meta += [(seg[k][0], seg[k][1], seen[k], regimes[k], unknown[k], stamps[k]) for k in due.tolist()]
        self.stats.accepted += n if stamps[0] is None else 0

    def _slots(self, seg) -> tuple[np.ndarray, np.ndarray]:
        """Each row's ring slot (a new one for an unseen asset, forgetting the least recently seen asset
        beyond `max_assets`) and which are new; records the rows' times."""
        rings, pool = self._rings, self._pool
        slots, new = [], []
        for asset, t, _ in seg:
            slot = rings.get(asset)
            new.append(slot is None)
            if slot is not None:
                rings.move_to_end(asset)
            else:
                if len(rings) >= self.config.max_assets:
                    old, freed = rings.popitem(last=False)
                    pool.release(freed)
                    self.alerts.forget(old)
                    self.stats.assets_evicted += 1
                slot = rings[asset] = pool.allocate()
            pool.last_t[slot] = t
            slots.append(slot)
        return np.array(slots, np.intp), np.array(new, bool)

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
        preds, events, status, window = [], [], self._status, self.window
        update = self.alerts.update if self.alerts.rules else None
        for (asset, t, seen, regime, unknown, stamp), f in zip(self._meta, fields):
            key = "step" if self.clock else ("cycle" if type(t) is int else "ts")
            out = {"unit": asset, key: t}
            if stamp:
                out["ts"] = stamp
            out.update(f)
            out["status"] = "unknown_regime" if unknown else status(f, seen)
            if regime is not None:
                out["regime"] = regime
            preds.append(out)
            if update and seen >= window:  # padded warm-up windows do not feed alerts
                events += update(asset, key, t, out)
        self._meta.clear()
        return preds, events

    def _flag_ood(self, newest: np.ndarray, fields: list[dict]) -> None:
        """Add "ood": [feature names] to the outputs whose newest normalized row leaves the training range."""
        low, high = self._ranges
        newest = newest[:, : len(low)]  # the features; a regime one-hot (data.regime_onehot) follows them
        outside = (newest < low) | (newest > high)
        rows = np.flatnonzero(outside.any(1))
        if not len(rows):
            return
        feats, names_of, masks = self.pre.features, self._ood_names, outside[rows]
        for i, mask in zip(rows.tolist(), masks):
            key = mask.tobytes()
            names = names_of.get(key)
            if names is None:
                names = [feats[j] for j in np.flatnonzero(mask).tolist()]
                if len(names_of) < 4096:  # bounded: 2^features masks are possible
                    names_of[key] = names
            fields[i]["ood"] = list(names)
        counts = masks.sum(0)
        for j in np.flatnonzero(counts).tolist():
            self.stats.ood[feats[j]] += int(counts[j])

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
