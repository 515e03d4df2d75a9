"""The device service: inputs -> one bounded queue -> stream engine -> sinks, plus health, metrics, hot-swap.

Input threads (a file or stdin read in chunks, or paho's MQTT thread) put items into one bounded
queue; the main loop takes what is there (MQTT messages are drained together so windows of several
assets share one backend call), feeds the engine, writes predictions and alert events to their
sinks, and between batches polls the watched folder or acts on SIGHUP (hot-swap) and SIGTERM (stop).
Everything the engine counts is served by the optional HTTP endpoint under a lock.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time

from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.config import ServiceConfig
from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.feed import Feeder
from prognos.edge_runtime.hotswap import BundleWatcher, log_signer, try_swap
from prognos.edge_runtime.metrics import prometheus
from prognos.edge_runtime.samples import SampleConfig
from prognos.edge_runtime.stream import StreamEngine

STALE_SECONDS = 5.0  # /healthz fails when the main loop has not ticked for this long


_ENCODE = json.JSONEncoder(check_circular=False).encode  # json.dumps' output, minus its per-call setup


def to_json_line(obj: dict) -> str:
    return _ENCODE(obj) + "\n"


_LOG_LOCK = threading.Lock()


def _log(msg: str) -> None:
    """One whole line per message: the MQTT publisher's and subscriber's threads log at the same time, and
    print() writes the text and its newline separately (two lines could merge into one)."""
    with _LOG_LOCK:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()


class _Sink:
    """A JSON-lines writer to stdout, a file (appended), or nowhere."""

    def __init__(self, where: str):
        self.f = None if where == "none" else sys.stdout if where == "-" else open(where, "a", encoding="utf-8")

    def write(self, objs: list[dict]) -> None:
        if self.f is not None and objs:
            self.f.write("".join(map(to_json_line, objs)))
            self.f.flush()

    def close(self) -> None:
        if self.f not in (None, sys.stdout):
            self.f.close()


class Service:
    def __init__(self, cfg: ServiceConfig, log=_log):
        if not cfg.bundle:
            raise ConfigError('service: no bundle; pass --bundle DIR or set bundle = "DIR" in the config')
        self.cfg, self.log = cfg, log
        self.trust = cfg.trust()
        bundle = Bundle(cfg.bundle, num_threads=cfg.threads, trust=self.trust)
        log_signer(bundle, self.trust, log)
        self.engine, self.feeder = _pipeline(bundle, cfg, log)
        # bounded: at most 64 chunks of <= 16 KB of lines, or 64 MQTT messages, wait to be processed
        self.queue: queue.Queue = queue.Queue(maxsize=64)
        self.lock = threading.Lock()
        self.started = self.heartbeat = time.monotonic()
        self.stopping = threading.Event()
        self.reload = threading.Event()
        self.watcher = BundleWatcher(cfg.watch) if cfg.watch else None
        self.mqtt = None
        self.http = None
        self.source = None  # a binary file object to read instead of cfg.input (soak, tests)

    def health(self) -> tuple[bool, dict]:
        with self.lock:
            age = time.monotonic() - self.heartbeat
            body = {
                "model_sha256": self.engine.bundle.sha256,
                "bundle": str(self.engine.bundle.path),
                "config": os.path.realpath(self.cfg.source) if self.cfg.source else None,
                "pid": os.getpid(),
                "uptime_s": round(time.monotonic() - self.started, 1),
                **self.engine.stats.health(),
            }
        mqtt_down = self.mqtt.problem() if self.mqtt else ""
        reason = (
            "main loop stalled for %.1f s" % age
            if age > STALE_SECONDS
            else f"MQTT not connected ({mqtt_down})"
            if mqtt_down
            else ""
        )
        return not reason, {"status": "unhealthy" if reason else "ok", **({"reason": reason} if reason else {}), **body}

    def metrics_text(self) -> str:
        with self.lock:
            extra = {
                "prognos_alerts_active": ("Alerts currently raised.", self.engine.alerts.active),
                "prognos_assets": ("Assets with a window in memory.", self.engine.n_assets),
                "prognos_uptime_seconds": ("Seconds since start.", round(time.monotonic() - self.started, 1)),
                "prognos_mqtt_publish_dropped": (
                    "MQTT publishes dropped (paho's outgoing queue full).",
                    self.mqtt.dropped if self.mqtt else 0,
                ),
            }
            return prometheus(self.engine.stats, self.engine.bundle.sha256, extra)

    def run(self) -> int:
        self._signals()
        finite = self._start_inputs()
        if self.cfg.http.port:
            from prognos.edge_runtime.httpd import start_http

            self.http = start_http(self, self.cfg.http.host, self.cfg.http.port)
        preds_sink = _Sink(self.cfg.predictions)
        alert_sink = _Sink(self.cfg.alerts)
        try:
            self._loop(finite, preds_sink, alert_sink)
        finally:
            for closer in (
                self.mqtt and self.mqtt.stop,
                self.http and self.http.shutdown,
                preds_sink.close,
                alert_sink.close,
            ):
                if closer:
                    closer()
        self.log(json.dumps({"summary": self.engine.stats.to_dict()}))
        return 0

    def _take(self) -> list:
        """The next queue item (waiting up to 0.2 s) and the MQTT messages queued behind it."""
        try:
            items = [self.queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        while items[-1][0] == "mqtt" and len(items) < self.cfg.stream.max_batch:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _drain_mqtt(self, preds_sink: _Sink, alert_sink: _Sink) -> None:
        """On stop: disconnect, and process what MQTT already delivered (the broker counts it as ours)."""
        stopper = threading.Thread(target=self.mqtt.stop)
        stopper.start()  # paho's thread may be blocked on our full queue: keep taking while it ends
        while stopper.is_alive() or not self.queue.empty():
            self._process(self._take(), preds_sink, alert_sink)
        self.mqtt = None

    def _loop(self, finite: bool, preds_sink: _Sink, alert_sink: _Sink) -> None:
        next_poll = time.monotonic()
        while not self.stopping.is_set():
            done = self._process(self._take(), preds_sink, alert_sink)
            if self.reload.is_set() or (self.watcher and time.monotonic() >= next_poll):
                self._maybe_swap()
                next_poll = time.monotonic() + self.cfg.poll_seconds
            if done and finite:
                return
        if self.mqtt and self.mqtt.subscribe:
            self._drain_mqtt(preds_sink, alert_sink)

    def _process(self, items, preds_sink, alert_sink) -> bool:
        done = False
        with self.lock:
            self.heartbeat = time.monotonic()
            preds, events = [], []
            mqtt_msgs = [item for kind, item in items if kind == "mqtt"]
            for kind, item in items:
                if kind in ("lines", "blocks"):
                    p, e = getattr(self.feeder, "feed_" + kind)(item)
                    preds += p
                    events += e
                if kind == "eof" and hasattr(self.feeder, "finish"):  # open time steps complete at the end
                    p, e = self.feeder.finish()
                    preds += p
                    events += e
                done = done or kind == "eof"
            if mqtt_msgs:
                p, e = self.feeder.feed_payloads(mqtt_msgs)
                preds += p
                events += e
        preds_sink.write(preds)
        alert_sink.write(events)
        if self.mqtt:
            self.mqtt.publish(preds, events)
        return done

    def _maybe_swap(self) -> None:
        forced = self.reload.is_set()
        self.reload.clear()
        path = self.watcher.poll(force=forced) if self.watcher else (self.cfg.bundle if forced else None)
        if path is not None:
            with self.lock:
                try_swap(self.engine, path, self.log, self.cfg.threads, self.trust)

    def _start_inputs(self) -> bool:
        """Start the input thread(s); True if the input ends (a file or stdin), False for MQTT."""
        from_mqtt = self.cfg.input == "mqtt"
        if from_mqtt and not self.cfg.mqtt.host:
            raise ConfigError("input 'mqtt' needs [mqtt] host = \"...\" (or --mqtt HOST:PORT)")
        if self.cfg.mqtt.host:  # with another input, MQTT only publishes
            from prognos.edge_runtime.mqtt import MqttIO

            self.mqtt = MqttIO(self.cfg.mqtt, self.queue, self.log, subscribe=from_mqtt)
            self.mqtt.start()
        if from_mqtt:
            return False
        src = self.source or (sys.stdin.buffer if self.cfg.input == "-" else _open(self.cfg.input))
        threading.Thread(target=self._read, args=(src,), name="prognos-input", daemon=True).start()
        return True

    def _read(self, src) -> None:
        try:
            for item in self.feeder.items(src, self.stopping):
                self.queue.put(item)
        finally:
            self.queue.put(("eof", None))

    def _signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGHUP, lambda *_: self.reload.set())
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())  # Ctrl-C: stop cleanly, print the summary


SAMPLE_ONLY = ("format", "follow", "asset", "bearing", "shaft_hz")  # [samples] settings a row stream cannot use


def _pipeline(bundle: Bundle, cfg: ServiceConfig, log):
    """(engine, feeder): rows of a 'rul' bundle, or raw sample blocks of a vibration bundle (vib_service)."""
    if bundle.dsp is None:
        vibration_only = [k for k in SAMPLE_ONLY if getattr(cfg.samples, k) != getattr(SampleConfig, k)]
        if vibration_only:  # a setting that would silently do nothing
            raise ConfigError(
                f"{bundle.path}: a {bundle.manifest['task']!r} bundle of sensor rows; {', '.join(vibration_only)} "
                "(--samples, --follow, --asset, --bearing, --shaft-hz or [samples] of the config) are for "
                "vibration bundles of raw samples"
            )
        engine = StreamEngine(bundle, cfg.stream, cfg.rules or None, cfg.rul_alert)
        return engine, Feeder(engine, cfg.log_rejected, log)
    from prognos.edge_runtime.vib_service import SampleFeeder, VibrationEngine

    engine = VibrationEngine(bundle, cfg.samples, cfg.stream, cfg.rules or None)
    return engine, SampleFeeder(engine, cfg.log_rejected, log)


def _open(path: str):
    try:
        return open(path, "rb")
    except OSError as e:
        raise ConfigError(f"{path}: cannot open the input file ({e.strerror})") from None
