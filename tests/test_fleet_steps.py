"""Bundles trained on timestamps resampled to a step, served row by row (edge_runtime.steps): the device's
step clock gives the same steps, values and age as the training reader (pipeline.data.rules) for rows
with several readings per step, duplicated timestamps, gaps and empty cells; backwards timestamps are
counted rejections; the simulator's timestamp CSV fleet goes CSV -> train -> bundle -> `prognos-edge
predict` -> the training side's predictions; an asset already in service gets its age from
`[stream] asset_start`."""

import json
from collections import Counter

import numpy as np
import pytest

from conftest import run_cli
from prognos.edge_runtime.errors import RowError
from prognos.edge_runtime.steps import StepClock, TimeRule

ROWS = """asset,ts,load,temp
a,2024-01-01T00:10:00,1,10
a,2024-01-01T00:50:00,3,
a,2024-01-01T01:05:00,2,12
a,2024-01-01T01:05:00,4,13
b,2024-01-01T05:59:59,7,70
a,2024-01-01T03:30:00,5,
b,2024-01-01T06:00:00,8,71
a,2024-01-01T04:00:00,,15
a,2024-01-01T04:20:00,6,17
b,2024-01-01T09:01:00,9,
b,2024-01-01T09:02:00,10,73
a,2024-01-01T05:00:00,7,18
"""


def _clock(rule=None, starts=None):
    rule = rule or TimeRule("ts", "1h", 3600.0, max_fill=3, long_gaps="refuse")
    warnings = Counter()
    return StepClock(rule, warnings, starts), warnings


def _device_steps(text: str, clock) -> dict:
    from prognos.edge_runtime.rows import make_parser

    lines = text.strip().splitlines()
    parser, _ = make_parser(lines[0], ["load", "temp"], ("asset", "ts"), timestamps=True)
    out = {}
    for i, line in enumerate(lines[1:], 2):
        asset, t, values = parser.parse(line, i)
        for step, row in clock.push(asset, t, values):
            out.setdefault(asset, []).append([step, *row])
    for asset in clock.assets:
        out[asset] += [[s, *r] for s, r in clock.close(asset)]
    return out


def test_step_clock_equals_the_training_reader(tmp_path):
    """Means per hour, the last of two equal timestamps, a 1-hour gap filled, empty cells forward-filled."""
    from prognos.pipeline.data.readers import read_fleet
    from prognos.pipeline.data.spec import spec_from_dict

    (tmp_path / "f.csv").write_text(ROWS)
    spec = spec_from_dict(
        {"files": "f.csv", "asset": "asset", "time": "ts", "resample": "1h", "sensors": ["load", "temp"]}
    )
    fleet = read_fleet(spec, tmp_path)
    clock, warnings = _clock()
    device = _device_steps(ROWS, clock)
    for i, asset in enumerate(fleet.assets):
        train = fleet.table[fleet.table[:, 0] == i][:, 1:]
        np.testing.assert_array_equal(np.array(device[asset]), train)
    assert warnings == Counter({"duplicate_ts_replaced": 1})
    assert fleet.card["time_rule"]["step_seconds"] == 3600 and fleet.card["time_rule"]["column"] == "ts"


def test_backwards_and_long_gaps_are_counted():
    clock, warnings = _clock()
    clock.push("a", 7200.0, [1.0])
    with pytest.raises(RowError) as e:
        clock.push("a", 7199.0, [1.0])
    assert e.value.reason == "out_of_order"
    out = clock.push("a", 7200.0 + 5 * 3600, [2.0])  # 4 missing hours > max_fill: a jump, nothing inserted
    assert [(s, r.tolist()) for s, r in out] == [(1, [1.0])]
    assert warnings["long_gap"] == 1 and [s for s, _ in clock.close("a")] == [6]


def test_asset_in_service_counts_from_its_configured_start():
    clock, _ = _clock(starts={"old": "2024-01-01T00:00:00"})
    t0 = 1704067200.0  # 2024-01-01T00:00:00Z
    clock.push("old", t0 + 100 * 3600 + 60, [1.0])
    assert [s for s, _ in clock.push("old", t0 + 101 * 3600, [2.0])] == [101]
    assert [s for s, _ in clock.close("old")] == [102]
    assert clock.stamp("old", 101) == "2024-01-05T04:00:00+00:00"
    with pytest.raises(RowError, match="before its configured start"):
        _clock(starts={"x": t0})[0].push("x", t0 - 3600, [1.0])


@pytest.fixture(scope="module")
def stamped_run(tmp_path_factory):
    """The simulator's timestamp CSV fleet (hourly, 2 regimes) -> a 1-epoch LSTM with the age input -> fp32 bundle."""
    from prognos.export.run import export_run
    from prognos.pipeline.config import RunConfig
    from prognos.pipeline.data.fleet_sim import write_fleet
    from prognos.pipeline.rul.runs import load_run
    from prognos.pipeline.rul.train import train_run

    root = tmp_path_factory.mktemp("stamped")
    data = write_fleet(root / "data", n_assets=10, seed=2, regimes=2, censored=0.2, n_test=4)
    cfg = RunConfig()
    cfg.data.data_dir, cfg.data.schema = str(data), str(data / "schema.toml")
    cfg.data.window, cfg.data.min_cycles, cfg.data.age_feature, cfg.data.min_abs_corr = 12, 5, True, 0.1
    cfg.data.val_fraction, cfg.data.rul_cap = 0.25, 100.0
    cfg.train.epochs, cfg.train.patience, cfg.model.hparams = 1, 0, {"units": [8], "dense": 8}
    train_run(cfg, root / "run")
    export_run(load_run(root / "run"), ["tflite_fp32"], calibration=16)
    return {"data": data, "bundle": root / "run" / "bundles" / "tflite_fp32"}


def _training_side(data, bundle_dir):
    """Per test asset: (steps, the bundle's predictions on the training side's windows of every step)."""
    from prognos.edge_runtime.bundle import Bundle
    from prognos.pipeline.data.dataset import feature_matrix
    from prognos.pipeline.data.readers import find_spec, read_test_fleet
    from prognos.pipeline.data.tables import table_of_fleet

    bundle = Bundle(bundle_dir)
    pre = bundle.preprocessor
    fleet = read_test_fleet(find_spec(data), data / "test_fleet.csv")
    fleet.card.update(asset_column="asset_id", time_column="timestamp")
    table, layout = table_of_fleet(fleet, failed_only=False)
    out = {}
    for i, asset in enumerate(fleet.assets):
        rows = table[table[:, 0] == i + 1]
        raw = feature_matrix(rows, pre.inputs, layout.columns)
        windows = np.stack([pre.last_window(raw[: j + 1]) for j in range(len(raw))])
        out[asset] = (rows[:, 1].astype(int).tolist(), bundle.predict(windows))
    return out


def test_edge_predict_on_timestamp_rows_equals_training_side(stamped_run):
    data, best = stamped_run["data"], stamped_run["bundle"]
    manifest = json.loads((best / "manifest.json").read_text())
    time = manifest["preprocessing"]["time"]
    assert time["kind"] == "timestamp" and time["step_seconds"] == 3600 and time["column"] == "timestamp"
    assert manifest["preprocessing"]["features"][0] == "timestamp"  # the age input
    lines = (data / "test_fleet.csv").read_text().splitlines()
    r = run_cli("prognos-edge", "predict", "--bundle", str(best), stdin="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    device = [json.loads(line) for line in r.stdout.splitlines()]
    train = _training_side(data, best)
    compared = 0
    for asset, (steps, pred) in train.items():
        mine = [d for d in device if d["unit"] == asset]
        if mine[0]["step"] != 1:  # a first hour with an empty cell: training fills it from the next hour
            continue
        assert [d["step"] for d in mine] == steps
        np.testing.assert_allclose([d["rul"] for d in mine], pred, atol=0.006)
        compared += 1
    assert compared >= 2 and mine[0]["ts"].endswith("+00:00")


def test_asset_in_service_gets_its_age_from_the_service_config(stamped_run, tmp_path):
    data, best = stamped_run["data"], stamped_run["bundle"]
    lines = (data / "test_fleet.csv").read_text().splitlines()
    first = lines[1].split(",")
    asset, start = first[0], first[1][:13] + ":00:00"
    later = [ln for ln in lines[1:] if ln.startswith(asset + ",")][40:60]
    (tmp_path / "in.csv").write_text("\n".join([lines[0], *later]) + "\n")
    (tmp_path / "edge.toml").write_text(
        f'bundle = "{best}"\ninput = "in.csv"\nalerts = "none"\nallow_unsigned = true\n'
        f'[stream]\nasset_start = {{ "{asset}" = "{start}" }}\n'
    )
    r = run_cli("prognos-edge", "serve", "--config", str(tmp_path / "edge.toml"))
    assert r.returncode == 0, r.stderr
    device = [json.loads(line) for line in r.stdout.splitlines()]
    steps = _training_side(data, best)[asset][0]
    assert [d["step"] for d in device] == [s for s in steps if device[0]["step"] <= s <= device[-1]["step"]]
    assert device[0]["step"] > 40


def test_named_column_timestamp_bundle_benches(stamped_run):
    """bench and soak draw rows from the bundle's manifest: its CSV header, regimes and hourly timestamps."""
    best = str(stamped_run["bundle"])
    r = run_cli(
        "prognos-edge", "bench", "--bundle", best, "--seconds", "0.1", "--probes", "1", "--assets", "8", "--json"
    )
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert b["fleet"][0]["rows"] > 0 and b["fleet"][0]["predictions"] > 0 and b["invoke"]["p50_us"] > 0


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_named_column_timestamp_bundle_soaks(stamped_run, fmt):
    args = ["--rows", "3000", "--malformed", "0.05", "--assets", "10", "--format", fmt, "--every", "0.2"]
    r = run_cli("prognos-edge", "soak", "--bundle", str(stamped_run["bundle"]), *args)
    report = json.loads(r.stdout)
    assert r.returncode == 0, report
    assert report["rejected"] == report["injected"] and report["accepted_rows_lost"] == 0
    assert {"malformed", "non_finite", "out_of_order", "too_long"} <= set(report["rejected"])
    assert report["predictions"] == 3000 - sum(report["injected"].values())


def test_forgotten_asset_keeps_its_pending_prediction(stamped_run):
    """max_assets bounds the clock and the rings together; a step already batched is still predicted."""
    from prognos.edge_runtime.bundle import Bundle
    from prognos.edge_runtime.stream import StreamConfig, StreamEngine

    bundle = Bundle(stamped_run["bundle"])
    engine = StreamEngine(bundle, StreamConfig(max_assets=2))
    row = [1.0] * len(bundle.preprocessor.row_inputs)
    for asset, hour in (("a", 0), ("a", 1), ("b", 0), ("c", 0)):
        engine.add(asset, 1704067200.0 + 3600 * hour, row)
    preds, _ = engine.flush()
    assert [(p["unit"], p["step"], p["ts"]) for p in preds] == [("a", 1, "2024-01-01T00:00:00+00:00")]
    assert engine.stats.assets_evicted == 1 and engine.n_assets == 0
