"""Experiment tracking for every training run: TensorBoard logs always, MLflow when asked for.

TensorBoard: `RUN/tb/<name>/` (scalars per epoch; `make tensorboard RUN=…`). MLflow (optional extra
`prognos[mlflow]`): set `PROGNOS_MLFLOW_URI` (or `prognos train --mlflow URI`), e.g. a local
`file:./mlruns` store; each fit becomes a run with its parameters and per-epoch metrics, and
`log_bundle` adds a bundle folder as an artifact and its ONNX model through the ONNX flavor.
"""

from __future__ import annotations

import os
from pathlib import Path

from prognos.edge_runtime.errors import ConfigError

MLFLOW_ENV = "PROGNOS_MLFLOW_URI"


def callbacks(log_dir, params: dict | None = None) -> list:
    """Keras callbacks that log one fit: TensorBoard into `log_dir`, MLflow when configured."""
    from prognos.models.kerasapi import keras

    out = [keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False, profile_batch=0)]
    if os.environ.get(MLFLOW_ENV):
        out.append(_mlflow_callback(Path(log_dir).name, params or {}))
    return out


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise ConfigError(f"{MLFLOW_ENV} is set but mlflow is not installed; pip install 'prognos[mlflow]'") from None
    uri = os.environ[MLFLOW_ENV]
    if uri.startswith("file:") or "://" not in uri:  # a local folder store: MLflow 3 keeps it in maintenance
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # mode and asks for this opt-in
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("prognos")
    return mlflow


def _mlflow_callback(name: str, params: dict):
    from prognos.models.kerasapi import keras

    mlflow = _mlflow()

    class MlflowLogger(keras.callbacks.Callback):
        """One MLflow run per fit: parameters at the start, every epoch's metrics, closed at the end."""

        def on_train_begin(self, logs=None):
            mlflow.start_run(run_name=name)
            mlflow.log_params({k: str(v)[:250] for k, v in params.items()})

        def on_epoch_end(self, epoch, logs=None):
            mlflow.log_metrics({k: float(v) for k, v in (logs or {}).items()}, step=epoch + 1)

        def on_train_end(self, logs=None):
            mlflow.end_run()

    return MlflowLogger()


def log_bundle(bundle_dir, metrics: dict | None = None) -> None:
    """Attach a bundle folder (and its ONNX model, via the ONNX flavor) to a new MLflow run, if configured."""
    if not os.environ.get(MLFLOW_ENV):
        return
    mlflow = _mlflow()
    bundle_dir = Path(bundle_dir)
    with mlflow.start_run(run_name=f"bundle {bundle_dir.name}"):
        mlflow.log_artifacts(str(bundle_dir), artifact_path="bundle")
        if metrics:
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))})
        onnx_file = next(bundle_dir.glob("*.onnx"), None)
        if onnx_file is not None:
            import onnx

            mlflow.onnx.log_model(onnx.load(str(onnx_file)), name="model")
