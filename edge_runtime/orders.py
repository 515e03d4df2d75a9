"""Fault-order features: the envelope spectrum read at a bearing's own kinematic fault orders.

A localized bearing fault shows in the envelope spectrum as lines at its characteristic frequency
and harmonics, with sidebands at the modulation (Randall & Antoni 2011, MSSP 25, section 3): inner
race at BPFI with +-1x shaft sidebands (the fault turns through the load zone), outer race at BPFO,
a ball at 2 BSF with +-FTF sidebands (the ball turns with the cage). The orders come from the
geometry (`edge_runtime.bearings`), so one feature vector has the same meaning on every bearing:

    feature "BPFO x2"    = the line at 2 x BPFO x shaft_hz
    value                = 20 log10(peak / background) in dB, where peak is the largest envelope-
                           spectrum bin within +-tolerance (slip) of the line and background the
                           median of the bins within +-1 shaft order of it
    over bands           = the largest value over the envelope bands (the structural resonance
                           that carries the impacts differs between machines; no band is tuned)

plus the log kurtosis of the raw window, 10 log10(kurtosis / 3) (0 dB for Gaussian noise). A model
trained on these dimensionless numbers for one bearing reads another from its geometry alone.

Options (OrderSpec; the defaults are the readings above, which bundles made before them carry):
`prewhiten` reads the envelope of the cepstrally prewhitened window (`prewhiten`: discrete lines and
resonance shapes flattened) over the dyadic bands of levels 0-2 of Antoni's kurtogram tree
(WHITE_BANDS), each line keeping its strongest band. `summary="families"` replaces the 32 readings by
8 relative family levels (`family_levels`): which family dominates, however weakly, rather than how
loud the fault is; `"lines+families"` puts the raw window's 32 readings first and the 8 after.

Shaft speed, in this order: the value passed to `features` (a tachometer / RPM per window, or
`--shaft-hz`), `OrderSpec.shaft_hz` (configured), an estimate from the window's spectrum within
`OrderSpec.shaft_range` (`estimate_shaft_hz`), else ConfigError.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from prognos.edge_runtime import dsp
from prognos.edge_runtime.bearings import Bearing, get_bearing
from prognos.edge_runtime.errors import ConfigError

DEFAULT_BANDS = ((1 / 24, 1 / 6), (1 / 8, 1 / 3), (1 / 4, 0.49))  # x sample rate: 0.5-2, 1.5-4, 3-5.9 kHz at 12 kHz
# prewhitened: the dyadic tree of Antoni's kurtogram, levels 0-2 (x sample rate: 0-6, 0-3, 3-6, 0-1.5, ...
# kHz at 12 kHz); each line keeps its strongest band, as the raw path does over DEFAULT_BANDS
WHITE_BANDS = tuple((i / 2**k / 2, (i + 1) / 2**k / 2) for k in range(3) for i in range(2**k))
FAMILIES = ("BPFO", "BPFI", "2BSF")  # the fault families of `lines`, in order
SUMMARIES = ("lines", "families", "lines+families")


@dataclass
class OrderSpec:
    """What `features` reads: the bearing, harmonics, envelope bands and the shaft speed source."""

    bearing: dict  # Bearing.to_dict(); swapped on the device for another bearing (`with_bearing`)
    harmonics: int = 3  # lines at 1..harmonics x each fault order
    tolerance: float = 0.02  # relative half-width of the peak search: rolling elements slip 1-2 %
    bands: list | None = None  # envelope band-passes [[lo, hi], ...] Hz; None = DEFAULT_BANDS x sample rate
    shaft_hz: float | None = None  # configured shaft speed, used when none is passed per window
    shaft_range: list | None = None  # [lo, hi] Hz: estimate the speed from the spectrum when none is given
    shaft_source: str = "given per window"  # how training got its speed (documentation in the manifest)
    prewhiten: bool = False  # cepstral pre-whitening before the envelope (`prewhiten`); default bands WHITE_BANDS
    summary: str = "lines"  # "lines": every line and the kurtosis; "families": 8 relative family levels;
    # "lines+families": the raw window's "lines" (never prewhitened) followed by the "families"

    def __post_init__(self):
        self.bearing = Bearing.from_dict(self.bearing, "OrderSpec.bearing").to_dict()
        dsp.check_int(self.harmonics, "OrderSpec.harmonics")
        if not isinstance(self.tolerance, (int, float)) or not 0 < self.tolerance < 0.2:
            raise ConfigError(f"OrderSpec.tolerance must be in (0, 0.2), got {self.tolerance!r}")
        if self.shaft_hz is not None:
            self.shaft_hz = dsp.check_rate(self.shaft_hz, "OrderSpec.shaft_hz")
        if self.shaft_range is not None:
            lo, hi = _pair(self.shaft_range, "OrderSpec.shaft_range")
            if not 0 < lo < hi:
                raise ConfigError(f"OrderSpec.shaft_range must satisfy 0 < low < high Hz, got {self.shaft_range!r}")
        for band in self.bands or []:
            _pair(band, "OrderSpec.bands entry")
        if not isinstance(self.prewhiten, bool):
            raise ConfigError(f"OrderSpec.prewhiten must be true or false, got {self.prewhiten!r}")
        if self.summary not in SUMMARIES:
            raise ConfigError(f"OrderSpec.summary must be one of {list(SUMMARIES)}, got {self.summary!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> "OrderSpec":
        if not isinstance(d, dict) or sorted(set(d) - set(cls.__dataclass_fields__)):
            raise ConfigError(
                f"OrderSpec: expected a table with keys among {sorted(cls.__dataclass_fields__)}, got {d!r}"
            )
        return cls(**d)


def _pair(value, name) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a pair (low Hz, high Hz), got {value!r}") from None
    return lo, hi


def with_bearing(spec: OrderSpec, bearing=None, shaft_hz=None) -> OrderSpec:
    """A copy reading another bearing (name, TOML file or Bearing) and/or with a configured shaft speed."""
    b = spec.bearing if bearing is None else get_bearing(bearing).to_dict()
    return replace(spec, bearing=b, shaft_hz=spec.shaft_hz if shaft_hz is None else shaft_hz)


def lines(spec: OrderSpec) -> list[tuple[str, float]]:
    """(feature name, order) of every envelope line read, in feature order (bearing-independent names)."""
    o = Bearing.from_dict(spec.bearing).orders()
    out = []
    for name, base, side, side_name in (
        ("BPFO", o["BPFO"], 1.0, "1x"),
        ("BPFI", o["BPFI"], 1.0, "1x"),
        ("2BSF", 2 * o["BSF"], o["FTF"], "FTF"),
    ):
        for h in range(1, spec.harmonics + 1):
            out += [
                (f"{name} x{h}", h * base),
                (f"{name} x{h} -{side_name}", h * base - side),
                (f"{name} x{h} +{side_name}", h * base + side),
            ]
    return out + [("BSF x1", o["BSF"]), ("FTF x1", o["FTF"]), ("shaft x1", 1.0), ("shaft x2", 2.0)]


def feature_names(spec: OrderSpec) -> list[str]:
    if spec.summary == "lines+families":
        return feature_names(replace(spec, summary="lines")) + feature_names(replace(spec, summary="families"))
    if spec.summary == "families":
        return (
            [f"{f} lines rel dB" for f in FAMILIES]
            + [f"{f} sidebands rel dB" for f in FAMILIES]
            + ["lines max dB", "sidebands max dB"]
        )
    return [name for name, _ in lines(spec)] + ["kurtosis dB"]


def family_levels(snr: np.ndarray, harmonics: int) -> np.ndarray:
    """The 8 "families" features from the line readings `snr` (in `lines` order).

    Per family (BPFO, BPFI, 2BSF): the mean dB of its harmonics and the mean dB of their sidebands,
    each minus the strongest family's, so the dominant family reads 0 and a weak but dominant line
    still ranks first; then the strongest family's two levels in dB (fault or not).
    """
    per = np.asarray(snr[: 9 * harmonics], np.float64).reshape(len(FAMILIES), harmonics, 3)
    line, side = per[:, :, 0].mean(axis=1), per[:, :, 1:].mean(axis=(1, 2))
    return np.concatenate([line - line.max(), side - side.max(), [line.max(), side.max()]])


def prewhiten(x) -> np.ndarray:
    """Cepstral pre-whitening: the window with every spectral magnitude set to 1, phases kept.

    Equivalent to zeroing the real cepstrum except at zero quefrency (Sawalhi & Randall 2011;
    Borghesani et al. 2013, MSSP 36): discrete lines (shaft, gear mesh) and the resonances' shape
    are flattened together, so the impulsive fault content of every band counts in one envelope
    without choosing a band. Bins of (near) zero magnitude and DC stay 0.
    """
    x = np.asarray(x, np.float64)
    spec = np.fft.rfft(x - x.mean())
    mag = np.abs(spec)
    white = np.divide(spec, mag, out=np.zeros_like(spec), where=mag > 1e-12 * mag.max(initial=0.0))
    return np.fft.irfft(white, len(x))


def describe(spec: OrderSpec) -> dict:
    """What a manifest shows: the bearing geometry, its fault orders, the shaft speed source, feature names."""
    orders = Bearing.from_dict(spec.bearing).orders()
    return {
        "bearing": spec.bearing,
        "orders_per_rev": {k: round(v, 5) for k, v in orders.items()},
        "shaft_speed": {
            "training": spec.shaft_source,
            "configured_hz": spec.shaft_hz,
            "estimate_range_hz": spec.shaft_range,
        },
        "features": feature_names(spec),
    }


def bands_hz(spec: OrderSpec, sample_rate: float) -> list[tuple[float, float]]:
    """The envelope bands in Hz: OrderSpec.bands, or DEFAULT_BANDS (WHITE_BANDS if prewhitened) x sample rate."""
    if not spec.bands:
        return [(lo * sample_rate, hi * sample_rate) for lo, hi in (WHITE_BANDS if spec.prewhiten else DEFAULT_BANDS)]
    bands = [_pair(b, "OrderSpec.bands entry") for b in spec.bands]
    for lo, hi in bands:
        if not 0 <= lo < hi <= sample_rate / 2:
            raise ConfigError(
                f"OrderSpec.bands: [{lo:g}, {hi:g}] Hz; expected 0 <= low < high <= sample_rate/2 = {sample_rate / 2:g}"
            )
    return bands


def line_snr(spectrum: np.ndarray, df: float, freqs_hz, tolerance: float, background_hz: float) -> np.ndarray:
    """20 log10(peak / median background) in dB at each frequency of `freqs_hz` (bins of width df Hz).

    Peak: the largest bin within +-max(tolerance f, df) of f; background: the median of the bins within
    +-background_hz of f. DC is never read; a line beyond the spectrum reads 0 dB (no evidence).
    """
    n, f = len(spectrum), np.asarray(freqs_hz, np.float64)
    half = np.maximum(tolerance * f, df)
    lo = np.clip(np.floor((f - half) / df).astype(int), 1, n)
    hi = np.clip(np.ceil((f + half) / df).astype(int) + 1, 1, n)
    idx = lo[:, None] + np.arange(max(1, int((hi - lo).max(initial=1))))
    inside = idx < hi[:, None]
    peak = np.where(inside, spectrum[np.minimum(idx, n - 1)], -np.inf).max(axis=1)
    k = max(1, int(np.ceil(background_hz / df)))
    bidx = np.round(f / df).astype(int)[:, None] + np.arange(-k, k + 1)
    valid = (bidx >= 1) & (bidx < n)
    background = np.ma.median(np.ma.masked_array(spectrum[np.clip(bidx, 0, n - 1)], ~valid), axis=1).filled(0.0)
    snr = 20 * np.log10((np.maximum(peak, 0.0) + 1e-12) / (background + 1e-12))
    return np.where((hi > lo) & (valid.sum(axis=1) >= 3), snr, 0.0)


def band_envelope_spectra(x: np.ndarray, sample_rate: float, bands) -> list[np.ndarray]:
    """dsp.envelope_spectrum(x, sample_rate, band) for every band, sharing one forward FFT of x."""
    n = len(x)
    spec = np.fft.fft(x)
    f = np.abs(np.fft.fftfreq(n, 1.0 / sample_rate))
    h = np.zeros(n)  # dsp.analytic_signal's weights: 2 on positive bins, 1 at Nyquist, 0 at DC and negative
    h[1 : (n + 1) // 2] = 2.0
    if n % 2 == 0:
        h[n // 2] = 1.0
    out = []
    for lo, hi in bands:
        env = np.abs(np.fft.ifft(spec * np.where((f >= lo) & (f <= hi), h, 0.0)))
        out.append(dsp.fft_magnitude(env - env.mean()).astype(np.float64))
    return out


def features(x, sample_rate: float, spec: OrderSpec, shaft_hz=None) -> np.ndarray:
    """(len(feature_names(spec)),) float32 fault-order features of one raw window (module docstring)."""
    x = dsp.check_signal(x, "x", min_len=64)
    hz = shaft_speed(spec, x, sample_rate, shaft_hz)
    if spec.summary == "lines+families":
        parts = (replace(spec, summary="lines", prewhiten=False), replace(spec, summary="families"))
        return np.concatenate([features(x, sample_rate, part, hz) for part in parts])
    targets = np.array([order for _, order in lines(spec)]) * hz
    df = sample_rate / len(x)
    source = prewhiten(x) if spec.prewhiten else x
    envelopes = band_envelope_spectra(source, sample_rate, bands_hz(spec, sample_rate))
    snr = np.max([line_snr(env, df, targets, spec.tolerance, hz) for env in envelopes], axis=0)
    if spec.summary == "families":
        return family_levels(snr, spec.harmonics).astype(np.float32)
    kurt = 10 * np.log10(max(float(dsp.kurtosis(x)), 1e-3) / 3)
    return np.append(snr, kurt).astype(np.float32)


def shaft_speed(spec: OrderSpec, x, sample_rate: float, shaft_hz=None) -> float:
    """The shaft speed (Hz) of one window: given, configured, or estimated (module docstring)."""
    if shaft_hz is not None:
        return dsp.check_rate(shaft_hz, "shaft_hz")
    if spec.shaft_hz is not None:
        return spec.shaft_hz
    if spec.shaft_range is not None:
        return estimate_shaft_hz(x, sample_rate, *spec.shaft_range)
    raise ConfigError(
        "fault-order features need the shaft speed: pass shaft_hz (--shaft-hz, a tachometer), "
        "or set OrderSpec.shaft_hz or shaft_range (estimate from the spectrum)"
    )


def estimate_shaft_hz(x, sample_rate: float, lo: float, hi: float, harmonics: int = 3, pad: int = 8) -> float:
    """Shaft speed in [lo, hi] Hz maximizing the summed log spectrum at 1..harmonics x f (harmonic sum).

    The raw window's Hann spectrum is zero-padded `pad` times so the candidate grid is finer than
    a bin; the answer is good to about a quarter of a raw FFT bin when the 1x and 2x lines stand out.
    """
    x = dsp.check_signal(x, "x", min_len=64)
    n = pad * len(x)
    mag = np.abs(np.fft.rfft((x - x.mean()) * dsp.hann(len(x)), n))
    df = sample_rate / n
    if not 0 < lo < hi or harmonics * hi >= sample_rate / 2:
        raise ConfigError(
            f"shaft_range [{lo}, {hi}] Hz: expected 0 < low < high and {harmonics} x high below "
            f"Nyquist ({sample_rate / 2:g} Hz)"
        )
    cand = np.arange(lo, hi + df, df)
    score = sum(np.log(np.interp(k * cand, np.arange(len(mag)) * df, mag) + 1e-12) for k in range(1, harmonics + 1))
    return float(cand[int(np.argmax(score))])
