"""What a device must compute before invoking a bundle's model, as constants and buffer sizes.

From a bundle manifest's preprocessing (and postprocessing) section:
- RUL bundles (edge_runtime.features.Preprocessor): feature order, z-score means and stds, window,
  RUL cap, EMA smoothing, padding; any further numeric table the preprocessor carries (e.g.
  per-regime statistics) is passed through under its own name, so a richer preprocessor is never
  silently dropped;
- vibration bundles (edge_runtime.dsp_spec.DspSpec): kind, rate, window, hop, FFT size and hop,
  the window function as a table (periodic Hann, edge_runtime.dsp.hann: the same numbers the
  training side used), the mel filterbank (log_mel), per-bin means and stds, class names.
`constants` returns {name: value} (numbers, strings, flat or 2-D lists) that export.mcu writes as C;
`buffers` the RAM the device needs for them next to the arena (float32 samples and features).
"""

from __future__ import annotations

import math

import numpy as np

F32 = 4
RUL_KEYS = {"features", "mean", "std", "window", "rul_cap", "padding", "smoothing", "selection"}


def constants(manifest: dict) -> dict:
    pre, post = manifest.get("preprocessing") or {}, manifest.get("postprocessing") or {}
    out = _dsp(pre["dsp"]) if "dsp" in pre else _rul(pre)
    if "rul_scale" in post:
        out["rul_scale"] = float(post["rul_scale"])
    if "classes" in post:
        out["classes"] = list(post["classes"])
    return out


def _rul(pre: dict) -> dict:
    out = {
        "window": int(pre["window"]),
        "n_features": len(pre["features"]),
        "feature_names": list(pre["features"]),
        "feature_mean": [float(v) for v in pre["mean"]],
        "feature_std": [float(v) for v in pre["std"]],
        "rul_cap": float(pre["rul_cap"]),
        "smoothing": float(pre.get("smoothing", 0.0)),
        "padding": pre.get("padding", "edge"),
    }
    for key, value in pre.items():  # e.g. per-regime tables of a richer preprocessor
        if key not in RUL_KEYS:
            out.update(_tables(key, value))
    return out


def _tables(key: str, value):
    """(name, numbers) of a numeric scalar, flat or 2-D list, or of every such entry of a nested dict."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _tables(f"{key}_{k}", v)
    elif _numeric(value):
        yield key, value


def _numeric(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, list)):
        return False
    try:
        table = np.asarray(value, np.float64)
    except (TypeError, ValueError):  # ragged or not numbers
        return False
    return table.ndim <= 2 and table.size > 0


def _dsp(d: dict) -> dict:
    from prognos.edge_runtime import dsp
    from prognos.edge_runtime.dsp_spec import DspSpec, input_shape

    spec = DspSpec.from_dict(d)
    out = {
        "dsp_kind": spec.kind,
        "sample_rate": spec.sample_rate,
        "window": spec.window,
        "hop": spec.hop,
        "samples_per_rev": spec.samples_per_rev,
        "order_samples": spec.order_samples,
        "norm": spec.norm,
        "feature_shape": list(input_shape(spec)),
        "window_function": "hann (periodic)",
    }
    if spec.kind in ("spectrogram", "log_mel"):
        out.update(n_fft=spec.n_fft, stft_hop=spec.stft_hop, db=int(spec.db), log_eps=1e-12)
        out["window_table"] = dsp.hann(spec.n_fft).tolist()
    elif spec.kind in ("fft", "envelope_spectrum"):
        out["window_table"] = dsp.hann(spec.length).tolist()
    if spec.kind == "log_mel":
        rate = float(spec.samples_per_rev) if spec.samples_per_rev else spec.sample_rate
        out["n_mels"] = spec.n_mels
        out["mel_filterbank"] = dsp.mel_filterbank(spec.n_mels, spec.n_fft, rate).tolist()
    if spec.max_freq is not None:
        out["max_freq"] = float(spec.max_freq)
    if spec.band:
        out["band"] = [float(v) for v in spec.band]
    if spec.mean:
        out.update(norm_mean=list(spec.mean), norm_std=list(spec.std))
    return out


def buffers(manifest: dict) -> dict:
    """{buffer: bytes} of float32 RAM next to the arena (the model input itself lives in the arena)."""
    pre = manifest.get("preprocessing") or {}
    if "dsp" not in pre:
        rows = int(pre["window"]) * len(pre["features"]) * F32
        return {
            "row ring (window x features)": rows,
            **({"EMA state": len(pre["features"]) * F32} if pre.get("smoothing") else {}),
        }
    from prognos.edge_runtime.dsp_spec import DspSpec, input_shape

    spec = DspSpec.from_dict(pre["dsp"])
    out = {"raw window": spec.window * F32}
    if spec.samples_per_rev:
        out["angular resampled"] = spec.order_samples * F32
    if spec.kind != "time_features" and spec.kind != "raw":
        frame = spec.n_fft if spec.kind in ("spectrogram", "log_mel") else spec.length
        out["FFT frame (complex)"] = frame * 2 * F32 * (2 if spec.kind == "envelope_spectrum" else 1)
    out["features"] = math.prod(input_shape(spec)) * F32
    return out


def tables_bytes(consts: dict) -> int:
    """Flash of the constant tables as export.mcu writes them: float32, int32, strings + pointers."""
    total = 0
    for value in consts.values():
        if isinstance(value, list):
            flat = np.ravel(np.asarray(value, dtype=object))
            total += sum(len(str(v)) + 1 + F32 for v in flat) if isinstance(flat[0], str) else len(flat) * F32
    return total
