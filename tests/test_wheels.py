"""Every prognos-edge dependency has a wheel for each supported device Python on manylinux x86_64 and aarch64.

`pip download --only-binary=:all: --no-deps` for the target Python and platform, one call per
(Python, architecture), run at once. The platform is manylinux_2_28 and older (glibc 2.28: Debian 10,
Ubuntu 20.04, RHEL 8, Raspberry Pi OS 11 and later); pip wants every accepted tag listed.
Needs the package index: marked `registry` (CI has PyPI; an offline run skips).
"""

import os
import re
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from prognos.edge_runtime.configfile import tomllib

from tests.conftest import ROOT

pytestmark = pytest.mark.registry

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
ARCHS = ["x86_64", "aarch64"]


def requirements(python: str, arch: str) -> list[Requirement]:
    """prognos-edge's dependencies whose markers hold on CPython `python` on Linux `arch`, markers dropped."""
    deps = tomllib.loads((ROOT / "edge_runtime" / "pyproject.toml").read_text())["project"]["dependencies"]
    env = {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "platform_machine": arch,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    reqs = [Requirement(d) for d in deps]
    kept = [r for r in reqs if r.marker is None or r.marker.evaluate(env)]
    for r in kept:
        r.marker = None
    return kept


def download(python: str, arch: str, dest) -> tuple[subprocess.CompletedProcess, list[Requirement]]:
    reqs = requirements(python, arch)
    platforms = [f"manylinux_2_{m}_{arch}" for m in range(17, 29)] + [f"manylinux2014_{arch}"]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        python,
        "--implementation",
        "cp",
        "-d",
        str(dest),
        *[a for p in platforms for a in ("--platform", p)],
        *map(str, reqs),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600), reqs


def index_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
        return True
    except OSError:
        return False


def test_every_edge_dependency_has_manylinux_wheels(tmp_path):
    if not index_reachable():
        if os.environ.get("CI"):
            pytest.fail("pypi.org:443 is not reachable; this check needs the package index")
        pytest.skip("pypi.org is not reachable (offline); CI runs this check")
    combos = [(py, arch) for py in PYTHONS for arch in ARCHS]
    with ThreadPoolExecutor(len(combos)) as pool:
        results = list(pool.map(lambda c: download(*c, tmp_path / f"{c[0]}-{c[1]}"), combos))
    problems = []
    for (py, arch), (r, reqs) in zip(combos, results):
        if r.returncode != 0:
            problems.append(f"Python {py} {arch}: {r.stderr.strip().splitlines()[-1]}")
            continue
        wheels = {parse_wheel_filename(p.name)[0]: p.name for p in (tmp_path / f"{py}-{arch}").glob("*.whl")}
        missing = {canonicalize_name(q.name) for q in reqs} - set(wheels)
        wrong = [w for w in wheels.values() if not re.search(rf"-(none-any|.*manylinux.*_{arch})\.whl$", w)]
        problems += [f"Python {py} {arch}: no wheel for {sorted(missing)}"] * bool(missing)
        problems += [f"Python {py} {arch}: {w} is not for {arch}" for w in wrong]
    assert not problems, "\n".join(problems)
