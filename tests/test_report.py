"""`prognos profile` and `prognos report` on the tiny run; the HTML rendered in headless Chromium."""

import re
import shutil
import struct
import subprocess

import pytest

from tests.conftest import need_tool

CHECK_IMAGES = """<script>window.addEventListener("load", () => {
  const imgs = [...document.images];
  document.body.dataset.images = imgs.length;
  document.body.dataset.decoded = imgs.filter(i => i.complete && i.naturalWidth > 100).length;
});</script>"""


@pytest.fixture(scope="module")
def reported_run(tiny_run, tmp_path_factory):
    """A copy of the tiny run with a 1-thread bench of two bundles, an op profile and the report."""
    from prognos.export.bench import bench_runs
    from prognos.pipeline.rul.runs import load_run
    from prognos.export.profile import profile_bundle
    from prognos.pipeline.report.html import build_report

    run = tmp_path_factory.mktemp("reported") / "run"
    shutil.copytree(tiny_run["dir"], run, ignore=shutil.ignore_patterns("report"))
    bench_runs([run], load_run, ["tflite_int8", "onnx_fp32"], threads=(1,), min_seconds=0.02, peak_seconds=0.05)
    profile_bundle(run / "bundles" / "tflite_int8", run / "report" / "profile.json", min_seconds=0.005)
    return run, build_report(run)


def test_op_profile_accounts_for_every_op(reported_run):
    import json

    p = json.loads((reported_run[0] / "report" / "profile.json").read_text())
    assert p["ops"] == len(p["per_op"]) == sum(r["count"] for r in p["by_type"]) > 10
    assert p["unique_timed"] < p["ops"]  # the unrolled LSTM repeats its step's ops
    assert "FULLY_CONNECTED" in {r["op"] for r in p["by_type"]} and p["full_invoke_us"] > 0
    assert abs(sum(r["share"] for r in p["by_type"]) - 1) < 0.01


def test_report_is_self_contained(reported_run):
    run, page = reported_run
    html = page.read_text()
    for section in (
        "Model card",
        "Learning curves",
        "Predictions",
        "Compression trade-off",
        "Benchmark",
        "LiteRT per-op profile",
        "Intended use",
        "Limits",
    ):
        assert section in html, section
    assert "not available" not in html
    assert len(re.findall(r'<img class="fig" [^>]*src="data:image/png;base64,', html)) >= 4
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from a network
    assert "| tflite_int8 |" not in html.split("<body>")[1] and f"<td>{run.name}</td><td>tflite_int8</td>" in html


def test_report_of_a_bare_run_says_what_to_run(tmp_path):
    from prognos.pipeline.report.html import build_report

    (tmp_path / "history.csv").write_text("epoch,loss,val_loss\n1,0.5,0.6\n2,0.3,0.4\n")
    html = build_report(tmp_path).read_text()
    assert f"not available: run <code>make bench RUN={tmp_path}" in html
    assert f"make profile RUN={tmp_path}" in html and "Learning curves" in html


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_report_renders_in_headless_chromium(reported_run, tmp_path):
    from matplotlib.image import imread

    exe = need_tool("chromium", install="chromium")
    _, page = reported_run
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", CHECK_IMAGES + "</body>"))
    flags = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,2400",
    ]
    dom = subprocess.run(
        flags + ["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    images = re.search(r'data-images="(\d+)"', dom)
    decoded = re.search(r'data-decoded="(\d+)"', dom)
    assert images and decoded, dom[-500:]
    assert int(images.group(1)) >= 4 and decoded.group(1) == images.group(1)  # every figure decoded
    shot = tmp_path / "report.png"
    subprocess.run(flags + [f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    assert _png_size(shot.read_bytes()) == (1200, 2400) and shot.stat().st_size > 50_000
    pixels = imread(shot)[..., :3]
    assert pixels.std() > 0.05 and (pixels.mean(axis=2) < 0.5).mean() > 0.005  # text and plots, not blank


def test_docs_tables_are_generated_from_the_result_json(reported_run, tmp_path):
    from prognos.edge_runtime.errors import DataError
    from prognos.pipeline.report.docs import write_docs

    run = reported_run[0]
    (written,) = write_docs([run], tmp_path / "results", tmp_path / "zoo.md")
    text = written.read_text()
    assert written.name == f"{run.name}-bench.md" and "report/bench.json" in text.splitlines()[0]
    assert f"| {run.name} | tflite_int8 | 1 |" in text  # the same Table the bench command writes
    with pytest.raises(DataError, match="no result JSON"):
        write_docs([tmp_path / "results"], tmp_path / "x")
