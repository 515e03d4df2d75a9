"""Vibration slice end to end on a short simulated CWRU-like dataset (3 s per fault class; trained at
0 HP, cross-load scored at 1 HP).

One tiny run (lenet, 4 epochs; conftest's session fixture `vib_run`, also served by
test_vibration_service.py) is shared: time-segment split, metrics and confusion matrix, classify
bundles, and the TF-free edge `classify` command in a subprocess agreeing with Keras on the same
windows. Then tiny runs of the 4-class variant, the anomaly
autoencoders (dense and VAE) through their bundles and the TF-free edge `anomaly` command, and the
GAN augmentation experiment with a two-step cGAN.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prognos.edge_runtime.bundle import read_manifest
from prognos.edge_runtime.dsp_spec import DspSpec, apply_many, input_shape, windows
from prognos.edge_runtime.errors import BundleError
from prognos.pipeline.data.cwru import CLASSES_10, CwruLabel, CwruRecord, split_windows

ROOT = Path(__file__).resolve().parents[1]


def test_time_segment_split_has_no_overlap():
    # signals that are their own sample index: every window says which samples it came from
    recs = [
        CwruRecord(
            Path(f"r{i}.mat"),
            np.arange(n, dtype=np.float32),
            CwruLabel("normal", 0, 0, i),
            1797.0,
            "nominal",
            "X_DE_time",
        )
        for i, n in enumerate((40000, 30000))
    ]
    s = split_windows(recs, window=2048, hop=1024, train_fraction=0.8)
    for i, n in enumerate((40000, 30000)):
        tr, va = s.x_train[s.rec_train == i], s.x_val[s.rec_val == i]
        assert len(tr) > 0 and len(va) > 0
        cut = round(0.8 * n)
        assert tr.max() < cut  # training windows end before the cut
        assert va.min() >= cut + 2048  # validation starts one window after it
        assert va.min() - tr.max() > 2048
        assert np.all(np.diff(tr[:, 0]) == 1024) and np.all(np.diff(va[:, 0]) == 1024)


def test_run_metrics_and_artifacts(vib_run):
    run, m = vib_run
    assert m["records"] == 10 and m["train_windows"] > 200 and m["val_windows"] > 30
    assert m["input_shape"] == [129, 29, 1]
    c = np.array(m["confusion_keras"])
    assert c.shape == (10, 10) and c.sum() == m["val_windows"]
    assert np.trace(c) / c.sum() == pytest.approx(m["val_accuracy"]["keras"])
    assert m["val_accuracy"]["keras"] > 0.2  # 10 classes: chance is 0.1, even after 4 tiny epochs
    assert m["agreement_with_keras"]["tflite_fp32"] == 1.0
    assert m["agreement_with_keras"]["tflite_int8"] >= 0.9
    assert (run / "confusion.png").stat().st_size > 10_000
    cross = m["cross_load"]  # trained on 0 HP, scored on every window of the 1 HP recordings
    assert cross["loads"] == [1] and cross["records"] == 10
    assert cross["windows"] == 9 * 34 + 69  # 3 s fault files, 6 s normal file: (n - 2048) // 1024 + 1
    assert cross["accuracy"]["tflite_fp32"] == pytest.approx(cross["accuracy"]["keras"])
    assert abs(cross["accuracy"]["tflite_int8"] - cross["accuracy"]["keras"]) <= 0.1
    manifest = json.loads((run / "bundles" / "tflite_int8" / "manifest.json").read_text())
    assert manifest["task"] == "classify"
    assert manifest["postprocessing"]["classes"] == list(CLASSES_10)
    spec = DspSpec.from_dict(manifest["preprocessing"]["dsp"])
    assert spec.norm == "per_bin" and len(spec.mean) == 129 and (spec.window, spec.hop) == (2048, 1024)
    assert manifest["inputs"][0]["dtype"] == "int8" and manifest["inputs"][0]["shape"][1:] == [129, 29, 1]
    assert m["tflm"]["tflite_int8"]["ok"] and manifest["tflm"] == m["tflm"]["tflite_int8"]  # export.tflm
    trained_with = json.loads((run / "dsp_spec.json").read_text())  # the DspSpec the training inputs came from
    for name in m["bundles"]:  # the train/serve contract: every bundle carries exactly that spec
        assert read_manifest(run / "bundles" / name)["preprocessing"]["dsp"] == trained_with


def test_bundle_refuses_spec_that_does_not_match_model(vib_run, tmp_path):
    import shutil

    from prognos.edge_runtime.bundle import Bundle

    run, _ = vib_run
    b = Bundle(run / "bundles" / "tflite_fp32")
    assert b.input_shape == (129, 29, 1) and b.preprocessor is None and b.classes[0] == "normal"
    with pytest.raises(BundleError, match="predict"):
        b.predict(np.zeros((1, 129, 29, 1), np.float32))
    bad = shutil.copytree(run / "bundles" / "tflite_fp32", tmp_path / "bad")
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["preprocessing"]["dsp"]["n_fft"] = 512  # 257 bins: no longer the model's input
    manifest["preprocessing"]["dsp"]["mean"], manifest["preprocessing"]["dsp"]["std"] = [], []
    manifest["preprocessing"]["dsp"]["norm"] = "none"
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"DspSpec output \(257, 25, 1\)"):
        Bundle(bad)


EDGE = """
import sys
from prognos.edge_runtime.cli import main
rc = main(sys.argv[1:])
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras", "scipy"))
assert not leaked, leaked
sys.exit(rc)
"""


def _edge(command: str, bundle: Path, samples: Path, *extra):
    """`prognos-edge <command>` in a subprocess that must not load TensorFlow, Keras or scipy."""
    args = [command, "--bundle", str(bundle), "--input", str(samples), *extra]
    r = subprocess.run(
        [sys.executable, "-c", EDGE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stderr.strip().splitlines()[-1])
    return [json.loads(line) for line in r.stdout.splitlines()], summary


def test_edge_classify_without_tensorflow_agrees_with_keras(vib_run, tmp_path):
    from prognos.models.kerasapi import keras
    from prognos.pipeline.data.bearing_sim import simulate_recording

    run, _ = vib_run
    x = simulate_recording("inner_race", 14, 0, 1.0, seed=5).astype(np.float32)  # a recording never trained on
    np.save(tmp_path / "ir014.npy", x)
    (tmp_path / "ir014.txt").write_text("\n".join(f"{v:.9g}" for v in x))
    spec = DspSpec.from_dict(json.loads((run / "dsp_spec.json").read_text()))
    feats = apply_many(spec, windows(spec, x))
    assert feats.shape == (len(windows(spec, x)), *input_shape(spec)) and len(feats) == 10
    model = keras.models.load_model(run / "model.keras")
    keras_cls = [CLASSES_10[k] for k in model.predict(feats, verbose=0).argmax(1)]

    fp32, summary = _edge("classify", run / "bundles" / "tflite_fp32", tmp_path / "ir014.npy", "--expect", "IR014")
    assert [o["window"] for o in fp32] == list(range(10)) and fp32[3]["start"] == 3 * 1024
    assert [o["class"] for o in fp32] == keras_cls
    assert all(0.1 <= o["prob"] <= 1.0 and o["status"] == ("ok" if o["class"] == "normal" else "fault") for o in fp32)
    assert summary["windows"] == 10
    assert summary["accuracy"] == pytest.approx(np.mean([c == "IR014" for c in keras_cls]))
    int8, _ = _edge("classify", run / "bundles" / "tflite_int8", tmp_path / "ir014.txt", "--expect", "IR014")
    assert np.mean([a["class"] == b for a, b in zip(int8, keras_cls)]) >= 0.9


def test_auc_is_the_rank_probability():
    from prognos.pipeline.vibration.anomaly import auc

    assert auc([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert auc([0.3, 0.4], [0.1, 0.2]) == 0.0
    assert auc([0.1, 0.3], [0.2, 0.3]) == pytest.approx((1 + 0 + 1 + 0.5) / 4)


@pytest.mark.parametrize("model", ["dense_ae", "vae"])
def test_anomaly_bundle_end_to_end_on_the_edge(model, tmp_path):
    from prognos.pipeline.data.bearing_sim import simulate_recording
    from prognos.pipeline.vibration.train import VibrationConfig
    from prognos.pipeline.vibration.anomaly import AnomalyConfig, anomaly_run

    m = anomaly_run(AnomalyConfig(model=model, epochs=5), VibrationConfig(sim_seconds=3.0), tmp_path / "run")
    # 55 healthy training windows (first 80 % of the 6 s normal file): 41 fit, the last 14 calibrate
    assert (m["healthy_train_windows"], m["calibration_windows"]) == (41, 14) and m["val_windows"] == 47
    for rep in (m["keras"], *m["bundles"].values()):
        (ok, false_alarm), (missed, detected) = rep["confusion"]
        assert ok + false_alarm == 11 and missed + detected == 36 and len(rep["detection_by_class"]) == 9
        assert rep["false_alarm_rate"] == pytest.approx(false_alarm / 11) and rep["threshold"] > 0
        assert rep["auc"] >= 0.9 and rep["detection_rate"] >= 0.8
    assert (m["auc_elbo"] >= 0.9) if model == "vae" else ("auc_elbo" not in m)

    # the scores kept for the report's ROC reproduce the run's AUC, and the report draws it
    from prognos.pipeline.report.html import build_report
    from prognos.pipeline.report.figs import roc_points

    d = np.load(tmp_path / "run" / "anomaly_scores.npz")
    fpr, tpr = roc_points(d["score"], d["y"] != 0)
    assert np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2) == pytest.approx(m["keras"]["auc"], abs=1e-9)
    assert 'alt="anomaly ROC"' in build_report(tmp_path / "run").read_text()

    bundle = tmp_path / "run" / "anomaly_bundles" / "tflite_int8"
    manifest = json.loads((bundle / "manifest.json").read_text())
    trained_with = json.loads((tmp_path / "run" / "anomaly_dsp_spec.json").read_text())
    for rep in m["bundles"].values():  # the train/serve contract: the DspSpec the autoencoder was fitted on
        assert read_manifest(rep["bundle"])["preprocessing"]["dsp"] == trained_with
    assert (
        manifest["task"] == "anomaly"
        and manifest["postprocessing"]["threshold"] == m["bundles"]["tflite_int8"]["threshold"]
    )
    scores = {}
    for name, fault, size in (("normal", "normal", 0), ("or021", "outer_race", 21)):
        np.save(tmp_path / f"{name}.npy", simulate_recording(fault, size, 0, 1.0, seed=7).astype(np.float32))
        outs, summary = _edge("anomaly", bundle, tmp_path / f"{name}.npy")
        assert summary["windows"] == len(outs) == 10 and [o["window"] for o in outs] == list(range(10))
        assert all(o["status"] == ("anomalous" if o["score"] > o["threshold"] else "healthy") for o in outs)
        scores[name] = summary["fraction"], np.median([o["score"] for o in outs])
    assert scores["or021"][0] == 1.0 and scores["or021"][1] > 3 * scores["normal"][1]


def test_anomaly_edge_command_refuses_a_classify_bundle(vib_run, tmp_path):
    run, _ = vib_run
    np.save(tmp_path / "x.npy", np.zeros(4096, np.float32))
    from prognos.edge_runtime.cli import main

    assert main(["anomaly", "--bundle", str(run / "bundles" / "tflite_fp32"), "--input", str(tmp_path / "x.npy")]) == 2


def test_four_class_variant_labels_and_bundle(tmp_path):
    from prognos.pipeline.data.cwru import FAULTS
    from prognos.pipeline.vibration.train import VibrationConfig, vibration_run

    m = vibration_run(VibrationConfig(classes=4, epochs=1, sim_seconds=3.0, formats=["tflite_fp32"]), tmp_path)
    c = np.array(m["confusion_keras"])
    assert m["classes"] == list(FAULTS) and c.shape == (4, 4) and c.sum() == m["val_windows"] == 47
    assert c.sum(axis=1).tolist() == [11, 12, 12, 12]  # 6 s normal file; 3 sizes x 4 windows per fault type
    manifest = json.loads((tmp_path / "bundles" / "tflite_fp32" / "manifest.json").read_text())
    assert manifest["postprocessing"]["classes"] == list(FAULTS) and manifest["outputs"][0]["shape"][-1] == 4


def test_gan_augmentation_experiment_smoke(tmp_path):
    from prognos.pipeline.vibration.train import VibrationConfig
    from prognos.pipeline.vibration.gan import GanConfig, gan_run

    cfg = GanConfig(rare=["B007", "OR021"], keep=0.1)
    m = gan_run(cfg, VibrationConfig(epochs=1, sim_seconds=3.0), tmp_path, gan_steps=2)
    assert m["input_shape"] == [1024, 1] and set(m["arms"]) == {"real", "oversampled", "gan"}
    assert m["train_windows"]["B007"] == m["train_windows"]["OR021"] == 3  # 10 % of 27 windows
    assert m["train_windows"]["IR007"] == 27  # first 80 % of a 3 s file: (28800 - 2048) // 1024 + 1
    real, over, gan = (m["arms"][a]["train_windows"] for a in ("real", "oversampled", "gan"))
    assert real == sum(m["train_windows"].values()) and over == gan == real + 2 * (27 - 3)  # back to the median
    n_rare = m["val_windows_per_class"]["B007"] + m["val_windows_per_class"]["OR021"]
    assert sum(m["val_windows_per_class"].values()) == m["val_windows"] and n_rare > 0
    for arm in m["arms"].values():  # the rare-class accuracy is over the rare classes' validation windows only
        assert arm["val_accuracy_rare"] == pytest.approx(arm["val_correct_rare"] / n_rare) and arm["epochs_run"] == 1
    assert json.loads((tmp_path / "gan_metrics.json").read_text())["arms"] == m["arms"]


def test_report_of_a_vibration_run_has_confusion_matrix_and_roc(vib_run):
    from prognos.pipeline.report.html import build_report

    run, _ = vib_run
    html = build_report(run).read_text()
    predictions = html.split('<section id="predictions">')[1].split("</section>")[0]
    assert 'alt="confusion matrix"' in predictions and 'alt="ROC one-vs-rest"' in predictions
    assert "split by time segment" in html and "validation accuracy: keras" in html
    assert "measure RUL runs only" in html  # not a `make bench` hint that would fail on this run
