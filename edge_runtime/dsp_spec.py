"""The vibration feature pipeline a model was trained with, as data: `DspSpec` and `apply`.

Training and the device both call `apply(spec, raw_window)`, so the model input is computed by the
same numpy code on both sides (no training/serving skew by construction); the spec travels in the
bundle manifest as `spec.to_dict()`. Kinds (per raw window of `window` samples):

    raw                (L, 1)              the samples themselves
    time_features      (4,)                dsp.TIME_FEATURES
    fft                (bins, 1)           dsp.fft_magnitude, bins <= max_freq
    envelope_spectrum  (bins, 1)           dsp.envelope_spectrum (optional band-pass), bins <= max_freq
    spectrogram        (n_fft//2+1, T, 1)  dsp.stft_log_spectrogram with stft_hop
    log_mel            (n_mels, T, 1)      dsp.log_mel_spectrogram
    fault_orders       (F,)                orders.features: envelope lines at the bearing's fault
                                           orders (`orders`, an OrderSpec dict), dB over background

With samples_per_rev > 0 the window is first angular-resampled (resample.angular_resample, needs
the shaft speed) and cut to `order_samples`, and every frequency (band, max_freq, mel edges) is in
orders (cycles per revolution) instead of Hz. Normalization is a z-score with statistics fitted on
training windows only (`fit_normalization`): "global" (one mean and std) or "per_bin" (one per row
of the feature: frequency bin, mel band or time feature).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from prognos.edge_runtime import dsp, orders as fault_orders
from prognos.edge_runtime.bearings import get_bearing
from prognos.edge_runtime.errors import ConfigError, DataError
from prognos.edge_runtime.resample import angular_resample

KINDS = ("raw", "time_features", "fft", "envelope_spectrum", "spectrogram", "log_mel", "fault_orders")
DEFAULT_BEARING = get_bearing("6205").to_dict()
VECTOR_KINDS = ("time_features", "fault_orders")  # one feature vector per window, no channel axis
NORMS = ("none", "global", "per_bin")


@dataclass
class DspSpec:
    """Feature pipeline of one model; defaults suit 12 kHz CWRU drive-end data."""

    kind: str = "spectrogram"
    sample_rate: float = 12000.0  # Hz of the raw stream (CWRU 12k drive end)
    window: int = 2048  # raw samples per model input: 0.17 s, ~5 shaft revolutions, ~28 BPFI impacts
    hop: int = 512  # raw samples between consecutive windows of a stream (75 % overlap)
    n_fft: int = 256  # STFT frame: 21 ms, 47 Hz bins, short enough to resolve single impacts
    stft_hop: int = 64  # -> 29 frames of a 2048-sample window
    n_mels: int = 40
    db: bool = False  # log scale of spectrogram / log_mel: ln (False) or dB (True)
    band: list[float] | None = None  # envelope band-pass (low, high); None = whole band
    max_freq: float | None = None  # keep fft / envelope bins <= max_freq; None = all
    samples_per_rev: int = 0  # > 0: angular resampling first (apply then needs shaft_hz)
    order_samples: int = 0  # samples kept after angular resampling (fixes the model input shape)
    norm: str = "none"
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    orders: dict | None = None  # kind fault_orders: orders.OrderSpec.to_dict() (bearing, shaft speed source);
    # None = the CWRU drive-end SKF 6205 with the speed passed per window

    def __post_init__(self):
        _check_choice(self.kind, "kind", KINDS)
        _check_choice(self.norm, "norm", NORMS)
        self.sample_rate = dsp.check_rate(self.sample_rate, "DspSpec.sample_rate")
        for name in ("window", "hop", "n_fft", "stft_hop", "n_mels"):
            dsp.check_int(getattr(self, name), f"DspSpec.{name}")
        dsp.check_int(self.samples_per_rev, "DspSpec.samples_per_rev", minimum=0)
        if self.samples_per_rev:
            dsp.check_int(self.order_samples, "DspSpec.order_samples (needed with samples_per_rev)", minimum=2)
        if self.kind in ("spectrogram", "log_mel") and self.length < self.n_fft:
            raise ConfigError(f"DspSpec: {self.length} samples per window, expected at least n_fft={self.n_fft}")
        if self.kind == "fault_orders":
            if self.samples_per_rev:
                raise ConfigError(
                    "DspSpec: kind='fault_orders' reads lines at orders x shaft_hz itself; samples_per_rev must be 0"
                )
            self.orders = fault_orders.OrderSpec.from_dict(self.orders or {"bearing": DEFAULT_BEARING}).to_dict()
        if self.norm == "per_bin" and self.kind == "raw":
            raise ConfigError("DspSpec: norm='per_bin' is meaningless for kind='raw'; use 'global'")
        if len(self.mean) != len(self.std) or any(not s > 0 for s in self.std):
            raise ConfigError(
                f"DspSpec: {len(self.mean)} means and {len(self.std)} stds, expected equal counts and every std > 0"
            )

    @property
    def length(self) -> int:
        """Samples the features see: order_samples with angular resampling, else window."""
        return self.order_samples if self.samples_per_rev else self.window

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DspSpec":
        """Inverse of to_dict; unknown keys raise (a newer spec must not run silently different)."""
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"DspSpec: unknown fields {unknown}; this runtime knows {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**d)


def _check_choice(value, name, choices):
    if value not in choices:
        raise ConfigError(f"DspSpec.{name} must be one of {', '.join(choices)}; got {value!r}")


def _resampled(spec: DspSpec, raw_window, shaft_hz) -> tuple[np.ndarray, float]:
    """The window the features see and its rate (Hz, or samples per revolution)."""
    x = dsp.check_signal(raw_window, "raw_window")
    if len(x) != spec.window:
        raise DataError(f"raw_window: {len(x)} samples, expected DspSpec.window={spec.window}")
    if not spec.samples_per_rev:
        return x, spec.sample_rate
    if shaft_hz is None:
        raise ConfigError("apply: this DspSpec resamples by shaft angle (samples_per_rev > 0); pass shaft_hz")
    y = angular_resample(x, spec.sample_rate, shaft_hz, spec.samples_per_rev)
    if len(y) < spec.order_samples:
        raise DataError(
            f"raw_window at shaft_hz={shaft_hz} gives {len(y)} samples at {spec.samples_per_rev}"
            f"/rev, expected at least order_samples={spec.order_samples}; lengthen DspSpec.window"
        )
    return y[: spec.order_samples].astype(np.float64), float(spec.samples_per_rev)


def _features(spec: DspSpec, x: np.ndarray, rate: float, shaft_hz=None) -> np.ndarray:
    """Unnormalized features of one window, without the channel axis."""
    if spec.kind == "fault_orders":
        return fault_orders.features(x, rate, fault_orders.OrderSpec.from_dict(spec.orders), shaft_hz)
    if spec.kind == "raw":
        return x.astype(np.float32)
    if spec.kind == "time_features":
        return dsp.time_features(x)
    if spec.kind in ("spectrogram", "log_mel"):
        if spec.kind == "spectrogram":
            return dsp.stft_log_spectrogram(x, spec.n_fft, spec.stft_hop, db=spec.db)
        return dsp.log_mel_spectrogram(x, rate, spec.n_fft, spec.stft_hop, spec.n_mels, db=spec.db)
    if spec.kind == "fft":
        spectrum = dsp.fft_magnitude(x)
    else:
        spectrum = dsp.envelope_spectrum(x, rate, spec.band)
    if spec.max_freq is None:
        return spectrum
    return spectrum[dsp.fft_frequencies(len(x), rate) <= spec.max_freq]


def _normalize(spec: DspSpec, f: np.ndarray) -> np.ndarray:
    if spec.norm == "none":
        return f
    if not spec.mean:
        raise ConfigError(f"DspSpec.norm={spec.norm!r} but no statistics; call fit_normalization first")
    shape = (-1,) + (1,) * (f.ndim - 1)
    mean, std = np.reshape(spec.mean, shape), np.reshape(spec.std, shape)
    if spec.norm == "per_bin" and len(spec.mean) != len(f):
        raise ConfigError(f"DspSpec: {len(spec.mean)} per-bin statistics, features have {len(f)} rows")
    return ((f - mean) / std).astype(np.float32)


def apply(spec: DspSpec, raw_window, shaft_hz=None) -> np.ndarray:
    """Model input (float32, shape `input_shape(spec)`) of one raw window of `spec.window` samples."""
    f = _normalize(spec, _features(spec, *_resampled(spec, raw_window, shaft_hz), shaft_hz))
    return f if spec.kind in VECTOR_KINDS else f[..., None]


def apply_many(spec: DspSpec, raw_windows, shaft_hz=None) -> np.ndarray:
    """apply() over (N, window) windows -> (N, *input_shape); shaft_hz one value or one per window."""
    raw_windows = np.asarray(raw_windows)
    speeds = np.broadcast_to(np.asarray(shaft_hz, dtype=object), (len(raw_windows),))
    out = [apply(spec, w, s) for w, s in zip(raw_windows, speeds)]
    return np.stack(out) if out else np.zeros((0, *input_shape(spec)), np.float32)


def input_shape(spec: DspSpec) -> tuple[int, ...]:
    """Shape of one model input (without the batch axis)."""
    if spec.kind == "fault_orders":
        return (len(fault_orders.feature_names(fault_orders.OrderSpec.from_dict(spec.orders))),)
    rate = float(spec.samples_per_rev) if spec.samples_per_rev else spec.sample_rate
    shape = _features(spec, np.zeros(spec.length), rate).shape
    return shape if spec.kind in VECTOR_KINDS else (*shape, 1)


def windows(spec: DspSpec, stream) -> np.ndarray:
    """All full raw windows of a 1-D stream at the spec's window and hop: (N, window) float32."""
    return dsp.frame(stream, spec.window, spec.hop)


def fit_normalization(spec: DspSpec, raw_windows, norm: str = "per_bin", shaft_hz=None) -> DspSpec:
    """A copy of `spec` with z-score statistics of the features of `raw_windows` (training windows only).

    A constant feature row gets std 1 (it is centred but not scaled), so apply never divides by 0.
    """
    _check_choice(norm, "norm", NORMS)
    plain = replace(spec, norm="none", mean=[], std=[])
    if norm == "none":
        return plain
    feats = apply_many(plain, raw_windows, shaft_hz).astype(np.float64)
    if len(feats) == 0:
        raise DataError("fit_normalization: no raw windows, expected at least one training window")
    axes = None if norm == "global" else tuple(i for i in range(feats.ndim) if i != 1)
    mean, std = np.atleast_1d(feats.mean(axis=axes)), np.atleast_1d(feats.std(axis=axes))
    std = np.where(std > 0, std, 1.0)
    return replace(plain, norm=norm, mean=mean.tolist(), std=std.tolist())


def with_bearing(spec: DspSpec, bearing=None, shaft_hz=None) -> DspSpec:
    """The spec a device runs for its own bearing: kind fault_orders reads `bearing`'s fault orders
    (a name, TOML file or FILE.toml:NAME; None keeps the trained one) and uses `shaft_hz` when no
    speed is passed per window. Other kinds have no bearing: passing one is a ConfigError."""
    if spec.kind != "fault_orders":
        if bearing is not None:
            raise ConfigError(
                f"--bearing {bearing!r}: this DspSpec is kind {spec.kind!r}, which does not read "
                "bearing fault orders; only kind 'fault_orders' (prognos vibration --kind "
                "fault_orders) transfers to another bearing"
            )
        return spec
    order_spec = fault_orders.with_bearing(fault_orders.OrderSpec.from_dict(spec.orders), bearing, shaft_hz)
    return replace(spec, orders=order_spec.to_dict())
