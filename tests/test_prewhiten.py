"""Cepstral pre-whitening and the relative family levels of the fault-order features (edge_runtime.orders)."""

import json
from dataclasses import replace

import numpy as np
import pytest

from prognos.edge_runtime.bearings import BEARINGS
from prognos.edge_runtime.dsp_spec import DspSpec, apply, apply_many, fit_normalization, windows
from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.orders import OrderSpec, family_levels, feature_names, features, prewhiten

RATE = 12000.0
SHAFT = 1797 / 60  # CWRU 0 HP


def test_prewhitening_sets_every_magnitude_to_one_and_keeps_the_phase():
    rng = np.random.default_rng(0)
    t = np.arange(4096) / RATE
    x = 50 * np.sin(2 * np.pi * 29.95 * 7 * t) + rng.normal(size=len(t)) + 3.0  # a strong tone, noise, DC
    spec_x, spec_w = np.fft.rfft(x)[1:], np.fft.rfft(prewhiten(x))
    assert spec_w[0] == pytest.approx(0, abs=1e-9)  # DC removed
    np.testing.assert_allclose(np.abs(spec_w[1:]), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.angle(spec_w[1:] * np.conj(spec_x)), 0.0, atol=1e-6)


def test_prewhitening_keeps_zero_bins_zero():
    x = np.cos(2 * np.pi * 8 * np.arange(64) / 64)  # one bin only
    spec = np.fft.rfft(prewhiten(x))
    assert abs(spec[8]) == pytest.approx(1.0) and np.abs(np.delete(spec, 8)).max() < 1e-9


def test_family_levels_by_hand():
    # harmonics 2: per family [line, -side, +side] x 2; BPFO lines 10, 20; BPFI 4, 6; 2BSF 1, 3
    snr = np.array(
        [10, 1, 3, 20, 5, 7] + [4, 0, 0, 6, 2, 2] + [1, 8, 8, 3, 8, 8] + [99, 99, 99, 99], np.float64
    )  # the last 4 (BSF, FTF, shaft) are not read
    # lines: 15, 5, 2 -> rel 0, -10, -13; sidebands: 4, 1, 8 -> rel -4, -7, 0; max 15, 8
    np.testing.assert_allclose(family_levels(snr, 2), [0, -10, -13, -4, -7, 0, 15, 8])


def _outer_race(bearing: str, seconds: float = 8192 / RATE, seed: int = 0) -> np.ndarray:
    """BPFO impacts ringing a 3.5 kHz resonance, under two strong discrete tones in that band whose beat
    falls on BPFI (as two gear-mesh components can), plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    bpfo = BEARINGS[bearing].orders()["BPFO"] * SHAFT
    impacts = np.zeros(len(t))
    impacts[np.round(np.arange(0, seconds, 1 / bpfo) * RATE).astype(int)] = 1.0
    ring = np.exp(-700 * t[:200]) * np.sin(2 * np.pi * 3500 * t[:200])
    bpfi = BEARINGS[bearing].orders()["BPFI"] * SHAFT
    tones = 3 * np.sin(2 * np.pi * 3300 * t) + 3 * np.sin(2 * np.pi * (3300 + bpfi) * t)
    return np.convolve(impacts, ring)[: len(t)] + tones + rng.normal(0, 0.03, len(t))


@pytest.mark.parametrize("bearing", ["6205", "6203"])
def test_prewhitened_families_name_the_outer_race(bearing):
    spec = OrderSpec(bearing=BEARINGS[bearing].to_dict(), prewhiten=True, summary="families")
    f = dict(zip(feature_names(spec), features(_outer_race(bearing), RATE, spec, SHAFT)))
    assert f["BPFO lines rel dB"] == 0 and f["BPFI lines rel dB"] < -5 and f["2BSF lines rel dB"] < -5
    assert f["lines max dB"] > 15
    raw = dict(zip(feature_names(spec), features(_outer_race(bearing), RATE, replace(spec, prewhiten=False), SHAFT)))
    assert raw["BPFI lines rel dB"] == 0 and raw["BPFO lines rel dB"] < -5  # the tones' beat wins without it
    noise = features(np.random.default_rng(1).normal(size=8192), RATE, spec, SHAFT)
    assert noise[feature_names(spec).index("lines max dB")] < 10


def test_older_order_specs_read_as_before():
    """A manifest written before these settings has no prewhiten / summary keys: 31 lines + kurtosis."""
    old = {k: v for k, v in OrderSpec(bearing=BEARINGS["6205"].to_dict()).to_dict().items()}
    del old["prewhiten"], old["summary"]
    spec = OrderSpec.from_dict(old)
    assert len(feature_names(spec)) == 32 and feature_names(spec)[-1] == "kurtosis dB"
    with pytest.raises(ConfigError, match="summary must be one of"):
        OrderSpec(bearing=BEARINGS["6205"].to_dict(), summary="lines+")
    with pytest.raises(ConfigError, match="prewhiten must be true or false"):
        OrderSpec(bearing=BEARINGS["6205"].to_dict(), prewhiten="yes")


def test_training_and_device_compute_the_same_features():
    """The spec as training fits it and as the device reads it back from the manifest (JSON) give
    bit-identical model inputs, window by window against the training batch."""
    orders = OrderSpec(bearing=BEARINGS["6205"].to_dict(), prewhiten=True, summary="families").to_dict()
    trained = DspSpec(kind="fault_orders", window=4096, hop=2048, orders=orders)
    x = _outer_race("6205", seconds=1.0)
    w = windows(trained, x)
    fitted = fit_normalization(trained, w, shaft_hz=SHAFT)
    batch = apply_many(fitted, w, SHAFT)
    device = DspSpec.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert device.orders["prewhiten"] is True and device.orders["summary"] == "families"
    for i, window in enumerate(w):
        np.testing.assert_array_equal(apply(device, window, SHAFT), batch[i])
    assert batch.shape == (len(w), 8) and np.abs(batch.mean(axis=0)).max() < 1e-4


def test_lines_and_families_side_by_side():
    """ "lines+families": the raw window's 32 line readings (never prewhitened), then the 8 families."""
    spec = OrderSpec(bearing=BEARINGS["6205"].to_dict(), prewhiten=True, summary="lines+families")
    x = _outer_race("6205")
    f = features(x, RATE, spec, SHAFT)
    lines = features(x, RATE, replace(spec, summary="lines", prewhiten=False), SHAFT)
    families = features(x, RATE, replace(spec, summary="families"), SHAFT)
    assert len(f) == len(feature_names(spec)) == 40
    np.testing.assert_array_equal(f, np.concatenate([lines, families]))
    assert feature_names(spec)[32] == "BPFO lines rel dB" and f[32] == 0
