"""Stream engine, alerts and row parsing: batching across assets, debounced alerts, every reason counted."""

import json

import numpy as np
import pytest

from prognos.edge_runtime.alerts import AlertTracker, Rule, rules_from_manifest
from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.errors import ConfigError, RowError
from prognos.edge_runtime.feed import TOO_LONG, Feeder, read_line_batches
from prognos.edge_runtime.rows import JsonRowParser, make_parser
from prognos.edge_runtime.stream import StreamConfig, StreamEngine

pytestmark = pytest.mark.edge  # runs in the prognos-edge venvs too (tests/conftest.py)


def _rows(sim_dir, n_units=3):
    """(unit, cycle, raw feature rows) of the first test units, interleaved cycle by cycle."""
    lines = (sim_dir / "test_SIM.txt").read_text().splitlines()
    by_unit = {}
    for line in lines:
        f = line.split()
        if int(f[0]) <= n_units:
            by_unit.setdefault(int(f[0]), []).append(line)
    inter = []
    for i in range(max(len(v) for v in by_unit.values())):
        inter += [v[i] for v in by_unit.values() if i < len(v)]
    return inter


@pytest.mark.parametrize("fmt", ["onnx_fp32", "tflite_int8"])
def test_batched_windows_equal_one_by_one(tiny_run, sim_dir, fmt):
    bundle = Bundle(tiny_run["dir"] / "bundles" / fmt)
    pre = bundle.preprocessor
    engine = StreamEngine(bundle, StreamConfig(max_batch=16))
    preds, _ = Feeder(engine).feed_lines(_rows(sim_dir))
    assert engine.stats.predictions == len(preds) == engine.stats.accepted
    assert engine.stats.batches == -(-len(preds) // 16)  # full batches of windows from several assets
    history, expected = {}, []
    parser = make_parser(_rows(sim_dir)[0], pre.features)[0]
    for i, line in enumerate(_rows(sim_dir)):
        unit, cycle, values = parser.parse(line, i)
        history.setdefault(unit, []).append(values)
        expected.append(float(bundle.predict(pre.last_window(np.asarray(history[unit]))[None])[0]))
    assert [p["rul"] for p in preds] == pytest.approx(expected, abs=0.011)
    assert [p["status"] for p in preds[:3]] == ["warmup"] * 3


def _by_unit(preds) -> dict:
    out = {}
    for p in preds:
        out.setdefault(p["unit"], {})[p["cycle"]] = p["rul"]
    return out


def test_stride_predicts_every_nth_row_with_the_same_values(tiny_run, sim_dir):
    bundle = Bundle(tiny_run["dir"] / "bundles" / "onnx_fp32")
    every = _by_unit(Feeder(StreamEngine(bundle, StreamConfig(max_batch=8))).feed_lines(_rows(sim_dir))[0])
    strided = _by_unit(Feeder(StreamEngine(bundle, StreamConfig(max_batch=8, stride=5))).feed_lines(_rows(sim_dir))[0])
    assert strided.keys() == every.keys()
    for unit, preds in strided.items():
        cycles = sorted(preds)
        assert (
            cycles[0] == min(every[unit]) and len(cycles) == -(-len(every[unit]) // 5) and set(np.diff(cycles)) == {5}
        )
        assert [preds[c] for c in cycles] == pytest.approx([every[unit][c] for c in cycles], abs=1e-4)


def test_assets_beyond_the_bound_are_evicted(tiny_run, sim_dir):
    bundle = Bundle(tiny_run["dir"] / "bundles" / "onnx_fp32")
    engine = StreamEngine(bundle, StreamConfig(max_batch=8, max_assets=2))
    preds, _ = Feeder(engine).feed_lines(_rows(sim_dir, n_units=3))
    assert len(engine._rings) == 2 and engine.stats.assets_evicted > 0
    assert engine.stats.predictions == len(preds) == engine.stats.accepted  # evicted assets restart, none lost
    with pytest.raises(ConfigError, match="max_batch must be a positive integer"):
        StreamConfig(max_batch=0)


def test_json_rows_and_every_reason(tiny_run):
    bundle = Bundle(tiny_run["dir"] / "bundles" / "onnx_fp32")
    feats = bundle.preprocessor.features
    good = {"asset": "pump-7", **{f: m for f, m in zip(feats, bundle.preprocessor.mean)}}
    lines = [json.dumps({**good, "cycle": c}) for c in range(1, 6)]
    bad = {
        "malformed": "{not json",
        "wrong_type": json.dumps({**good, "cycle": 6, feats[0]: "12.5"}),
        "missing_sensor": json.dumps({k: v for k, v in {**good, "cycle": 6}.items() if k != feats[1]}),
        "non_finite": json.dumps({**good, "cycle": 6, feats[2]: float("nan")}),
        "duplicate_cycle": json.dumps({**good, "cycle": 5}),
        "out_of_order": json.dumps({**good, "cycle": 2}),
    }
    extra = json.dumps({**good, "cycle": 6, "s99": 1.0})
    ts_rows = [json.dumps({**good, "asset": "fan-1", "ts": 1700000000.5 + i}) for i in range(3)]
    logged = []
    engine = StreamEngine(bundle)
    preds, _ = Feeder(engine, log=logged.append).feed_lines([*lines, *bad.values(), extra, *ts_rows, TOO_LONG])
    assert dict(engine.stats.rejected) == {**{k: 1 for k in bad}, "too_long": 1}
    assert engine.stats.warnings["extra_sensor"] == 1
    assert [p.get("cycle") for p in preds[:6]] == [1, 2, 3, 4, 5, 6] and preds[0]["unit"] == "pump-7"
    assert preds[-1] == {**preds[-1], "unit": "fan-1", "ts": 1700000002.5}
    assert engine.stats.rows_in == len(lines) + len(bad) + 1 + 3 + 1 == engine.stats.accepted + 7
    assert any("cycle 2 after cycle 5" in m for m in logged) and any("'12.5' is a str" in m for m in logged)


def test_json_parser_types():
    p = JsonRowParser(["s2"])
    assert p.parse_obj({"unit": 3, "cycle": 4.0, "s2": 1}, "x") == (3, 4, [1.0])
    for obj, reason in [
        ([1], "wrong_type"),
        ({"unit": 1.5, "cycle": 1, "s2": 1}, "wrong_type"),
        ({"unit": 1, "cycle": 0, "s2": 1}, "wrong_type"),
        ({"unit": 1, "s2": 1}, "missing_sensor"),
        ({"unit": 1, "cycle": True, "s2": 1}, "wrong_type"),
        ({"cycle": 1, "s2": 1}, "missing_sensor"),
        ({"unit": 1, "cycle": 1e400, "s2": 1}, "wrong_type"),
        ({"unit": 1, "cycle": 1, "s2": None}, "missing_sensor"),
    ]:
        with pytest.raises(RowError) as e:
            p.parse_obj(obj, "msg 9")
        assert e.value.reason == reason and "msg 9" in str(e.value)


def test_read_line_batches_drops_overlong_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"a 1\n" + b"x" * 300 + b"\nb 2\n" + b"y" * 500 + b"\nc 3")
    with open(path, "rb") as f:
        lines = [line for batch in read_line_batches(f.fileno(), max_line=100, chunk=64) for line in batch]
    assert lines == ["a 1", TOO_LONG, "b 2", TOO_LONG, "c 3"]


def _feed(tracker, values, asset="a"):
    events = []
    for t, v in enumerate(values, 1):
        events += tracker.update(asset, "cycle", t, {"rul": v})
    return events


def test_noisy_signal_alerts_once_on_entry_and_once_on_clearing():
    rule = Rule("rul", "<=", 30.0, hysteresis=5.0, k=3, n=5)
    # noise around the threshold: single dips and spikes must not raise or clear anything
    values = [50, 29, 45, 31, 28, 33, 29, 27, 26, 31, 29, 32, 34, 33, 36, 28, 37, 38, 36, 40]
    events = _feed(AlertTracker([rule]), values)
    assert [(e["alert"], e["cycle"]) for e in events] == [("raised", 8), ("cleared", 18)]
    raised = events[0]
    assert raised == {**raised, "asset": "a", "value": 27.0, "field": "rul", "threshold": 30.0}
    assert raised["reason"] == "rul <= 30 in 3 of the last 5 windows"
    assert events[1]["reason"] == "rul > 35 in 3 of the last 5 windows"


def test_rules_are_task_agnostic():
    anomaly = Rule("score", ">", 0.8, hysteresis=0.1, k=2, n=3)
    fault = Rule("probs.outer_race", ">=", 0.9, k=1, n=1, name="outer race fault")
    tracker = AlertTracker([anomaly, fault])
    seq = [
        {"score": 0.5, "probs": {"outer_race": 0.2}},
        {"score": 0.9, "probs": {"outer_race": 0.95}},
        {"score": 0.85},
        {"score": 0.75, "probs": {"outer_race": 0.1}},
        {"score": 0.6},
        {"score": 0.65},
    ]
    events = [e for t, p in enumerate(seq, 1) for e in tracker.update("m1", "ts", float(t), p)]
    assert [(e["rule"], e["alert"], e["ts"]) for e in events] == [
        ("outer race fault", "raised", 2.0),
        ("score > 0.8", "raised", 3.0),
        ("outer race fault", "cleared", 4.0),
        ("score > 0.8", "cleared", 6.0),
    ]
    assert tracker.active == 0 and tracker.raised == tracker.cleared == 2


def test_rules_from_manifest_and_bad_rules():
    rules = rules_from_manifest({"rul_below": 25, "rules": [{"field": "rul", "op": "<", "threshold": 10, "k": 1}]})
    assert [(r.op, r.threshold) for r in rules] == [("<", 10), ("<=", 25)]
    assert [r.threshold for r in rules_from_manifest({"rul_below": 25}, override=40)] == [40]
    with pytest.raises(ConfigError, match="comparator '~'"):
        Rule("rul", "~", 1)
    with pytest.raises(ConfigError, match="need 1 <= k <= n"):
        Rule("rul", "<", 1, k=4, n=3)
    with pytest.raises(ConfigError, match="expected a table with field, op, threshold"):
        Rule.from_dict({"field": "rul", "thresh": 3})


def test_engine_emits_alerts_only_for_full_windows(tiny_run, sim_dir):
    bundle = Bundle(tiny_run["dir"] / "bundles" / "onnx_fp32")
    engine = StreamEngine(bundle, rules=[Rule("rul", "<", 1e9, k=1, n=1)])  # always true: raise once
    preds, events = Feeder(engine).feed_lines(_rows(sim_dir, n_units=2))
    window = bundle.preprocessor.window
    assert sorted(e["asset"] for e in events) == [1, 2] and all(e["alert"] == "raised" for e in events)
    assert all(e["cycle"] == window for e in events)  # the first full window, not a padded warm-up one


def test_mqtt_payloads_bad_and_good(tiny_run):
    bundle = Bundle(tiny_run["dir"] / "bundles" / "onnx_fp32")
    row = {"asset": "m", **dict.fromkeys(bundle.preprocessor.features, 1.0)}
    msgs = [
        ("s/m", json.dumps([{**row, "cycle": 1}, {**row, "cycle": 2}]).encode()),
        ("s/m", b"[" * 60000),
        ("s/m", b"\xff\xfe"),
        ("s/m", b" " * (2 << 20)),
        ("s/m", b"42"),
        ("s/m", json.dumps({**row, "cycle": 3})),
    ]
    engine = StreamEngine(bundle)
    preds, _ = Feeder(engine, log=lambda m: None).feed_payloads(msgs)
    assert [p["cycle"] for p in preds] == [1, 2, 3]
    assert dict(engine.stats.rejected) == {"malformed": 2, "too_long": 1, "wrong_type": 1}
    assert engine.stats.rows_in == 7
