"""Write a deployable bundle: model file + manifest.json (read back by edge_runtime.bundle)."""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from prognos.edge_runtime.backends import open_backend
from prognos.edge_runtime.bundle import SCHEMA_VERSION, sha256_of
from prognos.edge_runtime.features import Preprocessor

LIBRARIES = ["tensorflow", "tf-keras", "tensorflow-model-optimization", "tf2onnx", "onnx", "onnxruntime",
             "ai-edge-litert", "numpy"]


def library_versions() -> dict:
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def write_bundle(out_dir, model_bytes: bytes, fmt, pre: Preprocessor | None, metrics: dict, source: dict,
                 task: str = "rul", preprocessing: dict | None = None, postprocessing: dict | None = None,
                 alerts: dict | None = None, macs: int | None = None) -> Path:
    """Write `model<suffix>` and its manifest into `out_dir`; returns the directory.

    Task "rul" takes its preprocessing and postprocessing from `pre`; other tasks (e.g. "classify" with
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
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out
