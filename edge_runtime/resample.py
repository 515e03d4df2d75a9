"""Resampling and angular (order) resampling, numpy only, shared by training and the device.

- `resample`: the Fourier method (truncate or zero-pad the one-sided spectrum, Smith, "Digital
  Audio Resampling"; identical to scipy.signal.resample). An ideal anti-alias filter and any ratio,
  but it treats the window as periodic: the ends of a window ring slightly. It is the default
  because model windows are short fixed blocks and the ratio (e.g. 12000 -> 11980 Hz) is rarely a
  small fraction.
- `resample_poly`: rational up/down with a Kaiser-windowed sinc low-pass (beta 5, 10 * max(up, down)
  taps per side), the same filter and alignment as scipy.signal.resample_poly; no wrap-around, for
  long streams at small ratios such as 48 kHz -> 12 kHz.
- `angular_resample`: computed order tracking (Fyfe & Munck 1997, MSSP 11): the signal is
  resampled to a fixed number of samples per shaft revolution so that a fault line at k x shaft
  speed lands on the same bin at every load and speed (frequencies become orders).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from prognos.edge_runtime.dsp import check_int, check_rate, check_signal
from prognos.edge_runtime.errors import ConfigError, DataError


def resample(x, num: int) -> np.ndarray:
    """`x` resampled to `num` samples by the Fourier method: (num,) float32."""
    num = check_int(num, "num")
    x = check_signal(x, "x")
    n = len(x)
    m = min(n, num)
    spec = np.fft.rfft(x)[: m // 2 + 1]
    if m % 2 == 0 and num != n:  # the unpaired bin at m/2: fold (down) or split (up) the pair
        spec[m // 2] *= 2.0 if num < n else 0.5
    return (np.fft.irfft(spec, num) * (num / n)).astype(np.float32)


def lowpass_fir(up: int, down: int) -> np.ndarray:
    """Kaiser (beta 5) windowed sinc, cutoff 1 / max(up, down) of Nyquist, 20 max(up, down) + 1 taps, DC gain up."""
    rate = max(up, down)
    half = 10 * rate
    m = np.arange(-half, half + 1)
    h = np.sinc(m / rate) / rate * np.kaiser(2 * half + 1, 5.0)
    return h / h.sum() * up


def resample_poly(x, up: int, down: int) -> np.ndarray:
    """`x` resampled by up / down with a linear-phase FIR: (ceil(len(x) up / down),) float32.

    y[k] = (upsampled x * h)[half + k down]: output sample k sits at input time k down / up.
    """
    up, down = check_int(up, "up"), check_int(down, "down")
    x = check_signal(x, "x")
    g = math.gcd(up, down)
    up, down = up // g, down // g
    if up == down == 1:
        return x.astype(np.float32)
    n_out = -(-len(x) * up // down)
    h = lowpass_fir(up, down)
    half = (len(h) - 1) // 2
    xu = np.zeros(len(x) * up)
    xu[::up] = x
    y = np.convolve(xu, h)
    return y[half : half + n_out * down : down].astype(np.float32)


def resample_to_rate(x, orig_rate: float, target_rate: float, method: str = "fft", max_factor: int = 64) -> np.ndarray:
    """`x` sampled at orig_rate, resampled to target_rate Hz with `resample` ("fft") or `resample_poly` ("poly").

    "fft" gives round(len(x) target / orig) samples. "poly" needs target / orig = up / down with
    up, down <= max_factor (the filter has 20 max(up, down) + 1 taps), else ConfigError.
    """
    orig, target = check_rate(orig_rate, "orig_rate"), check_rate(target_rate, "target_rate")
    if method == "fft":
        x = check_signal(x, "x")
        return resample(x, max(1, round(len(x) * target / orig)))
    if method != "poly":
        raise ConfigError(f"method must be 'fft' or 'poly', got {method!r}")
    ratio = Fraction(target / orig).limit_denominator(max_factor)
    if max(ratio.numerator, ratio.denominator) > max_factor or abs(ratio - target / orig) > 1e-9 * target / orig:
        raise ConfigError(
            f"{orig:g} -> {target:g} Hz is not a ratio up/down with up, down <= {max_factor}; use method='fft'"
        )
    return resample_poly(x, ratio.numerator, ratio.denominator)


def angular_resample(x, sample_rate: float, shaft_hz, samples_per_rev: int) -> np.ndarray:
    """`x` resampled to `samples_per_rev` samples per shaft revolution: float32, bins in orders.

    shaft_hz a number (constant speed): band-limited `resample` to samples_per_rev * shaft_hz Hz.
    shaft_hz an array of len(x) (speed per sample, Hz, > 0): the shaft angle is integrated
    (trapezoid) and x is linearly interpolated at equal angle steps; linear interpolation
    attenuates content near Nyquist, so the input should be oversampled (resample first if not).
    """
    rate = check_rate(sample_rate)
    spr = check_int(samples_per_rev, "samples_per_rev", minimum=2)
    x = check_signal(x, "x", min_len=2)
    if np.ndim(shaft_hz) == 0:
        target = spr * check_rate(shaft_hz, "shaft_hz")
        return resample(x, max(1, round(len(x) * target / rate)))
    speed = check_signal(shaft_hz, "shaft_hz")
    if len(speed) != len(x) or np.any(speed <= 0):
        raise DataError(
            f"shaft_hz: expected {len(x)} positive speeds (one per sample of x), "
            f"got {len(speed)} values with minimum {speed.min():g}"
        )
    revs = np.concatenate([[0.0], np.cumsum((speed[1:] + speed[:-1]) / 2)]) / rate
    angles = np.arange(int(np.floor(revs[-1] * spr)) + 1) / spr
    t = np.interp(angles, revs, np.arange(len(x)))
    return np.interp(t, np.arange(len(x)), x).astype(np.float32)
