"""The vibration service path end to end on this machine: simulated sample blocks published over MQTT to
`prognos-edge serve`, an alert raised on a bearing fault and cleared after the "repair".

A mosquitto broker on 127.0.0.1 is used if one answers on `port`, else started for the demo (and
stopped after). `serve` subscribes to prognos/sensors/# with the vibration bundle; two assets publish
0.1 s binary blocks at real-time pace: pump-1 healthy, then an inner-race fault, then healthy again
(the repair); pump-2 healthy throughout. Predictions and alert events are collected from the broker
(prognos/predictions/#, prognos/alerts/#) into the output folder, and /metrics is saved at the end.
Alert times are the end of the window that raised or cleared them, in seconds of the asset's stream.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.samples import encode_binary
from prognos.pipeline.data.bearing_sim import simulate_recording
from prognos.pipeline.data.cwru import SAMPLE_RATE

PHASES = (("normal", 0, 3.0), ("inner_race", 21, 4.0), ("normal", 0, 4.0))  # pump-1: healthy, fault, repaired


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
        return True
    except OSError:
        return False


def ensure_broker(port: int, out: Path):
    """None if a broker answers on 127.0.0.1:port, else a mosquitto process started for the demo."""
    if _listening(port):
        return None
    exe = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if exe is None:
        raise ConfigError(
            f"no MQTT broker on 127.0.0.1:{port} and no mosquitto to start; "
            "apt-get install mosquitto (or start any broker there)"
        )
    (out / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [exe, "-c", str(out / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait(lambda: _listening(port), f"mosquitto on 127.0.0.1:{port}")
    return proc


def _wait(fn, what: str, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return
        time.sleep(0.1)
    raise ConfigError(f"timed out waiting for {what}")


def _healthy(http: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _collector(port: int, got: list):
    import paho.mqtt.client as mqtt

    ready = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_connect = lambda cl, *a: (cl.subscribe([("prognos/predictions/#", 1), ("prognos/alerts/#", 1)]), ready.set())
    c.on_message = lambda cl, ud, msg: got.append((msg.topic, json.loads(msg.payload)))
    c.connect("127.0.0.1", port)
    c.loop_start()
    ready.wait(10)
    return c


def signals(seed: int = 1) -> dict[str, np.ndarray]:
    """pump-1: healthy, fault, healthy (PHASES); pump-2 healthy for as long."""
    pump1 = np.concatenate([simulate_recording(f, s, 0, sec, seed=seed + i) for i, (f, s, sec) in enumerate(PHASES)])
    pump2 = simulate_recording("normal", 0, 0, len(pump1) / SAMPLE_RATE, seed=seed + 10)
    return {"pump-1": pump1.astype(np.float32), "pump-2": pump2.astype(np.float32)}


def publish(port: int, streams: dict, block_s: float = 0.1, pace: float = 1.0) -> int:
    """Publish every stream in binary blocks of block_s seconds at `pace` x real time; returns the block count."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.connect("127.0.0.1", port)
    c.loop_start()
    n, t0, sent = int(SAMPLE_RATE * block_s), time.monotonic(), 0
    for seq, start in enumerate(range(0, min(map(len, streams.values())), n)):
        for asset, x in streams.items():
            c.publish(f"prognos/sensors/{asset}", encode_binary(asset, seq, SAMPLE_RATE, x[start : start + n]), qos=1)
            sent += 1
        time.sleep(max(0.0, t0 + (seq + 1) * block_s / pace - time.monotonic()))
    c.loop_stop()
    return sent


def run_demo(bundle, out, port: int = 1883, http: int = 9108, pace: float = 1.0) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    broker, got = ensure_broker(port, out), []
    with open(out / "serve.log", "w") as log:
        serve = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "prognos-edge"),
                "serve",
                "--bundle",
                str(bundle),
                "--input",
                "mqtt",
                "--mqtt",
                f"127.0.0.1:{port}",
                "--http",
                str(http),
                "--predictions",
                "none",
                "--alerts",
                "none",
            ],
            stderr=log,
        )
    try:
        _wait(lambda: _healthy(http), "prognos-edge serve /healthz")
        sub = _collector(port, got)
        streams = signals()
        sent = publish(port, streams, pace=pace)
        spec = json.loads((Path(bundle) / "manifest.json").read_text())["preprocessing"]["dsp"]
        want = sum((len(x) - spec["window"]) // spec["hop"] + 1 for x in streams.values())
        _wait(lambda: sum(t.startswith("prognos/predictions/") for t, _ in got) >= want, f"{want} windows")
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=5) as r:
            (out / "metrics.txt").write_text(r.read().decode())
        sub.loop_stop()
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(30)
        if broker is not None:
            broker.terminate()
            broker.wait(10)
    return _summarize(out, got, sent, spec)


def _summarize(out: Path, got: list, sent: int, spec: dict) -> dict:
    preds = [m for t, m in got if t.startswith("prognos/predictions/")]
    alerts = [m for t, m in got if t.startswith("prognos/alerts/")]
    (out / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    (out / "alerts.jsonl").write_text("".join(json.dumps(a) + "\n" for a in alerts))

    def seconds(a):  # the end of the alert's window, in seconds of the asset's stream
        return round((a["window"] * spec["hop"] + spec["window"]) / SAMPLE_RATE, 2)

    return {
        "blocks_published": sent,
        "windows": len(preds),
        "alerts": [{"asset": a["asset"], "alert": a["alert"], "at_s": seconds(a), "rule": a["rule"]} for a in alerts],
        "phases_pump_1": [{"signal": f if f == "normal" else f"{f} {s} mils", "seconds": sec} for f, s, sec in PHASES],
        "out": str(out),
    }
