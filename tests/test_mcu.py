"""Microcontrollers: the TFLM check in the export table, `prognos mcu` C files (compiled with the host
gcc and cross-compiled for Cortex-M4 with arm-none-eabi-gcc), target fit and `optimize --target`.

Runs on the session's tiny LSTM run (tests/conftest.py), whose int8 bundles export.run has already
checked in TensorFlow Lite Micro, and on a tiny conv net on log-mel features for the DSP constants.
"""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from prognos.edge_runtime.errors import BundleError, ConfigError

from tests.conftest import need_tool, run_cli

ARM_TOOLS = "gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi"
HARNESS = r"""
#include <stdio.h>
#include "prognos.h"
int main(void) {
    if (sizeof(prognos_model) != PROGNOS_MODEL_LEN || prognos_model_len != PROGNOS_MODEL_LEN) return 2;
    if (prognos_model_check() != 0) { puts("checksum or alignment mismatch"); return 1; }
    if (prognos_model[4] != 'T' || prognos_model[5] != 'F' || prognos_model[6] != 'L') return 3;
    if (PROGNOS_INPUT_SHAPE_LEN < 2 || prognos_input_shape[0] != 1) return 4;
    CHECKS
    printf("ok %u\n", prognos_model_len);
    return 0;
}
"""
RUL_CHECKS = """if (sizeof(prognos_feature_mean) / sizeof(float) != PROGNOS_N_FEATURES) return 5;
    if (prognos_input_shape[1] != PROGNOS_WINDOW || prognos_input_shape[2] != PROGNOS_N_FEATURES) return 6;"""
DSP_CHECKS = """if (PROGNOS_WINDOW_TABLE_LEN != PROGNOS_N_FFT || prognos_window_table[0] != 0.0f) return 5;
    if (PROGNOS_MEL_FILTERBANK_ROWS != PROGNOS_N_MELS || PROGNOS_MEL_FILTERBANK_COLS != PROGNOS_N_FFT / 2 + 1) return 6;
    if (PROGNOS_NORM_MEAN_LEN != PROGNOS_N_MELS) return 7;"""


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False)


def compile_and_run(out, checks: str) -> subprocess.CompletedProcess:
    gcc = need_tool("gcc", "gcc")
    (out / "harness.c").write_text(HARNESS.replace("CHECKS", checks))
    build = run(
        gcc, "-std=c99", "-Wall", "-Werror", "-pedantic", "-O1", "harness.c", "prognos.c", "-o", "harness", cwd=out
    )
    assert build.returncode == 0, build.stderr
    return run(out / "harness")


@pytest.fixture(scope="module")
def fused(tiny_run):
    return tiny_run["dir"] / "bundles" / "tflite_int8_fused"


@pytest.fixture(scope="module")
def exported(tiny_run, fused, tmp_path_factory):
    from prognos.export.mcu import export_mcu
    from prognos.pipeline.rul.runs import load_run

    out = tmp_path_factory.mktemp("mcu")
    facts = export_mcu(fused, "cortex-m4", out, load_run(tiny_run["dir"]).val.x, macs=12345)
    return out, facts


def test_export_table_checks_int8_tflite_in_tflm(tiny_run, fused):
    parity = tiny_run["parity"]
    for name in ("tflite_int8", "tflite_int8_fused"):
        t = parity[name]["tflm"]
        assert t["ok"] and t["arena_bytes"] > 0 and t["parity_windows"] > 0, t
        assert t["parity_steps"] <= 16, t  # TFLM's int8 kernels vs LiteRT's: a few output steps, not a scale bug
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in parity["tflite_int8_fused"]["tflm"]["ops"]
    assert parity["tflite_int8_fused"]["tflm"]["arena_bytes"] < parity["tflite_int8"]["tflm"]["arena_bytes"]
    assert "tflm" not in parity["tflite_fp32"] and "tflm" not in parity["onnx_fp32"]
    assert json.loads((fused / "manifest.json").read_text())["tflm"] == parity["tflite_int8_fused"]["tflm"]


def test_arena_is_the_smallest_that_works(fused):
    from prognos.export import tflm

    content = (fused / "model.tflite").read_bytes()
    arena = json.loads((fused / "manifest.json").read_text())["tflm"]["arena_bytes"]
    worker = tflm._Worker(fused / "model.tflite", 1, 1)
    try:
        assert worker.ask({"arena": arena})["ok"]
        smaller = worker.ask({"arena": arena - tflm.ARENA_STEP})
        assert smaller is None or not smaller["ok"]  # None: TFLM crashed (export.tflm_worker)
    finally:
        worker.close()
    assert tflm.check(content, max_arena=arena - tflm.ARENA_STEP)["error"].startswith("does not run with a")


def test_unsupported_op_is_a_recorded_reason(tmp_path):
    from prognos.export.formats import BY_NAME
    from prognos.export.tflm import check
    from prognos.models.kerasapi import keras

    x = keras.Input((8,))
    net = keras.Model(x, keras.layers.Dense(1)(keras.layers.Dense(4, activation="gelu")(x)))
    content = BY_NAME["tflite_int8"].write(net, np.random.default_rng(0).normal(size=(16, 8)).astype("float32"))
    result = check(content)
    assert not result["ok"] and "GELU" in result["error"] and "GELU" in result["ops"], result


def test_mcu_files_compile_on_the_host_and_check_the_model(exported, tiny_run):
    out, facts = exported
    header = (out / "prognos.h").read_text()
    assert f"#define PROGNOS_ARENA_BYTES {facts['tflm']['arena_bytes']}u" in header
    assert f'#define PROGNOS_MODEL_SHA256 "{facts["sha256"]}"' in header
    assert "X(UnidirectionalSequenceLSTM)" in header
    assert facts["tflm"]["parity_windows"] > 0 and facts["fit"]["cortex-m4"]["est_latency_ms"] == pytest.approx(
        12345 / 80e6 * 1e3, abs=1e-3
    )
    pre = json.loads((tiny_run["dir"] / "bundles" / "tflite_int8_fused" / "manifest.json").read_text())["preprocessing"]
    assert facts["constants"]["feature_names"] == pre["features"]
    assert json.loads((out / "mcu.json").read_text())["tflm"] == facts["tflm"]
    run = compile_and_run(out, RUL_CHECKS)
    assert run.returncode == 0 and run.stdout.startswith(f"ok {facts['model_bytes']}"), run.stdout
    source = (out / "prognos.c").read_text()
    first = re.search(r"0x[0-9a-f]{2}", source.split("prognos_model[PROGNOS_MODEL_LEN] = {")[1])
    broken = source.replace(first.group(), "0x00" if first.group() != "0x00" else "0x01", 1)
    (out / "prognos.c").write_text(broken)  # one model byte changed: the C check must notice
    try:
        assert compile_and_run(out, RUL_CHECKS).returncode == 1
    finally:
        (out / "prognos.c").write_text(source)


def test_mcu_files_cross_compile_for_cortex_m4_into_flash(exported):
    out, facts = exported
    gcc = need_tool("arm-none-eabi-gcc", ARM_TOOLS)
    objdump = need_tool("arm-none-eabi-objdump", ARM_TOOLS)
    size = need_tool("arm-none-eabi-size", ARM_TOOLS)
    build = run(
        gcc,
        "-mcpu=cortex-m4",
        "-mthumb",
        "-std=c99",
        "-Wall",
        "-Werror",
        "-Os",
        "-c",
        "prognos.c",
        "-o",
        "prognos.o",
        cwd=out,
    )
    assert build.returncode == 0, build.stderr
    symbols = run(objdump, "-t", "prognos.o", cwd=out).stdout
    model = next(ln.split() for ln in symbols.splitlines() if ln.endswith(" prognos_model"))
    assert model[3] == ".rodata" and int(model[4], 16) == facts["model_bytes"], model
    sections = dict(re.findall(r"^(\.\S+)\s+(\d+)", run(size, "-A", "prognos.o", cwd=out).stdout, re.MULTILINE))
    assert int(sections[".rodata"]) >= facts["model_bytes"]
    assert int(sections.get(".data", 0)) + int(sections.get(".bss", 0)) < 64, sections  # nothing of it in RAM


def test_mcu_refuses_with_numbers(fused, tmp_path, monkeypatch):
    from prognos.export import mcu, targets

    tiny = targets.Target("tiny", 4096, 1024, 1e6, 1.0, "none", "a test target")
    monkeypatch.setitem(targets.TARGETS, "tiny", tiny)
    with pytest.raises(ConfigError, match=r"does not fit tiny: flash .* KB > 4 KB; RAM .* KB > 1 KB .*fits: cortex-m4"):
        mcu.export_mcu(fused, "tiny", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="unknown target 'm0'; expected one of cortex-m4"):
        mcu.export_mcu(fused, "m0", tmp_path / "out")


def test_mcu_refuses_a_bundle_that_is_not_tflite(tiny_run, tmp_path):
    from prognos.export.mcu import export_mcu

    with pytest.raises(BundleError, match="expected a quantized TFLite bundle"):
        export_mcu(tiny_run["dir"] / "bundles" / "onnx_fp32", "cortex-m7", tmp_path)


def test_cli_mcu_writes_the_files_and_refuses_without_a_traceback(fused, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(fused, bundle)  # its source run is not next to it: no validation windows, no TensorFlow
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["source"]["run"] = str(tmp_path / "gone")
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    ok = run_cli("prognos", "mcu", "--bundle", str(bundle), "--target", "cortex-m4", "--out", str(tmp_path / "fw"))
    assert ok.returncode == 0, ok.stderr
    assert "parity and latency not measured" in ok.stdout and (tmp_path / "fw" / "prognos.h").is_file()
    (bundle / "model.tflite").write_bytes(b"TFL3 truncated")
    bad = run_cli("prognos", "mcu", "--bundle", str(bundle), "--target", "cortex-m4", "--out", str(tmp_path / "fw2"))
    assert bad.returncode == 2 and "sha256" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


def test_dsp_constants_compile(tmp_path):
    """A tiny int8 conv net on log-mel features: window and mel tables are the training side's numbers."""
    from prognos.edge_runtime import dsp
    from prognos.edge_runtime.dsp_spec import DspSpec, input_shape
    from prognos.export.bundle import write_bundle
    from prognos.export.formats import BY_NAME
    from prognos.export.mcu import export_mcu
    from prognos.models.kerasapi import keras

    spec = DspSpec(
        kind="log_mel", window=1024, n_fft=128, stft_hop=128, n_mels=8, norm="per_bin", mean=[0.0] * 8, std=[1.0] * 8
    )
    x = keras.Input(input_shape(spec))
    y = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(x)))
    rep = np.random.default_rng(0).normal(size=(16, *input_shape(spec))).astype("float32")
    fmt = BY_NAME["tflite_int8"]
    write_bundle(
        tmp_path / "b",
        fmt.write(keras.Model(x, y), rep),
        fmt,
        None,
        {},
        {},
        task="classify",
        preprocessing={"dsp": spec.to_dict()},
        postprocessing={"classes": ["a", "b", "c"]},
    )
    facts = export_mcu(tmp_path / "b", "cortex-m4", tmp_path / "fw", rep[:4])
    c = facts["constants"]
    np.testing.assert_array_equal(c["window_table"], dsp.hann(128).tolist())
    np.testing.assert_array_equal(c["mel_filterbank"], dsp.mel_filterbank(8, 128, 12000.0).tolist())
    assert facts["buffers"]["raw window"] == 1024 * 4 and facts["tflm"]["parity_steps"] <= 2
    assert compile_and_run(tmp_path / "fw", DSP_CHECKS).returncode == 0
    assert "X(Conv2D) X(FullyConnected)" in (tmp_path / "fw" / "prognos.h").read_text()


def test_resolver_names_are_tflm_method_names():
    from prognos.export.mcu import resolver_name

    names = ["DEPTHWISE_CONV_2D", "MAX_POOL_2D", "L2_NORMALIZATION", "UNIDIRECTIONAL_SEQUENCE_LSTM", "ADD_N", "PADV2"]
    assert [resolver_name(n) for n in names] == [
        "DepthwiseConv2D",
        "MaxPool2D",
        "L2Normalization",
        "UnidirectionalSequenceLSTM",
        "AddN",
        "PadV2",
    ]


def test_optimize_on_a_target_chooses_what_fits_or_says_why_not(tiny_run, tmp_path, monkeypatch):
    from prognos.export import targets
    from prognos.export.optimize import optimize_run
    from prognos.pipeline.rul.runs import load_run

    run = tmp_path / "run"
    shutil.copytree(tiny_run["dir"], run, ignore=shutil.ignore_patterns("report", "bench.*"))
    formats = ["tflite_fp32", "tflite_int8", "tflite_int8_fused"]
    result = optimize_run(load_run(run), budget=50.0, formats=formats, min_seconds=0.03, reuse=True, target="cortex-m4")
    rows = {r["format"]: r for r in result["rows"]}
    assert not rows["tflite_fp32"]["fit"]["fits"] and "no TFLM check" in rows["tflite_fp32"]["fit"]["why"]
    arena = {n: rows[n]["tflm"]["arena_bytes"] for n in ("tflite_int8", "tflite_int8_fused")}
    assert rows["tflite_int8"]["fit"]["fits"] == (arena["tflite_int8"] + 30 * 14 * 4 <= 64 * 1024)
    assert result["chosen"] in {n for n, r in rows.items() if r["fit"]["fits"]} and result["chosen"] != "tflite_fp32"
    assert "fits cortex-m4" in (run / "report" / "optimize.md").read_text()
    monkeypatch.setitem(targets.TARGETS, "tiny", targets.Target("tiny", 4096, 1024, 1e6, 1.0, "none", "test"))
    with pytest.raises(ConfigError, match=r"nothing fits tiny .*smallest candidate, tflite_int8_fused, needs"):
        optimize_run(load_run(run), budget=50.0, formats=formats, min_seconds=0.03, reuse=True, target="tiny")


def test_zoo_report_has_a_tflm_cell():
    from prognos.export.zoo import NetReport, markdown
    from prognos.models.kerasapi import keras

    x = keras.Input((32, 14))
    r = NetReport(keras.Model(x, keras.layers.Dense(1)(keras.layers.Flatten()(x))), min_seconds=0.01)
    r.row.update(
        model="tiny", net="tiny", ptq_int8=r.tflite("tflite_int8", "tflite_int8_bytes", "int8_p50_us", r.int8_parity)
    )
    r.row["tflm"] = r.tflm()
    assert r.row["tflm"].startswith("ok: arena") and r.row["tflm_arena_bytes"] > 0, r.row
    table = markdown({"machine": {"cpu": "x", "cores": 1}, "date": "d", "window": [32, 14], "rows": [r.row]})
    assert "| TFLM |" in table and r.row["tflm"] in table


def test_richer_preprocessor_tables_pass_through_and_compile(tmp_path):
    """Per-regime statistics (or any further numeric table of a preprocessor) become C arrays, none dropped."""
    from prognos.export import c_source, mcu_pre

    pre = {
        "features": ["s2", "s3"],
        "mean": [1.0, 2.0],
        "std": [0.5, 0.25],
        "window": 30,
        "rul_cap": 125.0,
        "regimes": {
            "centers": [[0.0, 0.1, 100.0], [42.0, 0.84, 100.0]],
            "mean": [[1.0, 2.0], [3.0, 4.0]],
            "doc": "nearest centre",
        },
        "empty": [],
        "selection": {"rule": "x"},
    }
    consts = mcu_pre.constants({"preprocessing": pre, "postprocessing": {"rul_scale": 125.0}})
    assert consts["regimes_centers"] == pre["regimes"]["centers"] and consts["regimes_mean"] == pre["regimes"]["mean"]
    assert not {"empty", "regimes_doc", "selection_rule"} & set(consts)
    macros = {"MODEL_LEN": c_source.Raw("20u"), "MODEL_CRC32": c_source.Raw("0u")}
    (tmp_path / "p.h").write_text(c_source.header("p", ["test"], macros, consts, []))
    (tmp_path / "p.c").write_text(c_source.source("p", "p.h", b"\0" * 20, consts))
    build = run(need_tool("gcc", "gcc"), "-std=c99", "-Wall", "-Werror", "-pedantic", "-c", "p.c", cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    assert "#define P_REGIMES_CENTERS_ROWS 2" in (tmp_path / "p.h").read_text()
