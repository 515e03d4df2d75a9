"""Write a deployable bundle: model file + manifest.json (read back by edge_runtime.bundle).

A "rul" bundle also carries `input_ranges`: per feature, the 0.1 % and 99.9 % quantiles of every value
in the training windows it is handed (raw feature units, after smoothing: what the device's windows
hold), so the device can flag inputs outside what the model was trained on (edge_runtime.stream).
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import numpy as np

from prognos.edge_runtime.backends import open_backend
from prognos.edge_runtime.bundle import SCHEMA_VERSION, sha256_of
from prognos.edge_runtime.features import Preprocessor

LIBRARIES = [
    "tensorflow",
    "tf-keras",
    "tensorflow-model-optimization",
    "tf2onnx",
    "onnx",
    "onnxruntime",
    "ai-edge-litert",
    "numpy",
]


def library_versions() -> dict:
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


QUANTILES = (0.001, 0.999)


def input_ranges(pre: Preprocessor, train_x) -> dict:
    """Per-feature training range of normalized training windows (N, window, F), in raw feature units."""
    f = len(pre.features)  # a regime one-hot (data.regime_onehot) follows the features: not ranged
    x = np.asarray(train_x, np.float32)[..., :f].reshape(-1, f)
    low, high = np.quantile(x, QUANTILES, axis=0) * np.asarray(pre.std) + np.asarray(pre.mean)
    return {
        "features": list(pre.features),
        "low": [round(float(v), 6) for v in low],
        "high": [round(float(v), 6) for v in high],
        "quantiles": list(QUANTILES),
        "values": int(len(x)),
        "doc": "quantiles of every value in the training windows (raw units, after smoothing); the device "
        'flags a row outside [low, high] as out of distribution ("ood"), the prediction unchanged',
    }


def write_bundle(
    out_dir,
    model_bytes: bytes,
    fmt,
    pre: Preprocessor | None,
    metrics: dict,
    source: dict,
    task: str = "rul",
    preprocessing: dict | None = None,
    postprocessing: dict | None = None,
    alerts: dict | None = None,
    train_x=None,
    macs: int | None = None,
) -> Path:
    """Write `model<suffix>` and its manifest into `out_dir`; returns the directory.

    Task "rul" takes its preprocessing and postprocessing from `pre`, and its `input_ranges` from the
    normalized training windows `train_x` when given; other tasks (e.g. "classify" with
    `{"dsp": DspSpec.to_dict()}`) pass `preprocessing` and `postprocessing` explicitly. `macs`: multiply-
    accumulates per window (models.macs) of the network, the numerator of `prognos-edge bench`'s bound.
    """
    if task == "rul":
        preprocessing = pre.to_dict()
        postprocessing = {"rul_scale": pre.rul_cap, "doc": "RUL [cycles] = model output * rul_scale"}
        alerts = {"rul_below": 30} if alerts is None else alerts
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_file = f"model{fmt.suffix}"
    (out / model_file).write_bytes(model_bytes)
    backend = open_backend(model_bytes, fmt.suffix, name=str(out / model_file))
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "task": task,
        "format": fmt.name,
        "format_doc": fmt.doc,
        "model_file": model_file,
        "sha256": sha256_of(model_bytes),
        "size_bytes": len(model_bytes),
        "inputs": [s.to_dict() for s in backend.inputs],
        "outputs": [s.to_dict() for s in backend.outputs],
        "preprocessing": preprocessing,
        "postprocessing": postprocessing,
        "alerts": alerts or {},
        "metrics": metrics,
        "source": source,
        "library_versions": library_versions(),
        **({"macs_per_window": int(macs)} if macs else {}),
    }
    if task == "rul" and train_x is not None:
        manifest["input_ranges"] = input_ranges(pre, train_x)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out
