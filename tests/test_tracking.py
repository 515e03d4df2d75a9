"""Every training run writes TensorBoard logs; MLflow tracking into a local file store when asked."""

import pytest

from tests.conftest import run_cli


def _event_files(folder):
    return list(folder.rglob("events.out.tfevents.*"))


def test_training_writes_tensorboard_logs(tiny_run):
    logs = _event_files(tiny_run["dir"] / "tb" / "train")
    assert logs and any(p.stat().st_size > 0 for p in logs)
    assert {p.parent.name for p in logs} >= {"train", "validation"}  # per-epoch scalars of both


def test_mlflow_tracks_params_and_metrics_per_epoch(tmp_path, sim_dir, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    uri = (tmp_path / "mlruns").as_uri()
    r = run_cli(
        "prognos", "train", "--run", str(tmp_path / "run"), "--data-dir", str(sim_dir), "--epochs", "2", "--mlflow", uri
    )
    assert r.returncode == 0, r.stderr[-2000:]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["prognos"], output_format="list")
    assert len(runs) == 1 and runs[0].data.params["model"] == "lstm"
    history = mlflow.MlflowClient().get_metric_history(runs[0].info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2]


def test_mlflow_logs_a_bundle_and_its_onnx_model(tmp_path, tiny_run, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from prognos.pipeline import tracking

    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv(tracking.MLFLOW_ENV, uri)
    tracking.log_bundle(tiny_run["dir"] / "bundles" / "onnx_fp32", {"rmse": 12.5})
    (run,) = mlflow.search_runs(experiment_names=["prognos"], output_format="list")
    assert run.data.metrics["rmse"] == 12.5
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "bundle")}
    assert {"bundle/manifest.json", "bundle/model.onnx"} <= files
    model = mlflow.onnx.load_model(f"runs:/{run.info.run_id}/model")  # the ONNX flavor gives the graph back
    assert [i.name for i in model.graph.input] == [
        i.name
        for i in __import__("onnx").load(str(tiny_run["dir"] / "bundles" / "onnx_fp32" / "model.onnx")).graph.input
    ]
