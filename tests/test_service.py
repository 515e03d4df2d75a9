"""The device service: hot-swap verification, /healthz + /metrics, SIGHUP, config files."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.config import ServiceConfig
from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.feed import Feeder
from prognos.edge_runtime.hotswap import BundleWatcher, try_swap
from prognos.edge_runtime.schema import CMAPSS_COLUMNS
from prognos.edge_runtime.stream import StreamEngine

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.edge  # runs in the prognos-edge venvs too (tests/conftest.py)


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(fn, timeout: float = 20.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = fn()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def tamper(bundle_dir: Path) -> Path:
    model = next(p for p in bundle_dir.iterdir() if p.name.startswith("model."))
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    return bundle_dir


def test_swap_between_windows_uses_the_new_model(tiny_run, sim_dir, tmp_path):
    bundles = tiny_run["dir"] / "bundles"
    engine = StreamEngine(Bundle(bundles / "onnx_fp32"))
    feeder = Feeder(engine)
    lines = (sim_dir / "test_SIM.txt").read_text().splitlines()[:40]
    before, _ = feeder.feed_lines(lines[:35])
    bad = tamper(shutil.copytree(bundles / "tflite_int8", tmp_path / "bad"))
    logs = []
    assert not try_swap(engine, bad, logs.append)
    assert engine.stats.swaps["refused"] == 1 and "refused, keeping" in logs[-1] and "sha256" in logs[-1]
    assert try_swap(engine, bundles / "tflite_int8", logs.append)
    assert engine.bundle.sha256 == Bundle(bundles / "tflite_int8").sha256 and engine.stats.swaps["ok"] == 1
    after, _ = feeder.feed_lines(lines[35:])
    ref = Bundle(bundles / "tflite_int8")
    rows = np.array([[float(x) for x in ln.split()] for ln in lines])
    idx = [CMAPSS_COLUMNS.index(f) for f in ref.preprocessor.features]
    for i, p in enumerate(after, 35):  # the windows after the swap: the new model, the old history
        want = ref.predict(ref.preprocessor.last_window(rows[: i + 1, idx])[None])[0]
        assert p["rul"] == pytest.approx(float(want), abs=0.011)
    assert len(before) == 35 and len(after) == 5


def test_incompatible_bundle_is_refused(tiny_run, tmp_path):
    bundles = tiny_run["dir"] / "bundles"
    engine = StreamEngine(Bundle(bundles / "onnx_fp32"))
    other = shutil.copytree(bundles / "onnx_fp32", tmp_path / "other")
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["preprocessing"]["features"] = list(reversed(manifest["preprocessing"]["features"]))
    (other / "manifest.json").write_text(json.dumps(manifest))
    logs = []
    assert not try_swap(engine, other, logs.append)
    assert "is not compatible with the running bundle" in logs[-1]


def test_vibration_settings_on_a_row_bundle_are_refused(tiny_run, capsys):
    from prognos.edge_runtime.cli import main

    bundle = str(tiny_run["dir"] / "bundles" / "onnx_fp32")
    assert main(["serve", "--bundle", bundle, "--input", "/dev/null", "--bearing", "6203", "--allow-unsigned"]) == 2
    assert "a 'rul' bundle of sensor rows; bearing (--samples" in capsys.readouterr().err
    assert main(["serve", "--bundle", bundle, "--input", "/dev/null", "--follow", "--allow-unsigned"]) == 2
    assert "sensor rows; follow (--samples, --follow" in capsys.readouterr().err


def test_watcher_sees_a_new_bundle_once(tiny_run, tmp_path):
    watch = tmp_path / "watch"
    watch.mkdir()
    w = BundleWatcher(watch)
    assert w.poll() is None
    shutil.copytree(tiny_run["dir"] / "bundles" / "tflite_int8", watch / "v2")
    assert w.poll() == watch / "v2"
    assert w.poll() is None and w.poll(force=True) == watch / "v2"


def test_config_file(tmp_path):
    (tmp_path / "edge.toml").write_text(
        'bundle = "bundle"\ninput = "mqtt"\n[mqtt]\nhost = "127.0.0.1"\nport = 1884\n[http]\nport = 9100\n'
        '[stream]\nmax_batch = 8\n[[rules]]\nfield = "rul"\nop = "<"\nthreshold = 20\nk = 2\nn = 3\n'
    )
    cfg = ServiceConfig.load(tmp_path / "edge.toml")
    assert cfg.bundle == str(tmp_path / "bundle") and cfg.mqtt.port == 1884 and cfg.http.port == 9100
    assert cfg.stream.max_batch == 8 and (cfg.rules[0].threshold, cfg.rules[0].k) == (20, 2)
    (tmp_path / "bad.toml").write_text("[stream]\nmax_bacth = 8\n")
    with pytest.raises(ConfigError, match=r"\[service.stream\]: unknown keys \['max_bacth'\]"):
        ServiceConfig.load(tmp_path / "bad.toml")


def test_example_config_loads():
    from prognos.edge_runtime.deploy import DEFAULT_CONFIG, service_config

    path = ROOT / "edge_runtime" / "device" / "edge.example.toml"
    cfg = ServiceConfig.load(path)
    assert cfg.input == "mqtt" and cfg.http.port == 9100 and cfg.rules[0].hysteresis == 5.0
    text, cfg = service_config(None, ["keys/key0.pub"])
    assert cfg.bundle == "bundle" and cfg.trusted_keys == ["keys/key0.pub"] and text.startswith('bundle = "bundle"')
    with pytest.raises(ConfigError, match="no trusted key; pass --trust"):
        service_config(None)
    assert "[http]" in DEFAULT_CONFIG


def test_serve_health_metrics_and_hot_swap(tiny_run, sim_dir, tmp_path):
    bundles = tiny_run["dir"] / "bundles"
    watch = tmp_path / "watch"
    watch.mkdir()
    port = free_port()
    exe = Path(sys.executable).parent / "prognos-edge"
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--bundle",
            str(bundles / "onnx_fp32"),
            "--http",
            str(port),
            "--watch",
            str(watch),
            "--alerts",
            str(tmp_path / "alerts.jsonl"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        status, body = wait_for(lambda: get(base + "/healthz"), what="/healthz")
        assert status == 200 and json.loads(body)["model_sha256"] == Bundle(bundles / "onnx_fp32").sha256
        lines = (sim_dir / "test_SIM.txt").read_text().splitlines()
        proc.stdin.write(("\n".join(lines[:50] + ["1 2 garbage"]) + "\n").encode())
        proc.stdin.flush()
        wait_for(lambda: "prognos_rows_in_total 51" in get(base + "/metrics")[1], what="rows counted")
        metrics = get(base + "/metrics")[1]
        assert 'prognos_rows_rejected_total{reason="malformed"} 1' in metrics
        assert "prognos_inferences_total 50" in metrics and 'prognos_inference_seconds_bucket{le="+Inf"}' in metrics
        tamper(shutil.copytree(bundles / "tflite_fp32", watch / "broken"))
        wait_for(
            lambda: 'prognos_model_swaps_total{result="refused"} 1' in get(base + "/metrics")[1], what="refused swap"
        )
        new_sha = Bundle(bundles / "tflite_int8").sha256
        shutil.copytree(bundles / "tflite_int8", watch / "v2")
        wait_for(lambda: f'sha256="{new_sha}"' in get(base + "/metrics")[1], what="hot-swap")
        shutil.rmtree(watch / "v2")
        os.utime(watch / "broken")
        proc.send_signal(signal.SIGHUP)  # reload: the newest bundle in the folder is the broken one again
        wait_for(
            lambda: 'prognos_model_swaps_total{result="refused"} 2' in get(base + "/metrics")[1], what="SIGHUP reload"
        )
        assert json.loads(get(base + "/healthz")[1])["model_sha256"] == new_sha
        out, err = proc.communicate(("\n".join(lines[50:80]) + "\n").encode(), timeout=30)
    finally:
        proc.kill()
    preds = [json.loads(x) for x in out.decode().splitlines()]
    summary = json.loads(err.decode().strip().splitlines()[-1])["summary"]
    assert len(preds) == summary["accepted"] == 80 and summary["rejected"] == {"malformed": 1}
    assert summary["swaps"] == {"refused": 2, "ok": 1}
