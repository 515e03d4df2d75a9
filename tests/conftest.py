"""Shared fixtures: real-data folder, a tiny simulated fleet, one tiny trained + exported run, a broker.

The trained run is built once per session (a few seconds of real TensorFlow training and real
TFLite/ONNX conversion) and shared by the export, bundle and edge-runtime tests.

The edge subset (`pytest -m edge`) runs in a venv holding only prognos-edge, on every Python a
device may have (3.10-3.13), where TensorFlow and the training side cannot be installed. There the
fleet and the run come from PROGNOS_EDGE_FIXTURES, a folder `python -m tests.edge_fixtures DIR`
wrote with the training venv (`make edge-fixtures`): the same real bundles, built by the same code.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKELETON_FORMATS = ["tflite_fp32", "tflite_int8", "tflite_int8_fused", "onnx_fp32"]


def data_dir() -> Path:
    return Path(os.environ.get("PROGNOS_DATA_DIR", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def cmapss_dir():
    d = data_dir() / "cmapss"
    if not (d / "train_FD001.txt").exists():
        pytest.skip(f"real C-MAPSS data not found at {d} (set PROGNOS_DATA_DIR)")
    return d


EDGE_FIXTURES = os.environ.get("PROGNOS_EDGE_FIXTURES")  # the folder tests/edge_fixtures.py wrote
EDGE_ONLY = importlib.util.find_spec("prognos.pipeline") is None  # a prognos-edge venv: no training side


def pytest_ignore_collect(collection_path, config):
    """In a prognos-edge venv, skip test modules that import the training side (they cannot be imported)."""
    if EDGE_ONLY and collection_path.name.startswith("test_") and collection_path.suffix == ".py":
        return "pytest.mark.edge" not in collection_path.read_text()
    return None


def _handed_over(name: str, tmp_path_factory) -> Path:
    """A fresh copy of one folder of PROGNOS_EDGE_FIXTURES (tests may write into it)."""
    if not EDGE_FIXTURES:
        pytest.fail("this venv has only prognos-edge: set PROGNOS_EDGE_FIXTURES (written by `make edge-fixtures`)")
    src = Path(EDGE_FIXTURES) / name
    if not src.is_dir():
        pytest.fail(f"PROGNOS_EDGE_FIXTURES={EDGE_FIXTURES} has no {name}/; write it with `make edge-fixtures`")
    return Path(shutil.copytree(src, tmp_path_factory.mktemp(name) / name))


def make_sim(out: Path) -> Path:
    from prognos.pipeline.data.simulate import write_dataset

    return write_dataset(out, n_train=16, n_test=8, seed=3)


def make_tiny_run(run: Path, sim: Path) -> dict:
    """A 2-epoch LSTM on the tiny fleet, exported to the skeleton's four formats.

    The compression variants (fine-tuning steps, more PTQ modes) run on copies of this run in
    test_compress.py, so the tests that read this run's bundles and bench table stay fast.
    """
    from prognos.export.run import export_run
    from prognos.pipeline.config import RunConfig
    from prognos.pipeline.rul.runs import load_run
    from prognos.pipeline.rul.train import train_run

    cfg = RunConfig()
    cfg.data.data_dir, cfg.data.val_fraction, cfg.data.smoothing = str(sim), 0.25, 0.3
    cfg.train.epochs = 2
    cfg.model.hparams = {"units": [16], "dense": 8}
    metrics = train_run(cfg, run)
    parity = export_run(load_run(run), SKELETON_FORMATS, calibration=32)
    return {"dir": run, "metrics": metrics, "parity": parity}


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory):
    if EDGE_FIXTURES or EDGE_ONLY:
        return _handed_over("sim", tmp_path_factory)
    return _hand_over("sim", make_sim(tmp_path_factory.mktemp("sim")))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, sim_dir):
    if EDGE_FIXTURES or EDGE_ONLY:
        run = _handed_over("run", tmp_path_factory)
        return {
            "dir": run,
            "metrics": json.loads((run / "metrics.json").read_text()),
            "parity": json.loads((run / "parity.json").read_text()),
        }
    run = make_tiny_run(tmp_path_factory.mktemp("run"), sim_dir)
    _hand_over("run", run["dir"])
    return run


def _hand_over(name: str, path: Path) -> Path:
    """With PROGNOS_WRITE_EDGE_FIXTURES=DIR (.ci/run), `make test` leaves a pristine copy of its fleet and
    run in DIR for the edge runs, which then need no second training (what `make edge-fixtures` does)."""
    out = os.environ.get("PROGNOS_WRITE_EDGE_FIXTURES")
    if out and not (Path(out) / name).exists():  # copied, then renamed: the edge runs .ci/run starts beside
        # make test wait for DIR/name to appear whole. Under pytest-xdist each worker builds its own fixtures
        # (the same seeds): the first to finish hands its copy over, the others keep theirs.
        partial = Path(out) / f".{name}.{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            os.replace(shutil.copytree(path, partial), Path(out) / name)
        except OSError:  # another worker's copy landed first
            shutil.rmtree(partial, ignore_errors=True)
    return path


@pytest.fixture(scope="session")
def vib_run(tmp_path_factory):
    """A tiny 10-class LeNet vibration run (4 epochs on 3 s simulated recordings at 0 HP, cross-load 1 HP) with
    fp32 and int8 classify bundles: (run dir, metrics)."""
    from prognos.pipeline.vibration.train import VibrationConfig, vibration_run

    run = tmp_path_factory.mktemp("vib")
    cfg = VibrationConfig(epochs=4, sim_seconds=3.0, patience=4, sim_loads=[0, 1], loads=[0], test_loads=[1])
    return run, vibration_run(cfg, run)


def run_py(code: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run Python code in a fresh interpreter (the project's venv) and capture its output."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def run_cli(*args, stdin: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / args[0]
    return subprocess.run([str(exe), *args[1:]], capture_output=True, text=True, input=stdin, timeout=timeout, cwd=ROOT)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_tool(name: str, install: str = "mosquitto openssh-server rsync") -> str:
    """The path of a system tool a test needs; CI (CI=true) fails without it, a developer's run skips."""
    import shutil

    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if path is None:
        msg = f"{name} is not installed (.ci/run installs it: apt-get install {install})"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory):
    """A real mosquitto broker on 127.0.0.1 (random free port), stopped after the session: (host, port)."""
    import time

    exe = need_tool("mosquitto")
    d = tmp_path_factory.mktemp("mosquitto")
    port = free_port()
    (d / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [exe, "-c", str(d / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=open(d / "log.txt", "w")
    )
    import socket

    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"mosquitto did not start: {(d / 'log.txt').read_text()}")
    yield "127.0.0.1", port
    proc.terminate()
    proc.wait(timeout=10)
