"""The service path of vibration bundles ("classify", "anomaly"): sample blocks of many assets in,
one prediction per window and debounced alert events out.

`VibrationEngine` keeps one `samples.AssetFramer` per asset (least recently seen forgotten beyond
`stream.max_assets`), checks each block's seq and rate against that asset's stream (a gap resets
its framing; another rate is rejected and resets it, or is resampled with `samples.resample`), and
collects the windows the block completes. `flush()` computes the DspSpec features of all pending
windows of all assets (`dsp_spec.apply_many`, the code the model was trained with) and runs them
through the backend in batches of `stream.max_batch`; the outputs are those of `prognos-edge
classify` / `anomaly` (`stream.OUTPUTS`) plus the asset, the block seq, and the class probabilities.
`SampleFeeder` turns MQTT payloads, JSON lines or file blocks into engine calls, counting every
rejected block under its reason.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
from prognos.edge_runtime import dsp_spec
from prognos.edge_runtime.alerts import AlertTracker, Rule, rules_from_manifest
from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.errors import BundleError, DataError, RowError
from prognos.edge_runtime.feed import TOO_LONG, Feeder
from prognos.edge_runtime.metrics import SampleStats
from prognos.edge_runtime.resample import resample_to_rate
from prognos.edge_runtime.sample_input import sample_items
from prognos.edge_runtime.samples import (
    AssetFramer,
    Block,
    SampleConfig,
    check_samples,
    decode,
)
from prognos.edge_runtime.stream import OUTPUTS, StreamConfig

BAD_STATUS = {"classify": "fault", "anomaly": "anomalous"}


def default_rules(bundle: Bundle) -> list[Rule]:
    """The manifest's alert rules, else "status is fault (anomalous) in 3 of the last 5 windows"."""
    rules = rules_from_manifest(bundle.manifest.get("alerts", {}))
    bad = BAD_STATUS[bundle.manifest["task"]]
    return rules or [Rule("status", "==", bad, k=3, n=5, name=f"status {bad} in 3 of 5 windows")]


def check_vibration_bundle(bundle: Bundle) -> None:
    if bundle.dsp is None or bundle.manifest["task"] not in BAD_STATUS:
        raise BundleError(
            f"{bundle.path}: task {bundle.manifest['task']!r}; the sample service runs 'classify' "
            "and 'anomaly' bundles with a DspSpec (prognos vibration / vibration-anomaly)"
        )


def verify_dsp(new: Bundle, running: Bundle, shaft_hz=None) -> Bundle:
    """A candidate vibration bundle frames the same raw stream (rate, window, hop) and runs one window."""
    check_vibration_bundle(new)
    a, b = running.dsp, new.dsp
    if new.manifest["task"] != running.manifest["task"] or (a.sample_rate, a.window, a.hop) != (
        b.sample_rate,
        b.window,
        b.hop,
    ):
        raise BundleError(
            f"{new.path}: task {new.manifest['task']!r} at {b.sample_rate:g} Hz, window {b.window}, "
            f"hop {b.hop}; the running bundle frames {running.manifest['task']!r} at "
            f"{a.sample_rate:g} Hz, window {a.window}, hop {a.hop}"
        )
    x = dsp_spec.apply_many(b, np.zeros((1, b.window), np.float32), shaft_hz)
    y = new.backend.run(x)
    if not np.all(np.isfinite(y)):
        raise BundleError(f"{new.path}: smoke inference returned non-finite outputs")
    return new


class VibrationEngine:
    """Sample blocks of many assets in, batched window predictions and alert events out."""

    def __init__(
        self,
        bundle: Bundle,
        samples: SampleConfig | None = None,
        config: StreamConfig | None = None,
        rules: list[Rule] | None = None,
    ):
        check_vibration_bundle(bundle)
        self.samples = samples or SampleConfig()
        self.config = config or StreamConfig()
        self.shaft_hz = self.samples.shaft_hz
        self.stats = SampleStats()
        self.alerts = AlertTracker(rules if rules is not None else default_rules(bundle))
        self._framers: OrderedDict[str, AssetFramer] = OrderedDict()
        self._frames: list[np.ndarray] = []
        self._meta: list[tuple] = []
        self._set_bundle(bundle)

    def _set_bundle(self, bundle: Bundle) -> None:
        # the device's own bearing (kind fault_orders reads its fault orders); at load and at every hot-swap
        spec = dsp_spec.with_bearing(bundle.dsp, self.samples.bearing) if self.samples.bearing else bundle.dsp
        # one silent window first: a spec that needs a shaft speed the config lacks fails here, at start-up
        dsp_spec.apply_many(spec, np.zeros((1, spec.window), np.float32), self.shaft_hz)
        self.bundle, self.spec = bundle, spec
        self.task = bundle.manifest["task"]

    @property
    def n_assets(self) -> int:
        return len(self._framers)

    @property
    def pending(self) -> int:
        return len(self._meta)

    def close_steps(self) -> bool:
        """End of input (the Feeder's protocol, stream.StreamEngine.close_steps): sample windows are cut
        only when complete, so nothing stays open; True while cut windows wait for a flush."""
        return self.pending > 0

    def _framer(self, asset: str) -> AssetFramer:
        fr = self._framers.get(asset)
        if fr is not None:
            self._framers.move_to_end(asset)
            return fr
        if len(self._framers) >= self.config.max_assets:
            old, _ = self._framers.popitem(last=False)
            self.alerts.forget(old)
            self.stats.assets_evicted += 1
        fr = self._framers[asset] = AssetFramer(self.spec.window, self.spec.hop)
        return fr

    def add(self, block: Block, where: str = "") -> bool:
        """Accept one checked block (or raise RowError); True when a batch of windows is due."""
        fr = self._framer(block.asset)
        where = where or f"asset {block.asset} seq {block.seq}"
        if fr.next_seq is not None and block.seq < fr.next_seq:
            raise RowError(
                "out_of_order", f"{where}: seq {block.seq} after {fr.next_seq - 1}; expected >= {fr.next_seq}"
            )
        if fr.next_seq is not None and block.seq > fr.next_seq:
            self.stats.gaps += 1
            fr.reset()
        fr.next_seq = block.seq + 1
        x = block.samples
        rate = self.spec.sample_rate
        if abs(block.rate_hz - rate) > 1e-6 * rate:
            if not self.samples.resample:
                fr.reset()
                raise RowError(
                    "rate_mismatch",
                    f"{where}: rate {block.rate_hz:g} Hz, the bundle's is {rate:g} Hz; "
                    "framing reset (set samples.resample = true to resample)",
                )
            x = resample_to_rate(x, block.rate_hz, rate)
            self.stats.resampled += 1
        frames, starts, first = fr.push(x)
        self.stats.blocks_accepted += 1
        self.stats.samples_in += len(block.samples)
        if len(frames):
            self._frames.append(frames.copy())
            self._meta += [(block.asset, first + i, s, block.seq) for i, s in enumerate(starts)]
        return len(self._meta) >= self.config.max_batch

    def flush(self) -> tuple[list[dict], list[dict]]:
        """Features and inference of every pending window, in batches: (predictions, alert events)."""
        if not self._meta:
            return [], []
        frames, meta = np.concatenate(self._frames), self._meta
        self._frames, self._meta = [], []
        preds, events = [], []
        for i in range(0, len(meta), self.config.max_batch):
            self._run(frames[i : i + self.config.max_batch], meta[i : i + self.config.max_batch], preds, events)
        self.stats.recent.append((time.monotonic(), self.stats.predictions))
        return preds, events

    def _run(self, frames: np.ndarray, meta: list[tuple], preds: list, events: list) -> None:
        t0 = time.perf_counter()
        x = dsp_spec.apply_many(self.spec, frames, self.shaft_hz)
        t1 = time.perf_counter()
        raw = self.bundle.backend.run(x).reshape(len(x), -1)
        self.stats.dsp.observe(t1 - t0)
        self.stats.latency.observe(time.perf_counter() - t1)
        self.stats.batches += 1
        self.stats.predictions += len(x)
        names = self.bundle.classes or [str(k) for k in range(raw.shape[1])]
        rules = bool(self.alerts.rules)
        for (asset, idx, start, seq), f, r in zip(meta, OUTPUTS[self.task](self.bundle, raw, x), raw.tolist()):
            out = {"asset": asset, "window": idx, "start": start, "seq": seq, **f}
            if self.task == "classify":
                out["probs"] = {n: round(p, 4) for n, p in zip(names, r)}
            preds.append(out)
            if rules:
                events += self.alerts.update(asset, "window", idx, out)

    def swap(self, bundle: Bundle) -> None:
        """Use `bundle` from the next window on (same rate, window and hop: the framing carries over)."""
        if self._meta:
            raise BundleError("swap: windows are pending; flush() before swapping the model")
        verify_dsp(bundle, self.bundle, self.shaft_hz)
        self._set_bundle(bundle)


class SampleFeeder(Feeder):
    """Feeds MQTT payloads (JSON or binary blocks), JSON-lines blocks or file blocks into a VibrationEngine."""

    def __init__(self, engine: VibrationEngine, log_per_minute: int = 20, log=None):
        super().__init__(engine, log_per_minute, log)
        self.cfg = engine.samples

    def _feed(self, make_blocks) -> tuple[list, list]:
        """`make_blocks` yields (where, thunk -> Block); each thunk may raise RowError."""
        preds, events = [], []
        for where, thunk in make_blocks:
            self.engine.stats.blocks_in += 1
            self._accept(lambda thunk=thunk, where=where: self.engine.add(thunk(), where), preds, events)
        self._flush(preds, events)
        return preds, events

    def feed_payloads(self, messages) -> tuple[list, list]:
        """MQTT messages (topic, payload bytes): one block each."""
        c = self.cfg
        return self._feed(
            (f"topic {t}", lambda t=t, p=p: decode(p, f"topic {t}", c.max_block_bytes, c.max_asset_len))
            for t, p in messages
        )

    def feed_lines(self, lines) -> tuple[list, list]:
        """JSON lines, one block object each (stdin or a file with samples.format = "jsonl")."""

        def blocks():
            for line in lines:
                self.lineno += 1
                if line is not TOO_LONG and not line.strip():
                    continue
                yield f"line {self.lineno}", lambda line=line, n=self.lineno: self._line_block(line, n)

        return self._feed(blocks())

    def _line_block(self, line, lineno: int) -> Block:
        if line is TOO_LONG:
            raise RowError("too_large", f"line {lineno}: longer than the line limit; dropped")
        return decode(line.encode(), f"line {lineno}", self.cfg.max_block_bytes, self.cfg.max_asset_len)

    def feed_blocks(self, blocks) -> tuple[list, list]:
        """Blocks cut from a sample file or stream (samples checked here)."""
        return self._feed((f"asset {b.asset} block {b.seq}", lambda b=b: _checked(b)) for b in blocks)

    def items(self, src, stopping=None):
        """Queue items of a sample file or stream; a bad header is logged and ends the input."""
        try:
            yield from sample_items(src, self.cfg, self.engine.spec.sample_rate, stopping)
        except DataError as e:
            self._log(f"prognos-edge: input stopped: {e}")


def _checked(b: Block) -> Block:
    check_samples(b.samples, f"asset {b.asset} block {b.seq}")
    return b
