"""`prognos-edge deploy`: a real package installed into a device folder and over ssh (a real sshd on
127.0.0.1), with a real venv, pip install, the fallback process manager, /healthz and roll-back.

pip installs the project wheel from the package; the `[edge]` requirements are already satisfied
from a link farm of this venv's installed packages (PROGNOS_DEPLOY_SITE, without prognos itself),
so the test needs no download. `make test-slow` runs the same deploy with a real pip download.
"""

import getpass
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.deploy import edge_requirements
from tests.conftest import ROOT, free_port, need_tool
from tests.test_service import get, tamper, wait_for


@pytest.fixture(scope="module")
def device_env(tmp_path_factory):
    """Environment for install.sh: base interpreter, installed deps as an extra site, supervise.sh."""
    site = tmp_path_factory.mktemp("site")
    # every site-packages folder on the path: a worktree's venv reaches main's packages through a .pth line
    dirs = [sysconfig.get_paths()["purelib"], *(p for p in sys.path if p.endswith("site-packages"))]
    for entry in (e for d in dict.fromkeys(dirs) for e in Path(d).iterdir()):
        if (
            not entry.name.startswith(("prognos", "__editable__", "_distutils_hack"))
            and entry.suffix != ".pth"
            and not (site / entry.name).exists()
        ):
            (site / entry.name).symlink_to(entry)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {
        **env,
        "PROGNOS_PYTHON": os.path.realpath(sys._base_executable),
        "PROGNOS_DEPLOY_SITE": str(site),
        "PROGNOS_DEPLOY_PIP_ARGS": "--no-index",
        "PROGNOS_DEPLOY_VENV_ARGS": "--without-pip",
        "PROGNOS_DEPLOY_INIT": "supervise",
        "PROGNOS_DEPLOY_HEALTH_TIMEOUT": "5",
    }


def edge_config(path: Path, mqtt_port: int, http_port: int) -> Path:
    path.write_text(f'input = "mqtt"\n[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\n[http]\nport = {http_port}\n')
    return path


@pytest.fixture(scope="module")
def signed(tiny_run, tmp_path_factory):
    """The tiny run's bundles signed with a fresh key: {"bundles": folder, "pub": the public key file}."""
    from prognos.edge_runtime.signing import keygen, sign_bundle

    root = tmp_path_factory.mktemp("signed")
    key, pub = keygen(root / "key")
    for fmt in ("tflite_int8", "onnx_fp32"):
        sign_bundle(shutil.copytree(tiny_run["dir"] / "bundles" / fmt, root / "bundles" / fmt), key)
    return {"bundles": root / "bundles", "pub": pub}


def deploy(env, device, bundle, config, *trust):
    exe = Path(sys.executable).parent / "prognos-edge"
    return subprocess.run(
        [
            str(exe),
            "deploy",
            "--device",
            device,
            "--bundle",
            str(bundle),
            "--config",
            str(config),
            *[a for k in trust for a in ("--trust", str(k))],
        ],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=240,
        cwd=ROOT,
    )


def stop(dest: Path):
    if (dest / "current").exists():
        subprocess.run(["sh", str(dest / "current" / "supervise.sh"), "stop", str(dest)], timeout=30)


def test_deploy_to_folder_then_roll_back_a_bad_release(signed, mqtt_broker, device_env, tmp_path):
    bundles, dest, http, pub = signed["bundles"], tmp_path / "device", free_port(), signed["pub"]
    good = edge_config(tmp_path / "good.toml", mqtt_broker[1], http)
    try:
        r = deploy(device_env, str(dest), bundles / "tflite_int8", good, pub)
        assert r.returncode == 0, r.stdout + r.stderr
        first = os.readlink(dest / "current")
        rel = dest / first
        assert sorted(p.name for p in rel.iterdir()) == [
            "bundle",
            "edge.toml",
            "install.sh",
            "keys",
            "prognos-edge.service",
            "requirements-edge.txt",
            "supervise.sh",
            "venv",
            "wheels",
        ]
        shipped = (rel / "requirements-edge.txt").read_text().splitlines()
        assert shipped == edge_requirements() and not [r for r in shipped if "tensorflow" in r]
        assert shipped[:2] == ["numpy>=1.26,<3", "ai-edge-litert==2.3.0"]  # one line per requirement, markers kept
        assert "onnxruntime==1.23.2; python_version < '3.11'" in shipped
        assert "signed by trusted key" in r.stdout  # verified on the device too (install.sh --check-bundle)
        assert "@DEST@/current/venv/bin/prognos-edge serve" in (rel / "prognos-edge.service").read_text()
        code = "import prognos.edge_runtime as e; print(e.__file__)"
        where = subprocess.run(
            [str(rel / "venv/bin/python"), "-c", code], capture_output=True, text=True, env=device_env, cwd=tmp_path
        )
        assert where.stdout.startswith(str(rel / "venv")), where  # the installed wheel, not the source tree
        health = json.loads(get(f"http://127.0.0.1:{http}/healthz")[1])
        assert health["model_sha256"] == Bundle(bundles / "tflite_int8").sha256

        row = {"asset": "p1", "cycle": 1, **dict.fromkeys(Bundle(bundles / "tflite_int8").preprocessor.features, 1.0)}
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.connect(*mqtt_broker)
        c.loop_start()
        c.publish("prognos/sensors/p1", json.dumps(row), qos=1).wait_for_publish()
        c.loop_stop()
        wait_for(
            lambda: "prognos_inferences_total 1" in get(f"http://127.0.0.1:{http}/metrics")[1],
            what="the deployed service to predict",
        )

        broken = edge_config(tmp_path / "broken.toml", free_port(), http)  # a broker that is not there
        r = deploy(device_env, str(dest), bundles / "onnx_fp32", broken, pub)
        assert r.returncode == 2 and "rolling back to " + first.split("/")[-1] in r.stdout, r.stdout + r.stderr
        assert "is healthy" in r.stdout.split("rolling back")[1]
        assert os.readlink(dest / "current") == first and len(list((dest / "releases").iterdir())) == 2
        health = json.loads(get(f"http://127.0.0.1:{http}/healthz")[1])
        assert health["status"] == "ok" and health["model_sha256"] == Bundle(bundles / "tflite_int8").sha256

        bad = tamper(shutil.copytree(bundles / "onnx_fp32", tmp_path / "tampered"))
        r = deploy(device_env, str(dest), bad, good, pub)
        assert r.returncode == 2 and "does not match the manifest" in r.stderr
        assert len(list((dest / "releases").iterdir())) == 2  # refused before anything was copied
    finally:
        stop(dest)
    status = subprocess.run(["sh", str(dest / "current" / "supervise.sh"), "status", str(dest)], capture_output=True)
    assert status.returncode == 3


@pytest.fixture
def sshd(tmp_path):
    """A real sshd on 127.0.0.1 (random port) with a throwaway host key and user key; yields the ssh command."""
    exe, keygen = need_tool("sshd"), need_tool("ssh-keygen")
    need_tool("rsync")
    d = tmp_path / "sshd"
    d.mkdir()
    for name in ("host_key", "user_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        f"PidFile {d / 'sshd.pid'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen([exe, "-D", "-e", "-f", str(d / "sshd_config")], stderr=open(d / "log", "w"))
    ssh = (
        f"ssh -i {d / 'user_key'} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        f"-o BatchMode=yes -o LogLevel=ERROR"
    )
    wait_for(
        lambda: (
            subprocess.run(
                [*ssh.split(), "-p", str(port), f"{getpass.getuser()}@127.0.0.1", "true"], capture_output=True
            ).returncode
            == 0
        ),
        timeout=15,
        what="sshd",
    )
    yield ssh, port
    proc.terminate()
    proc.wait(timeout=10)


def test_a_failed_first_deploy_leaves_nothing_running(signed, device_env, tmp_path):
    dest, http = tmp_path / "device", free_port()
    stdin = tmp_path / "stdin.toml"
    stdin.write_text(f'input = "-"\n[http]\nport = {http}\n')
    r = deploy(device_env, str(dest), signed["bundles"] / "onnx_fp32", stdin, signed["pub"])
    assert r.returncode == 2 and "input = '-'; a service needs an input that does not end" in r.stderr
    assert not dest.exists()  # refused before anything was copied
    try:
        broken = edge_config(tmp_path / "broken.toml", free_port(), http)  # a broker that is not there
        r = deploy(device_env, str(dest), signed["bundles"] / "onnx_fp32", broken, signed["pub"])
        assert r.returncode == 2 and "no previous release to roll back to: stopping" in r.stdout, r.stdout + r.stderr
        assert not (dest / "current").exists()
        rel = next((dest / "releases").iterdir())
        status = subprocess.run(["sh", str(rel / "supervise.sh"), "status", str(dest)], capture_output=True)
        assert status.returncode == 3
        with pytest.raises(OSError):  # nothing answers: no respawned service left behind
            get(f"http://127.0.0.1:{http}/healthz")
    finally:
        if (dest / "releases").is_dir():
            for rel in (dest / "releases").iterdir():
                subprocess.run(["sh", str(rel / "supervise.sh"), "stop", str(dest)], timeout=30)


def test_deploy_over_ssh(signed, mqtt_broker, device_env, sshd, tmp_path):
    ssh, port = sshd
    dest, http = tmp_path / "remote", free_port()
    config = edge_config(tmp_path / "edge.toml", mqtt_broker[1], http)
    env = {**device_env, "PROGNOS_DEPLOY_SSH": ssh}
    try:
        r = deploy(
            env,
            f"ssh://{getpass.getuser()}@127.0.0.1:{port}{dest}",
            signed["bundles"] / "onnx_fp32",
            config,
            signed["pub"],
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert "is healthy" in r.stdout
        assert (dest / "current" / "bundle" / "manifest.json").is_file()
        health = json.loads(get(f"http://127.0.0.1:{http}/healthz")[1])
        assert health["model_sha256"] == Bundle(signed["bundles"] / "onnx_fp32").sha256
    finally:
        stop(dest)


@pytest.mark.slow
def test_deploy_with_a_real_pip_install(signed, mqtt_broker, tmp_path):
    """The full device install: pip downloads the [edge] requirements from the package index."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PROGNOS_PYTHON=os.path.realpath(sys._base_executable), PROGNOS_DEPLOY_INIT="supervise")
    dest, http = tmp_path / "device", free_port()
    try:
        r = deploy(
            env,
            str(dest),
            signed["bundles"] / "tflite_int8",
            edge_config(tmp_path / "edge.toml", mqtt_broker[1], http),
            signed["pub"],
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(get(f"http://127.0.0.1:{http}/healthz")[1])["status"] == "ok"
        assert not (dest / "current" / "venv" / "lib" / "python3.11" / "site-packages" / "tensorflow").exists()
    finally:
        stop(dest)
