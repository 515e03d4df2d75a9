"""`prognos-edge soak` (short, CI-sized) and `prognos-edge bench`: real runs, real numbers checked for sense."""

import json

import pytest

from tests.conftest import run_cli


@pytest.mark.edge  # (the bench below is not: 14 s of measuring per Python)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_short_soak_counts_every_fault(tiny_run, fmt):
    r = run_cli(
        "prognos-edge",
        "soak",
        "--bundle",
        str(tiny_run["dir"] / "bundles" / "onnx_fp32"),
        "--rows",
        "15000",
        "--malformed",
        "0.02",
        "--assets",
        "20",
        "--format",
        fmt,
        "--every",
        "0.2",
    )
    report = json.loads(r.stdout)
    assert r.returncode == 0, report
    assert report["every_rejection_counted"] and report["accepted_rows_lost"] == 0
    assert report["rejected"] == report["injected"] and sum(report["injected"].values()) > 150
    expected = {"malformed", "non_finite", "duplicate_cycle", "out_of_order", "too_long"}
    assert expected <= set(report["rejected"])
    if fmt == "json":
        assert {"wrong_type", "missing_sensor"} <= set(report["rejected"])
    assert report["predictions"] == 15000 - sum(report["injected"].values())
    assert len(report["rss_mb"]) >= 2  # RSS over time is reported; `make soak` (10^6 rows) is the memory check


def test_bench_reports_latency_load_and_rss(tiny_run):
    r = run_cli(
        "prognos-edge",
        "bench",
        "--bundle",
        str(tiny_run["dir"] / "bundles" / "tflite_int8"),
        "--seconds",
        "0.2",
        "--probes",
        "2",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    # speeds and sizes are what `make edge-bench` reports, not asserted here (machines are noisy)
    assert 0 < b["import_and_load_min_s"] <= b["import_and_load_s"] and b["reload_s"] > 0
    assert b["process_cpu_until_loaded_s"] > 0 and b["service_peak_rss_mb"] > 0
    assert 0 < b["invoke"]["p50_us"] <= b["invoke"]["p99_us"] and b["invoke"]["calls"] >= 50
    assert [f["assets"] for f in b["fleet"]] == [64, 1024] and b["fleet"][0]["rows_per_s"] > 0
