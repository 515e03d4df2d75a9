"""Bearing geometries, fault-order features, and the transfer of a diagnosis to a bearing never trained on."""

import json

import numpy as np
import pytest

from prognos.edge_runtime.bearings import BEARINGS, Bearing, get_bearing, load_bearings
from prognos.edge_runtime.dsp_spec import DspSpec, apply, with_bearing
from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime import dsp
from prognos.edge_runtime.orders import OrderSpec, band_envelope_spectra, estimate_shaft_hz, feature_names, features

RATE = 12000.0
SHAFT = 1797 / 60  # CWRU 0 HP

# by hand from the published geometry (inches): r = d / D, BPFI = n/2 (1 + r), BPFO = n/2 (1 - r)
# 6205: n 9, d 0.3126, D 1.537 -> r 0.203383; 6203: n 8, d 0.2656, D 1.122 -> r 0.236720
HAND = {
    "6205": {"BPFI": 4.5 * 1.203383, "BPFO": 4.5 * 0.796617},
    "6203": {"BPFI": 4.0 * 1.236720, "BPFO": 4.0 * 0.763280},
}
# the CWRU data README's table (rounded by the data center)
PUBLISHED = {
    "6205": {"BPFI": 5.4152, "BPFO": 3.5848, "BSF": 2.357, "FTF": 0.3983},
    "6203": {"BPFI": 4.9469, "BPFO": 3.0530, "BSF": 1.9940, "FTF": 0.3817},
}


@pytest.mark.parametrize("name", ["6205", "6203"])
def test_fault_orders_match_hand_computation_and_published_table(name):
    orders = BEARINGS[name].orders()
    for key, value in HAND[name].items():
        assert orders[key] == pytest.approx(value, abs=2e-6)
    for key, value in PUBLISHED[name].items():
        assert orders[key] == pytest.approx(value, rel=2e-4)  # rounding of the published table (bearings.py)


def _am_line(f_mod: float, seconds: float = 2048 / RATE, seed: int = 0) -> np.ndarray:
    """A 3 kHz resonance amplitude-modulated at f_mod (the envelope line of a fault), plus noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = (1 + 0.5 * np.cos(2 * np.pi * f_mod * t)) * np.sin(2 * np.pi * 3000 * t)
    return x + np.random.default_rng(seed).normal(0, 0.3, len(t))


@pytest.mark.parametrize("name", ["6205", "6203"])
def test_a_bpfo_line_peaks_at_the_bpfo_feature(name):
    spec = OrderSpec(bearing=BEARINGS[name].to_dict())
    f = features(_am_line(BEARINGS[name].orders()["BPFO"] * SHAFT), RATE, spec, SHAFT)
    names = feature_names(spec)
    assert names[int(np.argmax(f[:-1]))] == "BPFO x1"  # the last feature is the kurtosis
    assert f[names.index("BPFO x1")] > 15 and f[names.index("BPFI x1")] < 10


@pytest.mark.parametrize("n", [2048, 2047])
def test_band_envelopes_share_one_fft_and_equal_dsp_envelope_spectrum(n):
    x = np.random.default_rng(2).normal(size=n)
    bands = [(500.0, 2000.0), (3000.0, 6000.0)]  # the second one up to Nyquist
    for env, band in zip(band_envelope_spectra(x, RATE, bands), bands):
        np.testing.assert_array_equal(env, dsp.envelope_spectrum(x, RATE, band))


def test_shaft_speed_configured_or_estimated():
    t = np.arange(8192) / RATE
    x = np.sin(2 * np.pi * SHAFT * t) + 0.5 * np.sin(2 * np.pi * 2 * SHAFT * t + 1)
    x += np.random.default_rng(1).normal(0, 0.1, len(t))
    assert estimate_shaft_hz(x, RATE, 20, 40) == pytest.approx(SHAFT, abs=0.3)
    base = OrderSpec(bearing=BEARINGS["6205"].to_dict())
    w = x[:2048]
    with pytest.raises(ConfigError, match="shaft speed"):
        features(w, RATE, base)
    configured = features(w, RATE, OrderSpec(bearing=base.bearing, shaft_hz=SHAFT))
    np.testing.assert_array_equal(configured, features(w, RATE, base, SHAFT))
    estimated = OrderSpec(bearing=base.bearing, shaft_range=[20, 40])
    assert features(w, RATE, estimated).shape == configured.shape


def test_user_bearing_from_toml(tmp_path):
    path = tmp_path / "plant.toml"
    path.write_text(
        "[bearings.pump6306]\nn_balls = 8\nball_diameter = 12.7\npitch_diameter = 52.5\n"
        "[bearings.fan7205]\nn_balls = 13\nball_diameter = 7.9\npitch_diameter = 38.5\n"
        "contact_angle = 40.0\n"
    )
    table = load_bearings(path)
    assert sorted(table) == ["fan7205", "pump6306"]
    pump = get_bearing(f"{path}:pump6306")
    r = 12.7 / 52.5
    assert pump.orders()["BPFO"] == pytest.approx(4 * (1 - r)) and pump.orders()["FTF"] == pytest.approx((1 - r) / 2)
    angled = table["fan7205"].orders()["BPFI"]
    assert angled == pytest.approx(6.5 * (1 + 7.9 / 38.5 * np.cos(np.radians(40))))
    with pytest.raises(ConfigError, match="name one"):
        get_bearing(path)  # two bearings in the file: which one?
    one = tmp_path / "one.toml"
    one.write_text("[bearings.pump6306]\nn_balls = 8\nball_diameter = 12.7\npitch_diameter = 52.5\n")
    spec = with_bearing(DspSpec(kind="fault_orders"), str(one), shaft_hz=25.0)
    again = DspSpec.from_dict(json.loads(json.dumps(spec.to_dict())))  # the manifest round trip
    assert again.orders["bearing"]["name"] == "pump6306" and again.orders["shaft_hz"] == 25.0
    assert apply(again, _am_line(pump.orders()["BPFO"] * 25.0)).shape == (len(feature_names(OrderSpec(**spec.orders))),)


@pytest.mark.parametrize(
    "table, match",
    [
        ({"n_balls": 2, "ball_diameter": 1.0, "pitch_diameter": 5.0}, "n_balls must be an integer >= 3"),
        ({"n_balls": 9.5, "ball_diameter": 1.0, "pitch_diameter": 5.0}, "n_balls"),
        ({"n_balls": 9, "ball_diameter": 6.0, "pitch_diameter": 5.0}, "0 < ball_diameter < pitch_diameter"),
        ({"n_balls": 9, "ball_diameter": -1.0, "pitch_diameter": 5.0}, "0 < ball_diameter"),
        ({"n_balls": 20, "ball_diameter": 1.0, "pitch_diameter": 5.0}, "do not fit"),
        ({"n_balls": 9, "ball_diameter": 1.0, "pitch_diameter": 5.0, "contact_angle": 95.0}, "contact_angle"),
        ({"n_balls": 9, "ball_diameter": "1", "pitch_diameter": 5.0}, "ball_diameter"),
        ({"n_balls": 9, "pitch_diameter": 5.0}, "missing"),
        ({"n_balls": 9, "ball_diameter": 1.0, "pitch_diameter": 5.0, "balls": 3}, "unknown keys"),
    ],
)
def test_bad_geometry_is_a_config_error(table, match):
    with pytest.raises(ConfigError, match=match):
        Bearing.from_dict(table, "mine")


def test_unknown_bearing_and_bad_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown name; expected one of \['6203', '6205'\]"):
        get_bearing("6206")
    with pytest.raises(ConfigError, match="no such config file"):
        get_bearing(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[bearing]\nn_balls = 9\n")
    with pytest.raises(ConfigError, match=r"expected \[bearings.<name>\] tables"):
        get_bearing(str(bad))
    with pytest.raises(ConfigError, match="does not read bearing fault orders"):
        with_bearing(DspSpec(kind="spectrogram"), "6203")


@pytest.fixture(scope="module")
def transfer(tmp_path_factory):
    """Simulated 6205 (train) -> 6203 (test), small: one load, 2 s recordings, one fp32 bundle."""
    from prognos.pipeline.vibration.transfer import TransferConfig, transfer_run

    run = tmp_path_factory.mktemp("transfer")
    cfg = TransferConfig(
        loads=[0], sim_seconds=2.0, window=2048, hop=1024, epochs=25, formats=["tflite_fp32"], hz_control=False
    )
    return run, transfer_run(cfg, run)["simulated"]


def test_transfer_to_a_simulated_bearing_never_trained_on(transfer):
    _, r = transfer
    assert r["train"]["bearing"] == "6205" and r["test"]["bearing"] == "6203"
    assert r["test"]["classes"] == ["ball", "inner_race", "normal", "outer_race"]
    assert r["test"]["accuracy"]["keras"] >= 0.8 and r["test"]["accuracy"]["tflite_fp32"] >= 0.8
    # the same model reading the 6203's windows at the 6205's orders (no order normalization) fails the bar
    assert r["controls"]["read_at_train_orders"]["keras"] < 0.7


def test_device_reads_another_bearing_by_flag_or_retargeted_bundle(transfer, tmp_path, capsys):
    from prognos.edge_runtime.bundle import Bundle
    from prognos.edge_runtime.cli import main
    from prognos.edge_runtime.errors import BundleError
    from prognos.pipeline.data.bearing_sim import simulate_recording

    run, r = transfer
    bundle = run / "fault_orders" / "bundles" / "tflite_fp32"
    manifest = json.loads((bundle / "manifest.json").read_text())["preprocessing"]
    assert manifest["fault_orders"]["bearing"]["name"] == "6205"
    assert manifest["fault_orders"]["shaft_speed"]["training"].startswith("per recording")
    x = simulate_recording("outer_race", 14, 0, 1.0, seed=11, bearing="6203").astype(np.float32)
    np.save(tmp_path / "or.npy", x)
    assert (
        main(
            [
                "classify",
                "--bundle",
                str(bundle),
                "--input",
                str(tmp_path / "or.npy"),
                "--bearing",
                "6203",
                "--shaft-hz",
                str(SHAFT),
                "--expect",
                "outer_race",
            ]
        )
        == 0
    )
    by_flag = capsys.readouterr()
    assert json.loads(by_flag.err.strip().splitlines()[-1])["accuracy"] >= 0.8
    assert (
        main(
            [
                "retarget",
                "--bundle",
                str(bundle),
                "--bearing",
                "6203",
                "--shaft-hz",
                str(SHAFT),
                "--out",
                str(tmp_path / "b6203"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["classify", "--bundle", str(tmp_path / "b6203"), "--input", str(tmp_path / "or.npy")]) == 0
    assert capsys.readouterr().out == by_flag.out  # the retargeted bundle reads the same, no flags needed
    # the service takes the same two flags: the same classes, window by window
    served = tmp_path / "served.jsonl"
    flags = ["--bearing", "6203", "--shaft-hz", str(SHAFT), "--predictions", str(served)]
    assert main(["serve", "--bundle", str(bundle), "--input", str(tmp_path / "or.npy"), *flags]) == 0
    rows = [json.loads(line) for line in served.read_text().splitlines()]
    assert [r["class"] for r in rows] == [json.loads(line)["class"] for line in by_flag.out.splitlines()]
    capsys.readouterr()
    assert main(["serve", "--bundle", str(bundle), "--input", str(tmp_path / "or.npy"), "--shaft-hz", "-30"]) == 2
    assert "--shaft-hz must be a shaft speed in Hz (a number > 0), got -30.0" in capsys.readouterr().err
    assert (
        main(
            [
                "classify",
                "--bundle",
                str(bundle),
                "--input",
                str(tmp_path / "or.npy"),
                "--bearing",
                "6299",
                "--shaft-hz",
                "30",
            ]
        )
        == 2
    )
    assert "unknown name" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "b6203" / "manifest.json").read_text())
    manifest["preprocessing"]["dsp"]["orders"]["bearing"]["n_balls"] = 2  # a geometry no bearing has
    (tmp_path / "b6203" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="n_balls must be an integer >= 3"):
        Bundle(tmp_path / "b6203")


def test_service_reads_the_configured_bearing_like_classify(transfer):
    """`serve` with [samples] bearing = "6203" frames a 6203 stream through the 6205-trained bundle with
    the 6203's orders: the same classes as the order-normalized transfer, and a bundle of another kind refuses."""
    from prognos.edge_runtime.bundle import Bundle
    from prognos.edge_runtime.errors import ConfigError
    from prognos.edge_runtime.samples import Block, SampleConfig
    from prognos.edge_runtime.vib_service import SampleFeeder, VibrationEngine
    from prognos.pipeline.data.bearing_sim import simulate_recording

    run, _ = transfer
    bundle = Bundle(run / "fault_orders" / "bundles" / "tflite_fp32")
    x = simulate_recording("outer_race", 14, 0, 2.0, seed=11, bearing="6203").astype(np.float32)
    blocks = [Block("m-1", i, bundle.dsp.sample_rate, x[i * 4096 : (i + 1) * 4096]) for i in range(len(x) // 4096)]

    def classes(samples):
        preds, _ = SampleFeeder(VibrationEngine(bundle, samples)).feed_blocks(blocks)
        return [p["class"] for p in preds]

    own = classes(SampleConfig(bearing="6203", shaft_hz=SHAFT))
    assert len(own) > 3 and np.mean([c == "outer_race" for c in own]) >= 0.8
    assert classes(SampleConfig(bearing="6205", shaft_hz=SHAFT)) != own  # the bearing changes what is read
    from prognos.edge_runtime.dsp_spec import DspSpec, with_bearing

    with pytest.raises(ConfigError, match="does not read"):  # what the engine calls for a spectrogram bundle
        with_bearing(DspSpec(kind="spectrogram"), "6203")
    for bad in ({"shaft_hz": 0}, {"shaft_hz": "30"}, {"shaft_hz": float("nan")}, {"bearing": 6203}, {"bearing": ""}):
        with pytest.raises(ConfigError, match="samples: (shaft_hz|bearing)"):  # a wrong [samples] type or value
            SampleConfig(**bad)
