"""MQTT in and out against a real mosquitto broker on 127.0.0.1: rows in, predictions and alerts out."""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.conftest import ROOT, free_port
from tests.test_service import get, wait_for

pytestmark = pytest.mark.edge  # runs in the prognos-edge venvs too (tests/conftest.py)


def ready_when_subscribed(c, topics) -> threading.Event:
    """An event set once `c` is connected and, with topics, the broker acknowledged them: messages published
    before the SUBACK are not delivered to us."""
    ready = threading.Event()

    def on_connect(client, userdata, flags, rc, props):
        if topics:
            client.subscribe([(t, 1) for t in topics])
        else:
            ready.set()

    c.on_connect = on_connect
    c.on_subscribe = lambda *a: ready.set()
    return ready


def _client(host, port, topics=()):
    got = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    ready = ready_when_subscribed(c, topics)
    c.on_message = lambda client, userdata, msg: got.append((msg.topic, json.loads(msg.payload)))
    c.connect(host, port)
    c.loop_start()
    assert ready.wait(10)
    return c, got


def test_mqtt_rows_in_predictions_and_alerts_out(tiny_run, sim_dir, mqtt_broker):
    host, port = mqtt_broker
    http = free_port()
    bundle = tiny_run["dir"] / "bundles" / "onnx_fp32"
    features = json.loads((bundle / "manifest.json").read_text())["preprocessing"]["features"]
    exe = Path(sys.executable).parent / "prognos-edge"
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--bundle",
            str(bundle),
            "--input",
            "mqtt",
            "--mqtt",
            f"{host}:{port}",
            "--http",
            str(http),
            "--predictions",
            "none",
            "--rul-alert",
            "1000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    sub, got = _client(host, port, ["prognos/predictions/#", "prognos/alerts/#"])
    pub, _ = _client(host, port)
    failure = None

    def cycles():  # QoS 1 is at least once: the broker may hand us a prediction twice (the service's own
        return {m["cycle"] for t, m in list(got) if t == "prognos/predictions/engine_1"}  # count is checked below

    try:
        wait_for(lambda: get(f"http://127.0.0.1:{http}/healthz")[0] == 200, what="service connected")
        from prognos.edge_runtime.schema import CMAPSS_COLUMNS

        rows = [
            dict(zip(CMAPSS_COLUMNS, map(float, line.split())))
            for line in (sim_dir / "test_SIM.txt").read_text().splitlines()
        ]
        unit1 = [
            {"asset": "engine/1", "cycle": int(r["cycle"]), **{f: r[f] for f in features}}
            for r in rows
            if r["unit"] == 1
        ][:35]
        for i in range(0, 35, 5):  # a JSON list of 5 rows per message
            pub.publish("prognos/sensors/engine1", json.dumps(unit1[i : i + 5]), qos=1).wait_for_publish()
        pub.publish("prognos/sensors/engine1", b"{broken", qos=1).wait_for_publish()
        pub.publish("prognos/sensors/engine1", json.dumps(unit1[34]), qos=1).wait_for_publish()
        try:
            wait_for(lambda: len(cycles()) == 35, timeout=60, what="35 predictions")
            wait_for(lambda: any(t.startswith("prognos/alerts/") for t, _ in got), what="an alert")
            metrics = wait_for(
                lambda: (lambda m: 'reason="duplicate_cycle"} 1' in m and m)(
                    get(f"http://127.0.0.1:{http}/metrics")[1]
                ),
                what="the duplicate counted",
            )
        except AssertionError as e:
            failure = e
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        sub.loop_stop()
        pub.loop_stop()
    assert failure is None, (
        f"{failure}: {len(got)} messages, cycles {sorted(cycles())}; service stderr:\n{err.decode()[-3000:]}"
    )
    preds = [m for t, m in got if t == "prognos/predictions/engine_1"]
    seen = [p["cycle"] for p in preds]
    assert sorted(set(seen)) == list(range(1, 36)) and seen == sorted(seen) and preds[0]["unit"] == "engine/1"
    alerts = [m for t, m in got if t == "prognos/alerts/engine_1"]
    window = json.loads((bundle / "manifest.json").read_text())["preprocessing"]["window"]
    assert len(alerts) == 1 and alerts[0]["alert"] == "raised" and alerts[0]["cycle"] == window + 2
    assert 'prognos_rows_rejected_total{reason="malformed"} 1' in metrics
    summary = json.loads(err.decode().strip().splitlines()[-1])["summary"]
    assert summary["accepted"] == 35 and summary["predictions"] == 35 and summary["rejected_total"] == 2
    assert proc.returncode == 0


def test_health_fails_without_broker(tiny_run):
    http, dead = free_port(), free_port()
    exe = Path(sys.executable).parent / "prognos-edge"
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--bundle",
            str(tiny_run["dir"] / "bundles" / "tflite_int8"),
            "--input",
            "mqtt",
            "--mqtt",
            f"127.0.0.1:{dead}",
            "--http",
            str(http),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        status, body = wait_for(
            lambda: (lambda r: "refused" in r[1] and r)(get(f"http://127.0.0.1:{http}/healthz")),
            what="/healthz with the reason",
        )
        reason = json.loads(body)["reason"]
        assert status == 503 and reason.startswith("MQTT not connected") and "Connection refused" in reason, reason
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
