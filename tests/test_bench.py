"""`prognos bench` on the tiny run: every cell in its own process, ratios, the physical bound, errors kept."""

import json

import pytest


def test_bench_matrix(tiny_run):
    from prognos.export.bench import bench_runs
    from prognos.pipeline.rul.runs import load_run

    run = tiny_run["dir"]
    formats = ["keras", "tflite_int8", "onnx_fp32", "tflite_fp16"]  # the tiny run has no fp16 bundle
    result = bench_runs([run], load_run, formats, threads=(1,), min_seconds=0.05, peak_seconds=0.1)
    (model,) = result["models"]
    by = {r["format"]: r for r in model["rows"]}
    assert set(by) == set(formats) and all(r["threads"] == 1 for r in by.values())
    assert "make quantize" in by["tflite_fp16"]["error"]  # recorded, and the other cells still ran
    assert model["macs"] > 0 and result["peak_mac_per_s"]["1"]["int8"] > 0
    for name in ("keras", "tflite_int8", "onnx_fp32"):
        r = by[name]
        assert "error" not in r, r
        assert 0 < r["p50_us"] <= r["p90_us"] <= r["p99_us"] and r["windows_per_s"] > 0
        assert 0 < r["gzip_bytes"] and 0 < r["size_bytes"]
        kind = "int8" if name == "tflite_int8" else "fp32"  # the bound: MACs at the measured peak of that kind
        assert r["bound_peak"] == kind
        assert r["bound_us"] == pytest.approx(model["macs"] / result["peak_mac_per_s"]["1"][kind] * 1e6, rel=1e-3)
        assert r["x_bound"] == pytest.approx(r["p50_us"] / r["bound_us"], rel=5e-3)  # both rounded for the table
        parity = tiny_run["parity"].get(name, {}).get("val", {}).get("rmse")
        if parity is not None:  # the cell's own predictions reproduce the export's parity check
            assert abs(r["val"]["rmse"] - parity) < 1e-2, (name, r["val"], parity)
    assert by["keras"]["vs_keras"] == 1 and by["onnx_fp32"]["vs_onnx_fp32"] == 1
    assert by["tflite_int8"]["vs_keras"] == pytest.approx(by["tflite_int8"]["p50_us"] / by["keras"]["p50_us"], rel=1e-3)
    assert all(r["peak_rss_mb"] > 0 for r in by.values() if "error" not in r)  # memory: `make bench` reports it
    saved = json.loads((run / "report" / "bench.json").read_text())
    assert saved["commit"] and saved["machine"]["cores"] and saved["libraries"]["onnxruntime"]
    assert f"| {run.name} | tflite_int8 | 1 |" in (run / "report" / "bench.md").read_text()
    assert by["tflite_int8"]["tflm"]["ok"] and "tflm" not in by["onnx_fp32"]  # TFLM column (export.tflm)
    assert (
        f"ok: arena {by['tflite_int8']['tflm']['arena_bytes'] / 1024:.1f} KB"
        in (run / "report" / "bench.md").read_text()
    )


def test_peak_at_more_threads_is_at_least_the_peak_at_fewer():
    from prognos.export.bench import at_least_fewer_threads

    out = at_least_fewer_threads({1: {"fp32": 20.0, "int8": 100.0}, 2: {"fp32": 0.5, "int8": 150.0}})
    assert out["2"]["fp32"] == 20.0 and out["2"]["int8"] == 150.0 and out["2"]["measured"]["fp32"] == 0.5
    assert at_least_fewer_threads({1: {"error": "x"}})["1"] == {"error": "x"}
