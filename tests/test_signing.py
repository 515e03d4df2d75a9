"""Signed bundles (edge_runtime.signing): keygen, sign, verify; a forged, tampered or unsigned bundle is
refused at load, at hot-swap (the running model keeps serving) and at deploy; two trusted keys rotate."""

import json
import shutil
import stat

import pytest

from prognos.edge_runtime.bundle import Bundle, sha256_of
from prognos.edge_runtime.errors import BundleError, ConfigError
from prognos.edge_runtime.hotswap import try_swap
from prognos.edge_runtime.signing import Trust, keygen, sign_bundle
from prognos.edge_runtime.stream import StreamEngine
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Three key pairs: a (trusted), b (trusted too: rotation), evil (not trusted)."""
    root = tmp_path_factory.mktemp("keys")
    return {name: keygen(root / name) for name in ("a", "b", "evil")}


def signed_copy(tiny_run, tmp_path, name, key=None, fmt="tflite_int8"):
    out = shutil.copytree(tiny_run["dir"] / "bundles" / fmt, tmp_path / name)
    if key is not None:
        sign_bundle(out, key)
    return out


def forge(tiny_run, tmp_path, keys, how: str):
    """A bundle that a device trusting key a must refuse, made the way `how` names."""
    if how == "unsigned":
        return signed_copy(tiny_run, tmp_path, how)
    if how == "other_key":
        return signed_copy(tiny_run, tmp_path, how, keys["evil"][0])
    b = signed_copy(tiny_run, tmp_path, how, keys["a"][0])
    manifest = json.loads((b / "manifest.json").read_text())
    if how == "model_and_sha":  # another model with its manifest sha256 updated: only the signature tells
        model = b / manifest["model_file"]
        model.write_bytes(model.read_bytes() + b"\0")
        manifest["sha256"] = sha256_of(model.read_bytes())
    else:  # "manifest": e.g. a different RUL scale
        manifest["postprocessing"]["rul_scale"] *= 2
    (b / "manifest.json").write_text(json.dumps(manifest))
    return b


FORGERIES = ("unsigned", "other_key", "model_and_sha", "manifest")
REASONS = {
    "unsigned": "unsigned bundle",
    "other_key": "which is not trusted here",
    "model_and_sha": "does not verify",
    "manifest": "does not verify",
}


def test_keygen_sign_verify(tmp_path, keys, tiny_run):
    key, pub = keys["a"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and pub.read_text().startswith("-----BEGIN PUBLIC KEY")
    with pytest.raises(ConfigError, match="not overwriting"):
        keygen(key.parent)
    b = signed_copy(tiny_run, tmp_path, "ok", key)
    bundle = Bundle(b, trust=Trust.from_files([pub]))
    assert bundle.signer == json.loads((b / "manifest.json").read_text())["signature"]["key_id"]
    with pytest.raises(ConfigError, match="expected an ed25519 public key|not a PEM public key"):
        Trust.from_files([key])  # the private key given where the public one belongs


@pytest.mark.parametrize("how", FORGERIES)
def test_forged_bundles_are_refused_at_load_and_hot_swap(tmp_path, keys, tiny_run, how):
    trust = Trust.from_files([keys["a"][1]])
    bad = forge(tiny_run, tmp_path, keys, how)
    with pytest.raises(BundleError, match=REASONS[how]):
        Bundle(bad, trust=trust)
    engine = StreamEngine(Bundle(signed_copy(tiny_run, tmp_path, "running", keys["a"][0], "onnx_fp32"), trust=trust))
    logs = []
    assert not try_swap(engine, bad, logs.append, trust=trust)
    assert engine.stats.swaps["refused"] == 1 and REASONS[how] in logs[-1]
    assert engine.bundle.path == tmp_path / "running"  # the running bundle keeps serving


def test_key_rotation_and_development_mode(tmp_path, keys, tiny_run):
    both = Trust.from_files([keys["a"][1], keys["b"][1]])
    for name in ("a", "b"):
        assert Bundle(signed_copy(tiny_run, tmp_path, name, keys[name][0]), trust=both).signer
    with pytest.raises(BundleError, match="not trusted"):
        Bundle(signed_copy(tiny_run, tmp_path, "evil", keys["evil"][0]), trust=both)
    dev = Trust.from_files([keys["a"][1]], allow_unsigned=True)
    assert Bundle(signed_copy(tiny_run, tmp_path, "plain"), trust=dev).signer is None
    with pytest.raises(BundleError, match="does not verify"):  # a signature present must still verify
        Bundle(forge(tiny_run, tmp_path, keys, "manifest"), trust=dev)


def test_cli_keygen_sign_and_deploy_refusals(tmp_path, keys, tiny_run):
    r = run_cli("prognos-edge", "keygen", "--out", str(tmp_path / "k"))
    assert r.returncode == 0 and (tmp_path / "k" / "signing.key").is_file(), r.stderr
    b = signed_copy(tiny_run, tmp_path, "b")
    r = run_cli("prognos", "sign", "--bundle", str(b), "--key", str(tmp_path / "k" / "signing.key"))
    assert r.returncode == 0, r.stderr
    r = run_cli("prognos-edge", "predict", "--bundle", str(b), "--trust", str(tmp_path / "k" / "signing.pub"), stdin="")
    assert r.returncode == 0 and "verified" in r.stderr, r.stderr
    cfg = tmp_path / "edge.toml"
    cfg.write_text('input = "mqtt"\n[mqtt]\nhost = "127.0.0.1"\n[http]\nport = 9\n')
    for how in FORGERIES:
        bad = forge(tiny_run, tmp_path, keys, how)
        r = run_cli(
            "prognos-edge",
            "deploy",
            "--device",
            str(tmp_path / "dev"),
            "--bundle",
            str(bad),
            "--config",
            str(cfg),
            "--trust",
            str(keys["a"][1]),
        )
        assert r.returncode == 2 and REASONS[how] in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "dev").exists()  # refused before anything reached the device


def test_bundle_writers_sign_when_a_key_is_configured(tmp_path, keys, tiny_run, monkeypatch):
    """The hook every bundle-writing command calls last: --sign-key, else $PROGNOS_SIGNING_KEY, else nothing."""
    from argparse import Namespace

    from prognos.pipeline.cli.sign import ENV, sign_written

    trust = Trust.from_files([keys["a"][1], keys["b"][1]])
    monkeypatch.delenv(ENV, raising=False)
    plain = signed_copy(tiny_run, tmp_path, "plain")
    sign_written(Namespace(), [plain])
    assert "signature" not in json.loads((plain / "manifest.json").read_text())
    monkeypatch.setenv(ENV, str(keys["a"][0]))
    by_env, by_flag = signed_copy(tiny_run, tmp_path, "env"), signed_copy(tiny_run, tmp_path, "flag")
    sign_written(Namespace(), [by_env])
    sign_written(Namespace(sign_key=str(keys["b"][0])), [by_flag])  # the flag wins over the environment
    assert Bundle(by_env, trust=trust).signer != Bundle(by_flag, trust=trust).signer
