"""Batched inference: a batch of windows computes what the same windows compute one by one, in LiteRT
(resized interpreters, fused LSTM state reset) and onnxruntime (dynamic batch); the fleet bench's
numbers are consistent; `choose` installs the faster of two bundles as measured here."""

import json
import shutil

import numpy as np
import pytest

from prognos.edge_runtime.backends import LiteRTBackend, chunks
from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.errors import BundleError, ConfigError

# format -> does the backend run it as real batches? keras' unroll=True LSTM (tflite_int8) folds its zero
# initial state to batch-1 constants that XNNPACK refuses to reshape: it runs window by window
FORMATS = {"tflite_fp32": True, "tflite_int8": False, "tflite_int8_fused": True, "onnx_fp32": True}


def _windows(bundle, n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, *bundle.input_shape)).astype(np.float32)


def _one_by_one(backend, x):
    return np.concatenate([backend.run(x[i : i + 1]) for i in range(len(x))])


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_batch_equals_its_windows_one_by_one(tiny_run, fmt):
    bundle = Bundle(tiny_run["dir"] / "bundles" / fmt)
    assert getattr(bundle.backend, "batched", True) == FORMATS[fmt]
    x = _windows(bundle, 37)  # 32 + 4 + 1: three interpreters
    batched = bundle.backend.run(x)
    tol = max(bundle.backend.outputs[0].scale, 1e-6) * 2  # one int8 step; float sums may reorder
    np.testing.assert_allclose(batched, _one_by_one(bundle.backend, x), rtol=1e-4, atol=tol)
    other = bundle.backend.run(_windows(bundle, 37, seed=1))  # the fused LSTM's state must not carry over
    np.testing.assert_array_equal(bundle.backend.run(x), batched)
    assert not np.array_equal(other, batched)


def test_fused_lstm_state_is_reset_between_batches(tiny_run):
    backend = Bundle(tiny_run["dir"] / "bundles" / "tflite_fp32").backend
    x = _windows(Bundle(tiny_run["dir"] / "bundles" / "tflite_fp32"), 8)
    first = backend.run(x)
    backend.run(x * 3.0)
    np.testing.assert_array_equal(backend.run(x), first)


def test_chunks_are_powers_of_two_that_add_up():
    for n in (1, 7, 64, 100, 1000):
        sizes = chunks(n, 128)
        assert sum(sizes) == n and all(s & (s - 1) == 0 and s <= 128 for s in sizes), (n, sizes)


def test_conv_reshape_batches_after_conversion():
    """Conv1D folds into RESHAPE(1, 1, T, C) at batch 1; export.convert writes -1 so batches run."""
    from prognos.export.convert import to_tflite
    from prognos.models.kerasapi import keras

    inp = keras.Input((12, 3))
    x = keras.layers.Flatten()(keras.layers.Conv1D(4, 3, padding="same")(inp))
    model = keras.Model(inp, keras.layers.Dense(1)(x))
    backend = LiteRTBackend(to_tflite(model, "fp32"))
    x = np.random.default_rng(0).normal(size=(9, 12, 3)).astype(np.float32)
    assert backend.batched
    np.testing.assert_allclose(backend.run(x), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_onnx_takes_any_batch_in_one_call(tiny_run):
    bundle = Bundle(tiny_run["dir"] / "bundles" / "onnx_fp32")
    assert isinstance(bundle.backend.inputs[0].shape[0], str)  # a symbolic (dynamic) batch axis
    x = _windows(bundle, 70)
    np.testing.assert_allclose(bundle.backend.run(x), _one_by_one(bundle.backend, x), rtol=1e-5, atol=1e-6)


def test_openvino_runs_the_onnx_bundle_like_onnxruntime(tiny_run):
    pytest.importorskip("openvino")
    path = tiny_run["dir"] / "bundles" / "onnx_fp32"
    ort, ov = Bundle(path), Bundle(path, runtime="openvino")
    x = _windows(ort, 9)
    np.testing.assert_allclose(ov.backend.run(x), ort.backend.run(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(BundleError, match="not run by runtime 'openvino'"):
        Bundle(tiny_run["dir"] / "bundles" / "tflite_fp32", runtime="openvino")


def test_bench_fleet_numbers_are_consistent(tiny_run):
    from prognos.edge_runtime.bench import bench

    r = bench(
        tiny_run["dir"] / "bundles" / "tflite_int8_fused", seconds=0.1, probes=1, fleets=(8, 32), peak_seconds=0.05
    )
    assert [f["assets"] for f in r["fleet"]] == [8, 32] and [b["batch"] for b in r["model_batch"]] == [8, 32]
    for f in r["fleet"]:
        assert f["rows"] % f["assets"] == 0 and f["predictions"] == f["rows"]
        assert f["rows_per_s"] == pytest.approx(f["rows"] / f["seconds"], rel=1e-3)
    for b in r["model_batch"]:
        assert b["windows_per_s"] == pytest.approx(b["batch"] / b["p50_us"] * 1e6, rel=1e-3)
    bound = r["mac_bound"]
    assert bound["peak"] == "int8" and bound["macs"] == tiny_run_macs(tiny_run)
    assert bound["x_bound_single"] == pytest.approx(r["invoke"]["p50_us"] / bound["bound_us"], rel=1e-2)
    assert 0 < r["invoke"]["p50_us"] <= r["invoke"]["p99_us"] and r["batched_backend"]


def tiny_run_macs(tiny_run):
    return json.loads((tiny_run["dir"] / "bundles" / "tflite_int8_fused" / "manifest.json").read_text())[
        "macs_per_window"
    ]


def test_choose_installs_the_faster_of_two_measured_bundles(tiny_run, tmp_path):
    from prognos.edge_runtime.choose import choose

    for fmt in ("tflite_fp32", "tflite_int8"):
        shutil.copytree(tiny_run["dir"] / "bundles" / fmt, tmp_path / fmt)
    result = choose(tmp_path, seconds=0.2, assets=16, budget=100.0)
    rows = result["candidates"]
    low = min(r["per_window_us"] for r in rows.values())
    tied = [n for n in rows if rows[n]["per_window_us"] <= low * 1.05]  # a tie: the smaller file
    faster = min(tied, key=lambda n: rows[n]["size_bytes"])
    assert result["chosen"] == faster and all(r["rows_per_s"] > 0 for r in rows.values())
    best = Bundle(tmp_path / "best")
    assert best.manifest["source"]["chosen"]["selected"] == faster and best.sha256 == Bundle(tmp_path / faster).sha256
    assert json.loads((tmp_path / "best.json").read_text())["chosen"] == faster
    x = _windows(best, 4)
    np.testing.assert_array_equal(best.predict(x), Bundle(tmp_path / faster).predict(x))
    with pytest.raises(ConfigError, match="within -1.0 RMSE"):
        choose(tmp_path, seconds=0.05, assets=4, budget=-1.0)


def test_fastest_takes_the_smaller_file_among_speeds_within_noise():
    from prognos.edge_runtime.choose import fastest

    row = {"single_p50_us": 50.0, "within_budget": True}
    rows = {
        "fp32": {**row, "per_window_us": 16.5, "size_bytes": 77_492},
        "dynamic": {**row, "per_window_us": 16.9, "size_bytes": 59_176},  # 2.4 % slower: a tie
        "int8": {**row, "per_window_us": 11.6, "size_bytes": 75_536, "within_budget": False},
    }
    assert fastest(rows) == "dynamic"
    rows["dynamic"]["per_window_us"] = 18.0  # 9 % slower: not a tie
    assert fastest(rows) == "fp32"
    assert fastest(rows, tie=0.0) == "fp32" and fastest({"x": {"error": "no"}}) is None
