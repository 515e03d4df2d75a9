"""`prognos-edge serve` with vibration bundles: sample blocks in (MQTT JSON/binary on a real mosquitto, a
followed .npy file, stdin, a FIFO, WAV), one classification per window out, equal to `prognos-edge
classify` on the same samples; gaps and rate changes reset framing; every bad block counted under its
reason; k-of-n label alerts raise on a fault and clear after a repair; hot-swap of vibration bundles.
The bundle is conftest's tiny `vib_run` (trained once per session)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import wave
from pathlib import Path

import numpy as np
import pytest
from prognos.edge_runtime.alerts import AlertTracker, Rule
from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.errors import ConfigError, DataError
from prognos.edge_runtime.hotswap import try_swap
from prognos.edge_runtime.sample_input import sample_items
from prognos.edge_runtime.samples import (
    HEADER,
    MAGIC,
    AssetFramer,
    SampleConfig,
    decode,
    encode_binary,
    encode_json,
)
from prognos.edge_runtime.vib_service import SampleFeeder, VibrationEngine
from prognos.edge_runtime.vibration import vibration_stream
from prognos.pipeline.data.bearing_sim import simulate_recording

from tests.conftest import ROOT, free_port, run_cli
from tests.test_mqtt import _client
from tests.test_service import get, wait_for

RATE = 12000.0
EXE = Path(sys.executable).parent / "prognos-edge"


def _sim(fault="inner_race", size=14, seconds=1.0, seed=5) -> np.ndarray:
    return simulate_recording(fault, size, 0, seconds, seed=seed).astype(np.float32)


def _key(preds):
    return [(p["window"], p["start"], p["class"], p["prob"]) for p in preds]


@pytest.fixture(scope="module")
def int8(vib_run):
    return vib_run[0] / "bundles" / "tflite_int8"


def _feeder(bundle_dir, **samples) -> SampleFeeder:
    return SampleFeeder(VibrationEngine(Bundle(bundle_dir), SampleConfig(**samples)), log=lambda m: None)


def _blocks(asset, x, size, seq0=0, rate=RATE, enc=encode_json):
    return [
        (f"prognos/sensors/{asset}", enc(asset, seq0 + i, rate, x[s : s + size]))
        for i, s in enumerate(range(0, len(x), size))
    ]


def test_framer_cuts_windows_at_window_and_hop_across_blocks():
    x = np.arange(10_000, dtype=np.float32)
    fr, got, starts = AssetFramer(2048, 1024), [], []
    for s in range(0, len(x), 700):  # blocks that do not divide the hop
        frames, st, _ = fr.push(x[s : s + 700])
        got += list(frames)
        starts += st
    assert starts == list(range(0, 10_000 - 2048 + 1, 1024))
    assert all(np.array_equal(f, x[s : s + 2048]) for f, s in zip(got, starts))
    assert len(fr.buf) < 2048  # bounded: never a full window left over
    sparse = AssetFramer(100, 250)  # hop > window: the samples between windows are skipped
    assert sparse.push(np.arange(1000, dtype=np.float32))[1] == [0, 250, 500, 750]


def test_binary_and_json_blocks_decode_to_the_same_samples():
    x = np.linspace(-1, 1, 300, dtype=np.float32)
    b = decode(encode_binary("pump-7", 42, RATE, x), "t", 1 << 20)
    j = decode(encode_json("pump-7", 42, RATE, x), "t", 1 << 20)
    assert (b.asset, b.seq, b.rate_hz) == (j.asset, j.seq, j.rate_hz) == ("pump-7", 42, RATE)
    assert np.array_equal(b.samples, x) and np.array_equal(j.samples, x)
    raw = encode_binary("a", 1, RATE, x)
    assert raw[:4] == MAGIC and len(raw) == HEADER.size + 1 + 4 * 300


def test_served_windows_equal_vibration_stream_with_gaps_and_rates(int8):
    x, y = _sim(), _sim("outer_race", 21, seed=9)
    ref_x, ref_y = _key(vibration_stream(Bundle(int8), x)), _key(vibration_stream(Bundle(int8), y))
    f = _feeder(int8)
    preds, _ = f.feed_payloads(_blocks("a", x, 1000) + _blocks("b", x, 3000, enc=encode_binary))
    assert _key(p for p in preds if p["asset"] == "a") == ref_x == _key(p for p in preds if p["asset"] == "b")
    # a gap in seq: y starts a new framing (window starts at the first sample after the gap), never mixed with x
    preds, _ = f.feed_payloads(_blocks("a", y, 1000, seq0=20))
    assert f.engine.stats.gaps == 1 and len(preds) == len(ref_y)
    assert [(c, p) for _, _, c, p in _key(preds)] == [(c, p) for _, _, c, p in ref_y]
    assert [p["start"] for p in preds] == [len(x) + i * 1024 for i in range(len(ref_y))]
    # another rate: rejected and the framing reset; the next block at the right rate starts afresh
    preds, _ = f.feed_payloads(_blocks("a", y[:1000], 1000, seq0=32, rate=48000.0) + _blocks("a", y, 1000, seq0=33))
    assert f.engine.stats.rejected == {"rate_mismatch": 1} and [(c, p) for _, _, c, p in _key(preds)] == [
        (c, p) for _, _, c, p in ref_y
    ]


def test_other_rates_are_resampled_when_configured(int8):
    x = _sim()
    f = _feeder(int8, resample=True)
    x24 = np.repeat(x, 2)  # 24 kHz stand-in with the same content up to 6 kHz
    preds, _ = f.feed_payloads(_blocks("a", x24, 2400, rate=24000.0))
    assert f.engine.stats.resampled == 10 and not f.engine.stats.rejected and len(preds) == 10
    assert f.engine.stats.samples_in == len(x24)


def _bad_payloads() -> dict:
    x = np.ones(500, np.float32)
    good = encode_binary("bad", 0, RATE, x)
    return {
        "non_finite": encode_json("bad", 0, RATE, np.r_[x[:10], np.nan]),
        "empty": encode_json("bad", 0, RATE, []),
        "bad_dtype": good[:5] + bytes([7]) + good[6:],  # dtype code 7
        "bad_length": good[:-4],  # one sample short of the announced count
        "bad_asset": encode_json("plant/+/pump", 0, RATE, x),
        "rate_mismatch": encode_json("bad2", 0, 8000.0, x),
        "malformed": b'{"asset": "a", "seq": -1, "rate_hz": 1, "samples": [1]}',
        "bad_version": good[:4] + bytes([9]) + good[5:],
    }


def test_every_bad_block_is_counted_and_nothing_else_is_lost(int8):
    x = _sim(seconds=2.0)
    ref = _key(vibration_stream(Bundle(int8), x))
    f = _feeder(int8)
    good = _blocks("ok", x, 1200)
    bad = [(f"prognos/sensors/{r}", p) for r, p in _bad_payloads().items()]
    bad += [
        ("prognos/sensors/x", encode_json("#", 0, RATE, [1.0])),  # wildcard asset
        ("prognos/sensors/x", encode_json("p" * 200, 0, RATE, [1.0])),  # too long an id
        ("prognos/sensors/x", b'{"asset": "a", "seq": 0, "rate_hz": 12000, "samples": ["1", 2]}'),  # strings
        ("prognos/sensors/x", b"\x00" * (100 << 20)),
    ]  # 100 MB: refused by its size, never parsed
    msgs = [m for i, g in enumerate(good) for m in [g, *bad[i : i + 1]]]  # good and bad blocks interleaved
    msgs.append(good[3])  # a repeated block: out of order
    preds, _ = f.feed_payloads(msgs)
    assert _key(preds) == ref  # every window of the good asset, as `classify` computes it
    want = {r: 1 for r in _bad_payloads()} | {"bad_asset": 3, "bad_dtype": 2, "too_large": 1, "out_of_order": 1}
    assert dict(f.engine.stats.rejected) == want
    assert f.engine.stats.blocks_in == len(msgs) and f.engine.stats.blocks_accepted == len(good)


def test_label_rules_are_k_of_n_and_refuse_nonsense():
    rule = Rule("class", "in", ["OR007", "OR021"], k=3, n=5)
    tr = AlertTracker([rule])
    seq = ["OR021", "normal", "OR007", "normal", "OR021", "normal", "normal", "normal"]
    events = [(i, e["alert"]) for i, c in enumerate(seq) for e in tr.update("a", "window", i, {"class": c})]
    assert events == [(4, "raised"), (7, "cleared")]  # 3 of 5 in, then 3 of the next 5 out
    with pytest.raises(ConfigError, match="hysteresis"):
        Rule("class", "==", "OR021", hysteresis=1.0)
    with pytest.raises(ConfigError, match="needs a number"):
        Rule("score", ">", "high")


def test_example_config_reads_samples_and_label_rules():
    from prognos.edge_runtime.config import ServiceConfig

    cfg = ServiceConfig.load(ROOT / "configs" / "edge_vibration.toml")
    assert cfg.samples.max_block_bytes == 4 << 20 and not cfg.samples.resample and cfg.input == "mqtt"
    assert [(r.op, r.threshold, r.k, r.n) for r in cfg.rules] == [
        ("in", ("OR007", "OR014", "OR021"), 3, 5),
        ("==", "fault", 3, 5),
    ]


def test_fault_raises_and_repair_clears_the_default_alert(int8):
    f = _feeder(int8)
    fault, healthy = _sim("inner_race", 21, seconds=1.0), _sim("normal", 0, seconds=1.0, seed=3)
    _, raised = f.feed_payloads(_blocks("m", fault, 1200))
    _, cleared = f.feed_payloads(_blocks("m", healthy, 1200, seq0=10))
    assert [e["alert"] for e in raised] == ["raised"] and [e["alert"] for e in cleared] == ["cleared"]
    assert raised[0]["rule"].startswith("status fault") and f.engine.alerts.active == 0


def test_hot_swap_keeps_framing_and_refuses_other_framing(vib_run, int8, tmp_path):
    fp32 = vib_run[0] / "bundles" / "tflite_fp32"
    x = _sim(seconds=2.0)
    f, logs = _feeder(int8), []
    before, _ = f.feed_payloads(_blocks("a", x[:12000], 1000))
    other = shutil.copytree(fp32, tmp_path / "hop512")
    m = json.loads((other / "manifest.json").read_text())
    m["preprocessing"]["dsp"]["hop"] = 512
    (other / "manifest.json").write_text(json.dumps(m))
    assert not try_swap(f.engine, other, logs.append) and "hop 512" in logs[-1]
    assert try_swap(f.engine, fp32, logs.append) and f.engine.stats.swaps == {"ok": 1, "refused": 1}
    after, _ = f.feed_payloads(_blocks("a", x[12000:], 1000, seq0=12))
    ref = vibration_stream(Bundle(fp32), x)
    assert len(before) + len(after) == len(ref) and _key(after) == _key(ref[len(before) :])


def test_wav_npy_and_f32_streams_read_the_same_samples(int8, tmp_path):
    import io

    x = _sim(seconds=0.5)
    pcm = np.round(np.clip(x / 4, -1, 1 - 2**-15) * 32768).astype("<i2")
    with wave.open(str(tmp_path / "x.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(12000)
        w.writeframes(np.stack([pcm, -pcm], 1).tobytes())  # the first channel is read
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "x.f32").write_bytes(x.astype("<f4").tobytes())
    got = {}
    for name in ("x.wav", "x.npy", "x.f32"):
        with open(tmp_path / name, "rb") as src:
            blocks = [b for kind, bs in sample_items(src, SampleConfig(), RATE) for b in bs]
        got[name] = np.concatenate([b.samples for b in blocks])
        assert {b.asset for b in blocks} == {"x"} and [b.seq for b in blocks] == list(range(len(blocks)))
    assert np.array_equal(got["x.npy"], x) and np.array_equal(got["x.f32"], x)
    assert np.allclose(got["x.wav"], pcm / 32768.0)
    bad = io.BytesIO(b"RIFX" + bytes(60))
    with pytest.raises(DataError, match="WAV"):
        list(sample_items(bad, SampleConfig(format="wav"), RATE))


def _serve(bundle, *args, **kw):
    return subprocess.Popen(
        [str(EXE), "serve", "--bundle", str(bundle), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    return out.decode(), json.loads(err.decode().strip().splitlines()[-1])["summary"]


def test_mqtt_json_and_binary_blocks_equal_prognos_edge_classify(int8, mqtt_broker, tmp_path):
    host, port = mqtt_broker
    http = free_port()
    x = _sim("outer_race", 21, seconds=1.5, seed=11)
    np.save(tmp_path / "x.npy", x)
    r = run_cli("prognos-edge", "classify", "--bundle", str(int8), "--input", str(tmp_path / "x.npy"))
    ref = _key(json.loads(line) for line in r.stdout.splitlines())
    proc = _serve(int8, "--input", "mqtt", "--mqtt", f"{host}:{port}", "--http", str(http), "--predictions", "none")
    sub, got = _client(host, port, ["prognos/predictions/#", "prognos/alerts/#"])
    pub, _ = _client(host, port)
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{http}/healthz")[0] == 200, what="service connected")
        msgs = _blocks("line1/json", x, 1000) + _blocks("line1/bin", x, 1500, enc=encode_binary)
        msgs += [("prognos/sensors/big", b"\x00" * (5 << 20)), ("prognos/sensors/bad", _bad_payloads()["bad_asset"])]
        for topic, payload in msgs:
            pub.publish(topic, payload, qos=1).wait_for_publish()
        wait_for(lambda: sum(t.startswith("prognos/predictions/") for t, _ in got) == 2 * len(ref), what="windows")
        metrics = wait_for(
            lambda: (lambda m: 'reason="too_large"} 1' in m and m)(get(f"http://127.0.0.1:{http}/metrics")[1]),
            what="the large block counted",
        )
    finally:
        _, summary = _stop(proc)
        sub.loop_stop()
        pub.loop_stop()
    for topic in ("prognos/predictions/line1_json", "prognos/predictions/line1_bin"):
        assert _key(m for t, m in got if t == topic) == ref
    assert any(t == "prognos/alerts/line1_json" and m["alert"] == "raised" for t, m in got)
    assert f"prognos_samples_received_total {2 * len(x)}" in metrics
    assert 'prognos_blocks_rejected_total{reason="bad_asset"} 1' in metrics
    assert summary["windows"] == 2 * len(ref) and summary["rejected_total"] == 2


def test_followed_file_is_read_as_it_grows(int8, tmp_path):
    x = _sim(seconds=2.0)
    ref = _key(vibration_stream(Bundle(int8), x))
    np.save(tmp_path / "full.npy", x)
    data = (tmp_path / "full.npy").read_bytes()
    path, out = tmp_path / "pump3.npy", tmp_path / "preds.jsonl"
    path.write_bytes(data[: len(data) // 2])
    proc = _serve(int8, "--input", str(path), "--follow", "--predictions", str(out), "--alerts", "none")
    try:
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 5, what="the first windows")
        with open(path, "ab") as f:
            f.write(data[len(data) // 2 :])
        wait_for(lambda: len(out.read_text().splitlines()) == len(ref), what="every window")
    finally:
        _, summary = _stop(proc)
    preds = [json.loads(line) for line in out.read_text().splitlines()]
    assert _key(preds) == ref and {p["asset"] for p in preds} == {"pump3"} and summary["gaps"] == 0


@pytest.mark.parametrize("via", ["stdin", "jsonl", "fifo"])
def test_stdin_and_fifo_streams(int8, tmp_path, via):
    x = _sim(seconds=1.0, seed=8)
    ref = _key(vibration_stream(Bundle(int8), x))
    raw = x.astype("<f4").tobytes()
    if via != "fifo":  # raw float32 of one asset, or JSON lines of 0.5 s blocks (~120 KB a line)
        lines = b"".join(encode_json("fan", i, RATE, x[s : s + 6000]) + b"\n" for i, s in enumerate((0, 6000)))
        r = subprocess.run(
            [
                str(EXE),
                "serve",
                "--bundle",
                str(int8),
                "--input",
                "-",
                "--samples",
                "f32" if via == "stdin" else "jsonl",
                "--asset",
                "fan",
                "--alerts",
                "none",
            ],
            input=raw if via == "stdin" else lines,
            capture_output=True,
            cwd=ROOT,
            timeout=60,
            check=True,
        )
        stdout = r.stdout.decode()
    else:
        fifo = tmp_path / "fan.f32"
        os.mkfifo(fifo)
        proc = _serve(int8, "--input", str(fifo), "--alerts", "none")
        writer = threading.Thread(target=lambda: fifo.write_bytes(raw))
        writer.start()
        stdout, _ = proc.communicate(timeout=60)
        stdout = stdout.decode()
        writer.join()
    preds = [json.loads(line) for line in stdout.splitlines()]
    assert _key(preds) == ref and {p["asset"] for p in preds} == {"fan"}


@pytest.mark.slow  # trains its own autoencoder (~20 s)
def test_anomaly_bundle_scores_json_lines_on_stdin_as_prognos_edge_anomaly(tmp_path):
    from prognos.pipeline.vibration.anomaly import AnomalyConfig, anomaly_run
    from prognos.pipeline.vibration.train import VibrationConfig

    cfg = AnomalyConfig(epochs=1, formats=["tflite_fp32"])
    anomaly_run(cfg, VibrationConfig(sim_seconds=3.0, sim_loads=[0], loads=[0]), tmp_path / "run")
    bundle = tmp_path / "run" / "anomaly_bundles" / "tflite_fp32"
    x = _sim("outer_race", 21, seconds=1.0, seed=4)
    ref = [(o["window"], o["score"], o["status"]) for o in vibration_stream(Bundle(bundle), x, "anomaly")]
    lines = "".join(
        encode_json("fan-2", i, RATE, x[s : s + 600]).decode() + "\n" for i, s in enumerate(range(0, len(x), 600))
    )
    r = subprocess.run(
        [str(EXE), "serve", "--bundle", str(bundle), "--input", "-", "--samples", "jsonl"],
        input=lines.encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    out = [json.loads(line) for line in r.stdout.decode().splitlines()]
    preds = [o for o in out if "alert" not in o]
    assert [(o["window"], o["score"], o["status"]) for o in preds] == ref
    assert all(o["threshold"] > 0 and o["asset"] == "fan-2" for o in preds)
