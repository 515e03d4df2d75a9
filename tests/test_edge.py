"""The edge runtime on real bundles: no TensorFlow, sha256 verification, bad rows counted."""

import json
import shutil

import numpy as np
import pytest

from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.errors import BundleError, DataError, RowError
from prognos.edge_runtime.rows import RowParser
from tests.conftest import run_cli, run_py


def test_predict_without_tensorflow(tiny_run, sim_dir):
    code = f"""
import sys, numpy as np
from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.stream import RulStream
from prognos.pipeline.data.cmapss import load_table
from prognos.edge_runtime.rows import RowParser
b = Bundle({str(tiny_run["dir"] / "bundles" / "tflite_int8")!r})
s = RulStream(b)
p = RowParser(b.preprocessor.features)
out = [s.push(*p.parse(line, i)) for i, line in enumerate(open({str(sim_dir / "test_SIM.txt")!r}), 1)]
assert "tensorflow" not in sys.modules, "edge runtime imported TensorFlow"
print(len(out), out[-1]["rul"], out[-1]["status"])
"""
    r = run_py(code)
    assert r.returncode == 0, r.stderr
    n, rul, status = r.stdout.split()
    assert int(n) == sum(1 for _ in open(sim_dir / "test_SIM.txt")) and 0 <= float(rul) < 200


@pytest.mark.parametrize("fmt", ["tflite_int8", "onnx_fp32"])
def test_cli_stream_matches_evaluate(tiny_run, sim_dir, fmt):
    bundle = tiny_run["dir"] / "bundles" / fmt
    r = run_cli("prognos-edge", "predict", "--bundle", str(bundle), "--input", str(sim_dir / "test_SIM.txt"))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    last = {row["unit"]: row["rul"] for row in rows}  # the last row per unit = its last window
    from prognos.pipeline.rul.evaluate import evaluate

    expected = evaluate(sim_dir / "test_SIM.txt", bundle=str(bundle))["predictions"]
    assert last == pytest.approx(expected, abs=0.011)
    summary = json.loads(r.stderr.strip().splitlines()[-1])["summary"]
    assert summary["accepted"] == len(rows) and summary["rejected_total"] == 0
    spec = Bundle(bundle).interval  # each row's interval is the bundle's calibrated half-width of its RUL bin
    half = np.asarray(spec["half_width"])[np.digitize([r["rul"] for r in rows], spec["edges"])]
    assert [r["rul_high"] for r in rows] == pytest.approx([r["rul"] + h for r, h in zip(rows, half)], abs=0.011)
    assert [r["rul_low"] for r in rows] == pytest.approx(
        [min(r["rul"], max(0, r["rul"] - h)) for r, h in zip(rows, half)], abs=0.011
    )


@pytest.mark.edge
def test_bad_rows_are_counted_and_the_stream_goes_on(tiny_run, sim_dir):
    good = (sim_dir / "test_SIM.txt").read_text().splitlines()[:30]  # unit 1, cycles 1..30
    bad = ["1 21 0.1", "1 21 " + " ".join(["nan"] * 24), good[5], "1 x " + " ".join(["1"] * 24), good[19]]
    stdin = "\n".join(good[:20] + bad + good[20:]) + "\n"
    r = run_cli("prognos-edge", "predict", "--bundle", str(tiny_run["dir"] / "bundles" / "onnx_fp32"), stdin=stdin)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stderr.strip().splitlines()[-1])["summary"]
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["cycle"] for o in out] == list(range(1, 31))  # every accepted row, in order
    assert summary["accepted"] == 30 and summary["rows_in"] == 35
    assert summary["rejected"] == {"malformed": 2, "non_finite": 1, "out_of_order": 1, "duplicate_cycle": 1}
    assert "line 21: 3 fields, expected 26" in r.stderr and "cycle 6 after cycle 20" in r.stderr


@pytest.mark.edge
def test_row_parser_reasons():
    p = RowParser(["s2", "s3"], header=["unit", "cycle", "s2", "s3"])
    assert p.parse("1,2,3.5,4", 2) == (1, 2, [3.5, 4.0])
    for line, reason in [
        ("1,2,,4", "missing_sensor"),
        ("1,2,inf,4", "non_finite"),
        ("1,2,3", "malformed"),
        ("1,2,abc,4", "malformed"),
        ("1.5,2,3,4", "malformed"),
    ]:
        with pytest.raises(RowError) as e:
            p.parse(line, 7)
        assert e.value.reason == reason and "line 7" in str(e.value)
    with pytest.raises(DataError, match=r"lacks columns \['s3'\]"):
        RowParser(["s2", "s3"], header=["unit", "cycle", "s2"])


@pytest.fixture
def bundle_copy(tiny_run, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(tiny_run["dir"] / "bundles" / "tflite_int8", dst)
    return dst


@pytest.mark.edge
def test_tampered_model_refused(bundle_copy):
    model = bundle_copy / "model.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match the manifest.*truncated or was modified"):
        Bundle(bundle_copy)


@pytest.mark.edge
def test_truncated_model_refused_by_cli(bundle_copy):
    model = bundle_copy / "model.tflite"
    model.write_bytes(model.read_bytes()[:1000])
    r = run_cli("prognos-edge", "predict", "--bundle", str(bundle_copy), stdin="")
    assert r.returncode == 2 and "sha256" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.edge
def test_garbage_model_with_matching_hash_refused(bundle_copy):
    from prognos.edge_runtime.bundle import sha256_of

    (bundle_copy / "model.tflite").write_bytes(b"not a flatbuffer" * 10)
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["sha256"] = sha256_of(b"not a flatbuffer" * 10)
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="not a loadable TFLite model"):
        Bundle(bundle_copy)


@pytest.mark.edge
def test_manifest_problems(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["preprocessing"]["window"] = 12
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"model input \(30, \d+\) does not match .* \(12, \d+\)"):
        Bundle(bundle_copy)
    (bundle_copy / "manifest.json").write_text("{")
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle(bundle_copy)
    (bundle_copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match="no manifest.json"):
        Bundle(bundle_copy)


@pytest.mark.edge
def test_wrong_window_shape(tiny_run):
    import numpy as np

    b = Bundle(tiny_run["dir"] / "bundles" / "onnx_fp32")
    with pytest.raises(BundleError, match=r"windows of shape \(2, 10, \d+\), expected \(N, 30,"):
        b.predict(np.zeros((2, 10, len(b.preprocessor.features))))


@pytest.mark.edge
def test_no_edge_module_imports_tensorflow():
    r = run_py(
        "import pkgutil, importlib, sys, prognos.edge_runtime as edge_runtime\n"
        "mods = [m.name for m in pkgutil.iter_modules(edge_runtime.__path__)]\n"
        "[importlib.import_module('prognos.edge_runtime.' + m) for m in mods]\n"
        "print(len(mods), 'tensorflow' in sys.modules, 'paho' in sys.modules)"
    )
    n, tf, paho = r.stdout.split()
    assert r.returncode == 0 and int(n) >= 20 and tf == "False", r.stderr
    assert paho == "False"  # paho is imported only when MQTT is configured (it costs ~0.1 s of start-up)
