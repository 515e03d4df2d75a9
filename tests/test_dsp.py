"""edge_runtime.dsp and edge_runtime.resample against scipy on the same inputs, plus known signals."""

import numpy as np
import pytest
import scipy.signal as ss
import scipy.stats as st

from prognos.edge_runtime import dsp
from prognos.edge_runtime.errors import ConfigError, DataError
from prognos.edge_runtime.resample import angular_resample, resample, resample_poly, resample_to_rate

FS = 12000.0
RNG = np.random.default_rng(0)
NOISE = RNG.normal(size=4096)


def tone(freq, n, amp=1.0, fs=FS, phase=0.3):
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / fs + phase)


def test_frame_windows_and_hop():
    x = np.arange(10.0)
    f = dsp.frame(x, 4, 3)
    assert f.dtype == np.float32 and f.shape == (3, 4)
    np.testing.assert_array_equal(f[2], [6, 7, 8, 9])
    assert dsp.frame(x, 11, 1).shape == (0, 11)


def test_time_features_match_scipy_and_numpy():
    x = RNG.normal(size=(5, 1000)) ** 3
    np.testing.assert_allclose(dsp.rms(x), np.sqrt(np.mean(x**2, axis=-1)), rtol=1e-6)
    np.testing.assert_allclose(dsp.kurtosis(x), st.kurtosis(x, axis=-1, fisher=False), rtol=1e-5)
    np.testing.assert_allclose(dsp.kurtosis(x, fisher=True), st.kurtosis(x, axis=-1), rtol=1e-5)
    np.testing.assert_allclose(dsp.peak_to_peak(x), x.max(-1) - x.min(-1), rtol=1e-6)
    sine = tone(50.0, 12000, amp=2.0)
    np.testing.assert_allclose(dsp.crest_factor(sine), np.sqrt(2), rtol=1e-4)
    np.testing.assert_allclose(dsp.kurtosis(sine), 1.5, rtol=1e-3)  # sinusoid: 3/2
    feats = dsp.time_features(x)
    assert feats.shape == (5, 4) and feats.dtype == np.float32
    np.testing.assert_allclose(feats[:, 1], dsp.kurtosis(x))


def test_constant_window_gives_zero_not_nan():
    assert dsp.kurtosis(np.full(100, 3.0)) == 0.0
    assert dsp.kurtosis(np.full(100, 3.0), fisher=True) == 0.0
    assert dsp.crest_factor(np.zeros(100)) == 0.0


@pytest.mark.parametrize("window", ["hann", None])
@pytest.mark.parametrize("n", [1024, 1025])
def test_pure_tone_lands_in_its_bin_with_its_amplitude(window, n):
    k = 100
    mag = dsp.fft_magnitude(tone(k * FS / n, n, amp=0.7), window)
    freqs = dsp.fft_frequencies(n, FS)
    assert mag.shape == (n // 2 + 1,) and mag.dtype == np.float32
    assert np.argmax(mag) == k and freqs[k] == pytest.approx(k * FS / n)
    assert mag[k] == pytest.approx(0.7, rel=1e-4)


def test_fft_magnitude_matches_scipy_periodogram():
    _, p = ss.periodogram(NOISE, window="hann", scaling="spectrum", detrend=False)
    mag = dsp.fft_magnitude(NOISE).astype(np.float64)
    np.testing.assert_allclose(mag[1:-1] ** 2, 2 * p[1:-1], rtol=1e-5)  # periodogram doubles power
    np.testing.assert_allclose(mag[[0, -1]] ** 2, p[[0, -1]], rtol=1e-5)


@pytest.mark.parametrize("n_fft,hop,window", [(256, 64, "hann"), (512, 512, "hann"), (128, 100, None)])
def test_stft_log_spectrogram_matches_scipy_stft(n_fft, hop, window):
    _, _, z = ss.stft(
        NOISE,
        fs=FS,
        window="hann" if window else "boxcar",
        nperseg=n_fft,
        noverlap=n_fft - hop,
        boundary=None,
        padded=False,
        detrend=False,
    )
    ours = dsp.stft_log_spectrogram(NOISE, n_fft, hop, window)
    assert ours.shape == z.shape == (n_fft // 2 + 1, 1 + (len(NOISE) - n_fft) // hop)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, np.log(1e-12 + np.abs(z) ** 2), atol=1e-4)
    db = dsp.stft_log_spectrogram(NOISE, n_fft, hop, window, db=True, eps=1e-10)
    np.testing.assert_allclose(db, 10 * np.log10(1e-10 + np.abs(z) ** 2), atol=1e-3)


def test_stft_tone_row():
    spec = dsp.stft_log_spectrogram(tone(40 * FS / 256, 2048), 256, 128)
    assert np.all(np.argmax(spec, axis=0) == 40)


def test_mel_filterbank_partition_of_unity_and_log_mel_tone():
    fb = dsp.mel_filterbank(20, 512, FS, fmin=100.0, fmax=5000.0)
    f = dsp.fft_frequencies(512, FS)
    centres = dsp.mel_to_hz(np.linspace(dsp.hz_to_mel(100.0), dsp.hz_to_mel(5000.0), 22))[1:-1]
    inner = (f >= centres[0]) & (f <= centres[-1])
    np.testing.assert_allclose(fb[:, inner].sum(axis=0), 1.0, atol=1e-6)
    assert fb.shape == (20, 257) and fb.min() >= 0 and fb[:, f > 5000].max() == 0
    assert np.all(np.diff(f[np.argmax(fb, axis=1)]) > 0)
    np.testing.assert_allclose(dsp.hz_to_mel(1000.0), 999.99, atol=0.01)  # HTK: 1 kHz ~ 1000 mel
    lm = dsp.log_mel_spectrogram(tone(centres[7], 4096), FS, 512, 256, 20, 100.0, 5000.0)
    assert lm.shape == (20, 15) and np.all(np.argmax(lm, axis=0) == 7)


@pytest.mark.parametrize("n", [1000, 1001])
def test_analytic_signal_matches_scipy_hilbert(n):
    np.testing.assert_allclose(dsp.analytic_signal(NOISE[:n]), ss.hilbert(NOISE[:n]), atol=1e-12)


def test_envelope_of_am_tone_and_band_pass():
    n, fm, m = 12000, 50.0, 0.5
    am = (1 + m * np.cos(2 * np.pi * fm * np.arange(n) / FS)) * tone(3000.0, n)
    inner = slice(1000, -1000)
    expected = 1 + m * np.cos(2 * np.pi * fm * np.arange(n) / FS)
    np.testing.assert_allclose(dsp.envelope(am)[inner], expected[inner], atol=1e-3)
    disturbed = am + 3.0 * tone(60.0, n)  # a strong low-frequency line outside the band
    env = dsp.envelope(disturbed, FS, band=(2000.0, 4000.0))
    np.testing.assert_allclose(env[inner], expected[inner], atol=1e-3)


def test_envelope_spectrum_shows_the_modulation_frequency():
    n, fm, m = 24000, 37.5, 0.4
    carrier = tone(3100.0, n)
    am = (1 + m * np.cos(2 * np.pi * fm * np.arange(n) / FS)) * carrier + 0.1 * RNG.normal(size=n)
    es = dsp.envelope_spectrum(am, FS)
    f = dsp.fft_frequencies(n, FS)
    peak = np.argmax(es[1:]) + 1
    assert f[peak] == pytest.approx(fm)
    assert es[peak] == pytest.approx(m, rel=0.05)  # the envelope's modulation amplitude
    assert es[peak] > 10 * np.median(es)


@pytest.mark.parametrize("n", [1000, 1001])
@pytest.mark.parametrize("num", [500, 701, 1000, 1500, 1999])
def test_resample_matches_scipy_resample(n, num):
    y = resample(NOISE[:n], num)
    assert y.shape == (num,) and y.dtype == np.float32
    np.testing.assert_allclose(y, ss.resample(NOISE[:n], num), atol=1e-5)


@pytest.mark.parametrize("up,down", [(1, 2), (2, 1), (5, 6), (6, 5), (3, 7), (4, 6), (3, 3)])
def test_resample_poly_matches_scipy(up, down):
    y = resample_poly(NOISE[:1001], up, down)
    np.testing.assert_allclose(y, ss.resample_poly(NOISE[:1001], up, down), atol=1e-5)


def test_resample_to_rate_methods():
    x = NOISE[:2400]
    np.testing.assert_allclose(resample_to_rate(x, 12000, 10000, method="poly"), ss.resample_poly(x, 5, 6), atol=1e-5)
    np.testing.assert_allclose(resample_to_rate(x, 12000, 11980), ss.resample(x, 2396), atol=1e-5)
    with pytest.raises(ConfigError, match="12000 -> 11980 Hz .* use method='fft'"):
        resample_to_rate(x, 12000, 11980, method="poly")


def test_angular_resample_constant_speed_puts_orders_on_bins():
    shaft, spr, revs = 1797 / 60, 64, 50
    n = int(round(revs * FS / shaft))
    x = tone(3 * shaft, n) + 0.5 * tone(5.4152 * shaft, n)
    y = angular_resample(x, FS, shaft, spr)
    assert len(y) == revs * spr
    mag = dsp.fft_magnitude(y)
    orders = dsp.fft_frequencies(len(y), spr)  # cycles per revolution
    assert orders[np.argmax(mag)] == pytest.approx(3.0)
    assert orders[np.argmax(np.where(orders > 4, mag, 0))] == pytest.approx(5.4152, abs=1 / revs)


def test_angular_resample_speed_profile_gives_a_pure_order():
    n = 24000
    speed = np.linspace(20.0, 30.0, n)  # run-up, Hz
    revs = np.concatenate([[0.0], np.cumsum((speed[1:] + speed[:-1]) / 2)]) / FS
    x = np.sin(2 * np.pi * 4 * revs)  # order 4 of the shaft
    y = angular_resample(x, FS, speed, 32)
    assert len(y) == int(revs[-1] * 32) + 1
    np.testing.assert_allclose(y, np.sin(2 * np.pi * 4 * np.arange(len(y)) / 32), atol=1e-3)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: dsp.frame(NOISE, 0, 1), ConfigError, r"length must be an integer >= 1, got 0"),
        (lambda: dsp.frame(NOISE, 16, 2.5), ConfigError, r"hop must be an integer >= 1, got 2.5"),
        (lambda: dsp.frame(NOISE.reshape(64, 64), 16, 4), DataError, r"x: shape \(64, 64\), expected a 1-D"),
        (lambda: dsp.rms(np.array([1.0, np.nan])), DataError, r"x: NaN or infinite"),
        (lambda: dsp.rms(np.array(["a", "b"])), DataError, r"expected real numbers"),
        (lambda: dsp.stft_log_spectrogram(NOISE[:100], 256, 64), DataError, r"x: 100 samples, expected at least 256"),
        (
            lambda: dsp.stft_log_spectrogram(NOISE, 256, 64, window="hamming"),
            ConfigError,
            r"window must be 'hann' or None",
        ),
        (lambda: dsp.stft_log_spectrogram(NOISE, 256, 64, eps=0), ConfigError, r"eps must be a positive"),
        (lambda: dsp.fft_frequencies(100, 0), ConfigError, r"sample_rate must be a positive number, got 0"),
        (lambda: dsp.envelope(NOISE, band=(100, 200)), ConfigError, r"band needs sample_rate"),
        (lambda: dsp.envelope(NOISE, FS, band=(3000, 7000)), ConfigError, r"high <= sample_rate/2 = 6000"),
        (lambda: dsp.mel_filterbank(10, 256, FS, fmin=5000, fmax=1000), ConfigError, r"fmin < fmax"),
        (lambda: resample(NOISE, 0), ConfigError, r"num must be an integer >= 1"),
        (lambda: resample_to_rate(NOISE, 12000, 6000, method="linear"), ConfigError, r"'fft' or 'poly'"),
        (lambda: angular_resample(NOISE, FS, np.ones(10), 64), DataError, r"shaft_hz: expected 4096 positive"),
        (lambda: angular_resample(NOISE, FS, -30.0, 64), ConfigError, r"shaft_hz must be a positive number"),
    ],
)
def test_bad_arguments_raise_with_clear_messages(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
