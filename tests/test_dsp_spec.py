"""DspSpec: serialization, apply() shapes and values, fitted normalization, argument errors."""

import json

import numpy as np
import pytest

from prognos.edge_runtime import dsp
from prognos.edge_runtime.dsp_spec import DspSpec, KINDS, apply, apply_many, fit_normalization, input_shape, windows
from prognos.edge_runtime.errors import ConfigError, DataError

pytestmark = pytest.mark.edge  # runs in the prognos-edge venvs too (tests/conftest.py)

RNG = np.random.default_rng(1)
STREAM = RNG.normal(size=12000)


def test_round_trip_through_json():
    spec = DspSpec(
        kind="envelope_spectrum", band=[2000.0, 5000.0], max_freq=500.0, norm="global", mean=[0.1], std=[2.0]
    )
    again = DspSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec


def test_unknown_field_is_refused():
    with pytest.raises(ConfigError, match=r"unknown fields \['colour'\]"):
        DspSpec.from_dict({"kind": "raw", "colour": "red"})


@pytest.mark.parametrize("kind", KINDS)
def test_apply_shape_matches_input_shape(kind):
    spec = DspSpec(kind=kind, max_freq=1000.0)
    w = windows(spec, STREAM)
    assert w.shape == (1 + (12000 - 2048) // 512, 2048)
    out = apply_many(spec, w[:3], 29.95)  # the shaft speed: fault_orders reads lines at orders x shaft_hz
    assert out.dtype == np.float32 and out.shape == (3, *input_shape(spec))


def test_apply_values_are_the_dsp_functions():
    w = STREAM[:2048]
    spec = DspSpec(kind="spectrogram")
    np.testing.assert_array_equal(apply(spec, w)[..., 0], dsp.stft_log_spectrogram(w, 256, 64))
    assert input_shape(spec) == (129, 29, 1)
    env = DspSpec(kind="envelope_spectrum", band=[2000, 5000], max_freq=500.0)
    expected = dsp.envelope_spectrum(w, 12000.0, (2000, 5000))[:86]  # bins 0..85 are <= 500 Hz
    np.testing.assert_array_equal(apply(env, w)[:, 0], expected)


def test_fit_normalization_standardizes_training_windows():
    spec = DspSpec(kind="time_features", window=1024, hop=256)
    train = windows(spec, STREAM * np.linspace(0.5, 2.0, len(STREAM)))
    fitted = fit_normalization(spec, train, norm="per_bin")
    z = apply_many(fitted, train)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-4)
    glob = fit_normalization(DspSpec(kind="spectrogram"), windows(DspSpec(), STREAM), norm="global")
    zg = apply_many(glob, windows(glob, STREAM))
    assert len(glob.mean) == 1 and abs(zg.mean()) < 1e-4 and abs(zg.std() - 1) < 1e-4


def test_angular_spec_uses_the_shaft_speed():
    spec = DspSpec(kind="fft", window=4096, samples_per_rev=64, order_samples=512, max_freq=10.0)
    shaft = 1772 / 60
    x = np.sin(2 * np.pi * 3 * shaft * np.arange(4096) / 12000.0)
    out = apply(spec, x, shaft_hz=shaft)[:, 0]
    orders = dsp.fft_frequencies(512, 64)
    assert out.shape == input_shape(spec)[:1] and orders[np.argmax(out)] == pytest.approx(3.0)
    with pytest.raises(ConfigError, match="pass shaft_hz"):
        apply(spec, x)
    with pytest.raises(DataError, match="expected at least order_samples=512"):
        apply(spec, x, shaft_hz=20.0)  # 4096 samples at 20 Hz: 6.8 revolutions, 437 samples


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"kind": "wavelet"}, ConfigError, r"DspSpec.kind must be one of raw, .*got 'wavelet'"),
        ({"window": 0}, ConfigError, r"DspSpec.window must be an integer >= 1, got 0"),
        ({"window": 128}, ConfigError, r"128 samples per window, expected at least n_fft=256"),
        ({"samples_per_rev": 64}, ConfigError, r"order_samples \(needed with samples_per_rev\)"),
        ({"kind": "raw", "norm": "per_bin"}, ConfigError, r"per_bin' is meaningless for kind='raw'"),
        ({"mean": [0.0], "std": [0.0]}, ConfigError, r"every std > 0"),
        ({"sample_rate": -1}, ConfigError, r"DspSpec.sample_rate must be a positive number"),
    ],
)
def test_bad_specs_raise(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        DspSpec(**kwargs)


def test_bad_windows_raise():
    with pytest.raises(DataError, match=r"raw_window: 100 samples, expected DspSpec.window=2048"):
        apply(DspSpec(), STREAM[:100])
    with pytest.raises(ConfigError, match="no statistics; call fit_normalization"):
        apply(DspSpec(norm="global"), STREAM[:2048])
