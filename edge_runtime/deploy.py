"""`prognos-edge deploy` (`make deploy DEVICE=… BUNDLE=…`): package a bundle and install it on a device.

The package is one release folder: the device distribution's wheel (prognos-edge, built from
edge_runtime/ with `pip wheel --no-deps`: no training-side module), requirements-edge.txt (its
requirements), the verified bundle, edge.toml (the service config, its
`bundle` pointing at the packaged copy, `trusted_keys` at the packaged keys/), the systemd unit,
install.sh and supervise.sh. The bundle is verified before packaging (sha256 and, with --trust, its
signature) and again on the device by install.sh with the device's own config. A config that cannot
run as a service is refused: its input must not end (only "mqtt"; stdin and files end, and the
service would exit and be respawned forever), and it must trust keys or say allow_unsigned = true. DEVICE is a
local folder or ssh://user@host[:port]/path; the release is copied to DEVICE/releases/<id> (rsync
over ssh for a remote device) and install.sh runs there: venv, pip install, switch the `current`
symlink, restart (systemd if running, else supervise.sh), /healthz, roll back if unhealthy.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

from prognos.edge_runtime.bundle import Bundle
from prognos.edge_runtime.config import ServiceConfig
from prognos.edge_runtime.configfile import tomllib
from prognos.edge_runtime.errors import ConfigError, PrognosError
from prognos.edge_runtime.signing import Trust

EDGE = Path(__file__).resolve().parent  # the prognos-edge source folder (edge_runtime/, with its pyproject.toml)
DEVICE_FILES = EDGE / "device"
FORWARD_ENV = (
    "PROGNOS_PYTHON",
    "PROGNOS_DEPLOY_PIP_ARGS",
    "PROGNOS_DEPLOY_VENV_ARGS",
    "PROGNOS_DEPLOY_SITE",
    "PROGNOS_DEPLOY_INIT",
    "PROGNOS_DEPLOY_HEALTH_TIMEOUT",
    "PROGNOS_DEPLOY_KEEP",
)
DEFAULT_CONFIG = """# prognos edge service on the device (written by `prognos-edge deploy`; see edge_runtime/config.py)
input = "mqtt"
[mqtt]
host = "127.0.0.1"
port = 1883
[http]
host = "127.0.0.1"
port = 9100
"""


class DeployError(PrognosError):
    """Packaging or installing a release failed; the message says which step."""


def edge_requirements() -> list[str]:
    return tomllib.loads((EDGE / "pyproject.toml").read_text())["project"]["dependencies"]


def build_wheel(out: Path) -> Path:
    """The prognos-edge wheel, built from a clean copy of edge_runtime/ (the work tree stays untouched)."""
    if not (EDGE / "pyproject.toml").is_file():
        raise DeployError(f"{EDGE}: no pyproject.toml; deploy runs from a source checkout of prognos")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "edge_runtime"
        shutil.copytree(EDGE, src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build"))
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--quiet",
                "-w",
                str(out),
                str(src),
            ],
            capture_output=True,
            text=True,
        )
    if r.returncode != 0:
        raise DeployError(f"pip wheel failed:\n{r.stderr[-2000:]}")
    return next(out.glob("prognos_edge-*.whl"))


def service_config(config: str | None, keys: list[str] = ()) -> tuple[str, ServiceConfig]:
    """The edge.toml text, the given config (or a default) with `bundle = "bundle"` and `trusted_keys` (the
    packaged keys/ copies) on top, and its ServiceConfig; refuses a config that cannot run as a service."""
    text = DEFAULT_CONFIG if config is None else _read_config(config)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{config}: not valid TOML ({e})") from None
    for key, why in (("bundle", "ships the bundle as bundle/"), ("trusted_keys", "ships the --trust keys as keys/")):
        if key in data:
            raise ConfigError(f"{config}: sets `{key}`; deploy {why} and sets it itself")
    if not isinstance(data.get("http", {}), dict) or not data.get("http", {}).get("port"):
        raise ConfigError(f"{config}: no [http] port; the device health check needs /healthz")
    text = f'bundle = "bundle"\ntrusted_keys = {json.dumps(list(keys))}\n' + text
    cfg = ServiceConfig.from_dict(tomllib.loads(text))  # refuse a bad config before it reaches the device
    if cfg.input != "mqtt":
        raise ConfigError(
            f"{config}: input = {cfg.input!r}; a service needs an input that does not end: "
            'input = "mqtt" (stdin and files end, and the service would exit and be respawned)'
        )
    if not keys and not cfg.allow_unsigned:
        raise ConfigError(
            f"{config or 'the default config'}: no trusted key; pass --trust PUBKEY_FILE (the "
            "device then runs only bundles signed with its key), or set allow_unsigned = true "
            "in the config for a development device"
        )
    return text, cfg


def _read_config(path) -> str:
    try:
        return Path(path).read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config ({e.strerror})") from None


def build_package(bundle_dir, config: str | None, out: Path, trust_files=()) -> tuple[Path, str]:
    """Write the release folder under `out`; returns (folder, release id)."""
    keys = [f"keys/key{i}.pub" for i in range(len(trust_files))]
    text, cfg = service_config(config, keys)
    trust = Trust.from_files(trust_files, cfg.allow_unsigned)
    bundle = Bundle(bundle_dir, trust=trust)  # verified: manifest, sha256, signature, loadable
    now = datetime.now(timezone.utc)
    rid = f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}-{bundle.sha256[:8]}"  # sorts by time
    rel = out / rid
    (rel / "wheels").mkdir(parents=True)
    build_wheel(rel / "wheels")
    (rel / "requirements-edge.txt").write_text("\n".join(edge_requirements()) + "\n")
    shutil.copytree(bundle.path, rel / "bundle")
    (rel / "keys").mkdir()
    for src, dst in zip(trust_files, keys):
        shutil.copy2(src, rel / dst)
    (rel / "edge.toml").write_text(text)
    for name in ("install.sh", "supervise.sh", "prognos-edge.service"):
        shutil.copy2(DEVICE_FILES / name, rel / name)
    return rel, rid


def _env_prefix() -> list[str]:
    return [f"{k}={os.environ[k]}" for k in FORWARD_ENV if k in os.environ]


def install(rel: Path, rid: str, device: str, log=print) -> None:
    """Copy the release to DEVICE/releases/<id> and run install.sh there."""
    url = urlparse(device)
    if url.scheme == "ssh":
        return _install_ssh(rel, rid, url, log)
    if url.scheme not in ("", "file"):
        raise DeployError(f"device {device!r}: expected a folder or ssh://user@host[:port]/path")
    dest = Path(url.path if url.scheme else device).resolve()
    (dest / "releases").mkdir(parents=True, exist_ok=True)
    shutil.copytree(rel, dest / "releases" / rid, symlinks=True)
    script = dest / "releases" / rid / "install.sh"
    _run(["env", "-u", "PYTHONPATH", *_env_prefix(), "sh", str(script), str(dest), rid], log)


def _install_ssh(rel: Path, rid: str, url, log) -> None:
    if not url.hostname or not url.path:
        raise DeployError(f"ssh://{url.netloc}{url.path}: expected ssh://user@host[:port]/path")
    ssh = shlex.split(os.environ.get("PROGNOS_DEPLOY_SSH", "ssh")) + (["-p", str(url.port)] if url.port else [])
    target = f"{url.username}@{url.hostname}" if url.username else url.hostname
    dest = url.path
    _run([*ssh, target, f"mkdir -p {shlex.quote(dest)}/releases"], log)
    _run(["rsync", "-a", "-e", shlex.join(ssh), f"{rel}/", f"{target}:{dest}/releases/{rid}/"], log)
    remote = shlex.join(["env", *_env_prefix(), "sh", f"{dest}/releases/{rid}/install.sh", dest, rid])
    _run([*ssh, target, remote], log)


def _run(cmd: list[str], log) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    for line in (r.stdout + r.stderr).splitlines():
        log(line)
    if r.returncode != 0:
        raise DeployError(f"`{shlex.join(cmd[:3])} …` failed (exit {r.returncode}); see the log above")


def deploy(bundle_dir, device: str, config: str | None = None, trust_files=(), log=print) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        rel, rid = build_package(bundle_dir, config, Path(tmp), list(trust_files))
        log(f"[prognos-deploy] release {rid}: {', '.join(sorted(p.name for p in rel.iterdir()))}")
        install(rel, rid, device, log)
    return rid
