"""Deployable bundle: one model file + manifest.json, verified before anything runs.

manifest.json carries the schema version, task, format, model file name and its sha256, input and
output specs (shape, dtype, scale, zero point), the fitted preprocessing, the postprocessing, alert
thresholds, library versions and validation metrics. A bundle whose model file does not hash to the
manifest's sha256 (truncated, tampered, swapped) is refused before it reaches an interpreter. Handed
a `signing.Trust`, the bundle must also carry a valid ed25519 signature of a trusted key over the
manifest and the model file (edge_runtime.signing): the sha256 alone does not stop a swapped bundle.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from prognos.edge_runtime import dsp_spec
from prognos.edge_runtime.backends import open_backend
from prognos.edge_runtime.errors import BundleError, ConfigError
from prognos.edge_runtime.features import Preprocessor

SCHEMA_VERSION = 1
REQUIRED = (
    "schema_version",
    "task",
    "format",
    "model_file",
    "sha256",
    "inputs",
    "outputs",
    "preprocessing",
    "postprocessing",
)
TASKS = ("rul", "classify", "anomaly")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(bundle_dir: Path) -> dict:
    path = Path(bundle_dir) / "manifest.json"
    if not path.is_file():
        raise BundleError(f"{bundle_dir}: no manifest.json; expected a bundle directory written by `prognos export`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BundleError(f"{path}: not valid JSON ({e})") from None
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise BundleError(f"{path}: missing keys {missing}; expected all of {list(REQUIRED)}")
    if manifest["schema_version"] != SCHEMA_VERSION:
        raise BundleError(f"{path}: schema_version {manifest['schema_version']!r}, this runtime reads {SCHEMA_VERSION}")
    if manifest["task"] not in TASKS:
        raise BundleError(f"{path}: task {manifest['task']!r} not supported; expected one of {TASKS}")
    return manifest


class Bundle:
    """A verified bundle: `predict(windows)` maps normalized windows to task outputs (RUL in cycles)."""

    def __init__(self, bundle_dir, num_threads: int = 1, trust=None, runtime: str | None = None):
        self.path = Path(bundle_dir)
        self.manifest = read_manifest(self.path)
        model_path = self.path / self.manifest["model_file"]
        if not model_path.is_file():
            raise BundleError(f"{model_path}: model file named in the manifest does not exist")
        data = model_path.read_bytes()
        if sha256_of(data) != self.manifest["sha256"]:
            raise BundleError(
                f"{model_path}: sha256 {sha256_of(data)[:12]}… does not match the manifest's "
                f"{self.manifest['sha256'][:12]}…; the file is truncated or was modified"
            )
        self.sha256 = self.manifest["sha256"]
        # key id of the verified signature; None: unsigned (allowed by `trust`) or not checked (no trust)
        self.signer = trust.verify(self.manifest, data, self.path) if trust is not None else None
        self.preprocessor, self.dsp = self._read_preprocessing(self.manifest["preprocessing"])
        self.backend = open_backend(data, model_path.suffix, num_threads, name=str(model_path), runtime=runtime)
        self._check_input_shape()
        self.rul_scale = float(self.manifest["postprocessing"].get("rul_scale", 1.0))
        self.rul_offset = float(self.manifest["postprocessing"].get("rul_offset", 0.0))
        self.classes = list(self.manifest["postprocessing"].get("classes", []))

    def _read_preprocessing(self, pre: dict):
        """(Preprocessor of row windows, None) or (None, DspSpec of raw vibration windows)."""
        try:
            if "dsp" in pre:
                return None, dsp_spec.DspSpec.from_dict(pre["dsp"])
            return Preprocessor.from_dict(pre), None
        except (ConfigError, TypeError) as e:
            raise BundleError(f"{self.path}/manifest.json: bad preprocessing: {e}") from None

    @property
    def input_shape(self) -> tuple:
        """One model input as the manifest's preprocessing produces it (without the batch axis)."""
        if self.dsp is not None:
            return tuple(dsp_spec.input_shape(self.dsp))
        return (self.preprocessor.window, self.preprocessor.width)

    def _check_input_shape(self):
        want, got = self.input_shape, tuple(self.backend.inputs[0].shape[1:])
        if got != want:
            what = "DspSpec output" if self.dsp is not None else "window x features"
            raise BundleError(f"{self.path}: model input {got} does not match the manifest's {what} {want}")

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(N, window, F) normalized float32 windows -> (N,) predicted RUL in cycles."""
        if self.manifest["task"] != "rul":
            raise BundleError(f"predict: bundle task is {self.manifest['task']!r}; predict() returns RUL")
        windows = np.asarray(windows, np.float32)
        if windows.ndim != 3 or windows.shape[1:] != (self.preprocessor.window, self.preprocessor.width):
            raise BundleError(
                f"predict: windows of shape {windows.shape}, expected "
                f"(N, {self.preprocessor.window}, {self.preprocessor.width})"
            )
        return self.rul_of(self.backend.run(windows).reshape(len(windows), -1))

    def rul_of(self, raw: np.ndarray) -> np.ndarray:
        """Raw (N, 1) outputs -> RUL in cycles: output x rul_scale, plus rul_offset (a bias shift) and
        then clipped at 0 when the manifest has one."""
        y = raw[:, 0] * self.rul_scale
        return np.maximum(y + self.rul_offset, 0.0) if self.rul_offset else y

    @property
    def interval(self) -> dict | None:
        """The conformal interval spec of the manifest (edge_runtime.intervals), if any."""
        return self.manifest["postprocessing"].get("interval")
