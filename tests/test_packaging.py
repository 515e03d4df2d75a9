"""The device distribution: prognos-edge ships prognos.edge_runtime only, and installs into an empty venv
without any training-side module or TensorFlow."""

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def edge_wheel(tmp_path_factory):
    out, src = tmp_path_factory.mktemp("wheels"), tmp_path_factory.mktemp("src") / "edge_runtime"
    shutil.copytree(ROOT / "edge_runtime", src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return next(out.glob("prognos_edge-*.whl"))


def test_edge_wheel_holds_only_the_edge_runtime(edge_wheel):
    names = zipfile.ZipFile(edge_wheel).namelist()
    packages = {n.split("/")[1] for n in names if n.startswith("prognos/")}
    assert packages == {"edge_runtime"}, packages
    assert "prognos/__init__.py" not in names  # a namespace: the training distribution adds its packages beside it
    assert "prognos/edge_runtime/device/install.sh" in names


def test_edge_wheel_installs_without_training_modules(edge_wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = subprocess.run(
        [str(venv / "bin/python"), "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with zipfile.ZipFile(edge_wheel) as z:  # install = unpack (pure-Python wheel), no network needed
        z.extractall(site)
    code = (
        "import importlib.util as u, prognos.edge_runtime.errors as e; "
        "print([m for m in ('prognos.pipeline', 'prognos.models', 'prognos.export', 'tensorflow') "
        "if u.find_spec(m)])"
    )
    r = subprocess.run([str(venv / "bin/python"), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "[]", (r.stdout, r.stderr)
