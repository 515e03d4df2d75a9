"""Vibration DSP shared by training and the device: numpy only (no scipy on devices).

- Framing of a raw stream into windows with a hop; time features RMS, kurtosis (Pearson,
  m4 / m2^2, normal = 3), crest factor (peak / RMS), peak-to-peak.
- One-sided FFT amplitude spectrum, periodic Hann window (Harris 1978), scaled so a sinusoid of
  amplitude A centred on a bin reads A.
- STFT log-power spectrogram: frames of `n_fft` with hop, no padding, X = rfft(w x) / sum(w)
  (scipy's 'spectrum' scaling), output ln(eps + |X|^2), or 10 log10(eps + |X|^2) with db=True.
  The natural log is the default: it is the plain log-power a network sees after normalization.
- Log-mel spectrogram with HTK mel scale m = 2595 log10(1 + f / 700), unit-peak triangles.
- Envelope analysis (Randall & Antoni 2011, "Rolling element bearing diagnostics - a tutorial",
  MSSP 25): analytic signal by the FFT method (Marple 1999; what scipy.signal.hilbert does),
  optionally band-passed by zeroing bins, envelope |z|, envelope spectrum of the mean-removed
  envelope.
- Reconstruction error (the anomaly score of an autoencoder bundle): per-window mean of (x - x̂)².
Resampling and angular (order) resampling live in `edge_runtime.resample`.
Outputs are float32; arithmetic runs in float64. Bad arguments raise ConfigError, bad signals
DataError, each naming the argument and what was expected.
"""

from __future__ import annotations

import numpy as np

from prognos.edge_runtime.errors import ConfigError, DataError

TIME_FEATURES = ("rms", "kurtosis", "crest_factor", "peak_to_peak")


def check_signal(x, name: str = "x", min_len: int = 1, ndim: int | None = 1) -> np.ndarray:
    """`x` as finite float64 with `ndim` dims (None: at least one) and `min_len` samples on the last axis."""
    a = np.asarray(x)
    if a.dtype.kind not in "iuf":
        raise DataError(f"{name}: dtype {a.dtype}, expected real numbers")
    if (ndim is not None and a.ndim != ndim) or a.ndim == 0:
        raise DataError(f"{name}: shape {a.shape}, expected a {ndim or '>=1'}-D signal")
    if a.shape[-1] < min_len:
        raise DataError(f"{name}: {a.shape[-1]} samples, expected at least {min_len}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise DataError(f"{name}: NaN or infinite values, expected finite samples")
    return a


def check_int(value, name: str, minimum: int = 1) -> int:
    """`value` as an int >= minimum (bools and floats are refused), else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_rate(value, name: str = "sample_rate") -> float:
    """`value` as a positive finite float (Hz), else ConfigError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.number))
        or not np.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def hann(n: int) -> np.ndarray:
    """Periodic Hann window w[k] = 0.5 - 0.5 cos(2 pi k / n) (scipy.signal.get_window('hann', n))."""
    n = check_int(n, "window length")
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def _window(kind, n: int) -> np.ndarray:
    if kind is None:
        return np.ones(n)
    if kind == "hann":
        return hann(n)
    raise ConfigError(f"window must be 'hann' or None (rectangular), got {kind!r}")


def frame(x, length: int, hop: int) -> np.ndarray:
    """All full windows of a 1-D stream: (n_frames, length) float32, frame i = x[i*hop : i*hop+length].

    A stream shorter than `length` gives (0, length), as `features.sliding_windows` does.
    """
    length, hop = check_int(length, "length"), check_int(hop, "hop")
    x = check_signal(x, "x")
    if len(x) < length:
        return np.zeros((0, length), np.float32)
    return np.lib.stride_tricks.sliding_window_view(x, length)[::hop].astype(np.float32)


def rms(x) -> np.ndarray:
    """Root mean square over the last axis."""
    x = check_signal(x, "x", ndim=None)
    return np.sqrt(np.mean(x * x, axis=-1)).astype(np.float32)


def reconstruction_mse(x, x_hat) -> np.ndarray:
    """Per-window mean squared error over every axis but the first (N,), float64."""
    x, x_hat = np.asarray(x, np.float64), np.asarray(x_hat, np.float64)
    if x.size != x_hat.size or len(x) != len(x_hat):
        raise DataError(f"reconstruction_mse: inputs {x.shape} and reconstructions {x_hat.shape} differ in size")
    err = (x.reshape(len(x), -1) - x_hat.reshape(len(x_hat), -1)) ** 2
    return err.mean(axis=1)


def kurtosis(x, fisher: bool = False) -> np.ndarray:
    """Biased moment kurtosis m4 / m2^2 over the last axis (scipy.stats.kurtosis with bias=True).

    Pearson (normal = 3) by default, the vibration-monitoring convention; fisher=True subtracts 3.
    A constant window (dead sensor) gives 0 instead of NaN so a model never sees NaN.
    """
    x = check_signal(x, "x", ndim=None)
    d = x - x.mean(axis=-1, keepdims=True)
    m2, m4 = np.mean(d**2, axis=-1), np.mean(d**4, axis=-1)
    k = np.divide(m4, m2 * m2, out=np.zeros_like(m2), where=m2 > 0)
    return (k - 3.0 * bool(fisher) * (m2 > 0)).astype(np.float32)


def crest_factor(x) -> np.ndarray:
    """max|x| / RMS over the last axis (on x as given, DC included); 0 for an all-zero window."""
    x = check_signal(x, "x", ndim=None)
    peak, r = np.max(np.abs(x), axis=-1), np.sqrt(np.mean(x * x, axis=-1))
    return np.divide(peak, r, out=np.zeros_like(r), where=r > 0).astype(np.float32)


def peak_to_peak(x) -> np.ndarray:
    """max(x) - min(x) over the last axis."""
    x = check_signal(x, "x", ndim=None)
    return np.ptp(x, axis=-1).astype(np.float32)


def time_features(x) -> np.ndarray:
    """(..., 4) float32: the TIME_FEATURES (rms, kurtosis, crest factor, peak-to-peak) of each window."""
    return np.stack([rms(x), kurtosis(x), crest_factor(x), peak_to_peak(x)], axis=-1)


def fft_frequencies(n: int, sample_rate: float) -> np.ndarray:
    """Bin frequencies (Hz, float64) of a one-sided spectrum of `n` samples: k * sample_rate / n."""
    return np.arange(check_int(n, "n") // 2 + 1) * check_rate(sample_rate) / n


def fft_magnitude(x, window: str | None = "hann") -> np.ndarray:
    """One-sided amplitude spectrum over the last axis: (..., n//2 + 1) float32.

    |X_k| * 2 / sum(w) (DC and, for even n, Nyquist not doubled): a sinusoid of amplitude A whose
    frequency falls on a bin reads A in that bin, for either window.
    """
    x = check_signal(x, "x", min_len=2, ndim=None)
    n = x.shape[-1]
    w = _window(window, n)
    mag = np.abs(np.fft.rfft(x * w, axis=-1)) * (2.0 / w.sum())
    mag[..., 0] /= 2
    if n % 2 == 0:
        mag[..., -1] /= 2
    return mag.astype(np.float32)


def power_spectrogram(x, n_fft: int, hop: int, window: str | None = "hann") -> np.ndarray:
    """|rfft(w frame) / sum(w)|^2 of every full frame: (n_fft//2 + 1, n_frames) float64."""
    n_fft = check_int(n_fft, "n_fft", minimum=2)
    hop = check_int(hop, "hop")
    x = check_signal(x, "x", min_len=n_fft)
    w = _window(window, n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    spec = np.fft.rfft(frames * w, axis=-1) / w.sum()
    return (spec.real**2 + spec.imag**2).T


def _log(power: np.ndarray, db: bool, eps: float) -> np.ndarray:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ConfigError(f"eps must be a positive number, got {eps!r}")
    out = 10.0 * np.log10(eps + power) if db else np.log(eps + power)
    return out.astype(np.float32)


def stft_log_spectrogram(
    x, n_fft: int, hop: int, window: str | None = "hann", db: bool = False, eps: float = 1e-12
) -> np.ndarray:
    """Log-power STFT (freq_bins = n_fft//2 + 1, frames) float32: ln(eps + |X|^2), or dB with db=True.

    Frames start at sample 0 and are not padded: frames = 1 + (len(x) - n_fft) // hop. Equal to
    scipy.signal.stft(x, window='hann', nperseg=n_fft, noverlap=n_fft-hop, boundary=None,
    padded=False, detrend=False) then log(eps + |Zxx|^2). eps = 1e-12 is a -120 dB floor (in g^2
    for accelerometers), far below any sensor's noise.
    """
    return _log(power_spectrogram(x, n_fft, hop, window), db, eps)


def hz_to_mel(f):
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m):
    """Inverse of hz_to_mel."""
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_mels: int, n_fft: int, sample_rate: float, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """(n_mels, n_fft//2 + 1) float32 triangles, peak 1, centres equally spaced in mel (HTK).

    Adjacent triangles sum to 1 between the first and the last centre (no area normalization).
    """
    n_mels, n_fft = check_int(n_mels, "n_mels"), check_int(n_fft, "n_fft", minimum=2)
    sample_rate = check_rate(sample_rate)
    fmax = sample_rate / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ConfigError(
            f"mel band must satisfy 0 <= fmin < fmax <= sample_rate/2 = {sample_rate / 2:g}, "
            f"got fmin={fmin!r}, fmax={fmax!r}"
        )
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    f = fft_frequencies(n_fft, sample_rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising, falling = (f - lo) / (mid - lo), (hi - f) / (hi - mid)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def log_mel_spectrogram(
    x,
    sample_rate: float,
    n_fft: int,
    hop: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    db: bool = False,
    eps: float = 1e-12,
) -> np.ndarray:
    """(n_mels, frames) float32: ln(eps + mel_filterbank @ power_spectrogram), or dB with db=True."""
    power = power_spectrogram(x, n_fft, hop, "hann")
    fb = mel_filterbank(n_mels, n_fft, sample_rate, fmin, fmax).astype(np.float64)
    return _log(fb @ power, db, eps)


def _check_band(band, sample_rate) -> tuple[float, float]:
    if sample_rate is None:
        raise ConfigError("band needs sample_rate (Hz) to convert its edges to FFT bins")
    nyquist = check_rate(sample_rate) / 2
    try:
        lo, hi = (float(v) for v in band)
    except (TypeError, ValueError):
        raise ConfigError(f"band must be a pair (low Hz, high Hz), got {band!r}") from None
    if not 0 <= lo < hi <= nyquist:
        raise ConfigError(f"band must satisfy 0 <= low < high <= sample_rate/2 = {nyquist:g}, got {band!r}")
    return lo, hi


def analytic_signal(x, sample_rate: float | None = None, band=None) -> np.ndarray:
    """z = x + j H{x} by the FFT method (complex128), optionally band-passed to band=(lo, hi) Hz.

    Z_k = X_k for k = 0 (and Nyquist), 2 X_k for 0 < k < n/2, 0 for negative frequencies; with a band,
    positive bins outside [lo, hi] (and DC) are zeroed too. Without a band this is
    scipy.signal.hilbert(x).
    """
    x = check_signal(x, "x", min_len=2)
    n = len(x)
    spec = np.fft.fft(x)
    h = np.zeros(n)
    h[0] = 1.0
    h[1 : (n + 1) // 2] = 2.0
    if n % 2 == 0:
        h[n // 2] = 1.0
    if band is not None:
        lo, hi = _check_band(band, sample_rate)
        f = np.abs(np.fft.fftfreq(n, 1.0 / sample_rate))
        h[(f < lo) | (f > hi) | (np.arange(n) == 0)] = 0.0
    return np.fft.ifft(spec * h)


def envelope(x, sample_rate: float | None = None, band=None) -> np.ndarray:
    """Amplitude envelope |analytic_signal(x)|, float32."""
    return np.abs(analytic_signal(x, sample_rate, band)).astype(np.float32)


def envelope_spectrum(x, sample_rate: float | None = None, band=None, window: str | None = "hann") -> np.ndarray:
    """fft_magnitude of the mean-removed envelope: (len(x)//2 + 1,) float32.

    Bin frequencies: fft_frequencies(len(x), sample_rate). Bearing faults show lines at their
    characteristic frequency (BPFI, BPFO, ...) and harmonics; band-pass around a structural
    resonance (band=(lo, hi)) to raise them above the shaft harmonics.
    """
    env = np.abs(analytic_signal(x, sample_rate, band))
    return fft_magnitude(env - env.mean(), window)
