"""MQTT over TLS with a username and password file, against a real mosquitto on 127.0.0.1.

The broker has a TLS listener (a CA, a server certificate for 127.0.0.1 and a client certificate,
all made here with the openssl command), a password file (mosquitto_passwd) and an ACL. With the
right settings predictions flow; a wrong password or an untrusted CA leave the service running,
logging the reason once while paho retries, with /healthz 503 naming it. The password never shows
in the logs, /healthz or /metrics.
"""

import getpass
import json
import re
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.conftest import ROOT, free_port, need_tool
from tests.test_mqtt import ready_when_subscribed
from tests.test_service import get, wait_for

pytestmark = pytest.mark.edge  # runs in the prognos-edge venvs too (tests/conftest.py)

PASSWORD = "pw-5e1f0c-device"  # searched for in every output below
ACL = """user device
topic read prognos/sensors/#
topic write prognos/predictions/#
topic write prognos/alerts/#
user tester
topic readwrite #
"""


def openssl(d: Path, *args: str) -> None:
    subprocess.run([need_tool("openssl", "openssl"), *args], cwd=d, check=True, capture_output=True)


def make_ca(d: Path, name: str) -> None:
    # keyUsage: Python 3.13 verifies strictly (ssl.VERIFY_X509_STRICT) and refuses a CA without it
    openssl(
        d,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.crt",
    )


def make_cert(d: Path, ca: str, name: str, ext: str) -> None:
    """name.key + name.crt signed by `ca`, with the x509v3 extension line `ext`."""
    (d / f"{name}.ext").write_text(ext + "\n")
    openssl(
        d,
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        f"/CN={name}",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
    )
    openssl(
        d,
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        f"{ca}.crt",
        "-CAkey",
        f"{ca}.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.crt",
    )


def start_mosquitto(d: Path, port: int) -> subprocess.Popen:
    (d / "acl").write_text(ACL)
    (d / "passwd").touch()
    for user, pw in (("device", PASSWORD), ("tester", "tester-pw")):
        subprocess.run([need_tool("mosquitto_passwd"), "-b", "passwd", user, pw], cwd=d, check=True)
    (d / "mosquitto.conf").write_text(
        f"user {getpass.getuser()}\npersistence false\nallow_anonymous false\n"
        f"password_file {d / 'passwd'}\nacl_file {d / 'acl'}\nlog_type all\n"
        f"listener {port} 127.0.0.1\ncafile {d / 'ca.crt'}\ncertfile {d / 'server.crt'}\n"
        f"keyfile {d / 'server.key'}\nrequire_certificate true\n"
    )
    log = open(d / "log.txt", "w")
    proc = subprocess.Popen([need_tool("mosquitto"), "-c", str(d / "mosquitto.conf"), "-v"], stdout=log, stderr=log)
    wait_for(lambda: f"on port {port}" in (d / "log.txt").read_text() or proc.poll() is not None, what="mosquitto")
    if proc.poll() is not None:
        pytest.fail(f"mosquitto did not start: {(d / 'log.txt').read_text()}")
    return proc


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    """(folder with ca/client/rogue certificates and the broker log, port) of a TLS + auth + ACL mosquitto."""
    d = tmp_path_factory.mktemp("tls")
    make_ca(d, "ca")
    make_ca(d, "rogue")  # a CA the broker's certificate does not chain to
    make_cert(d, "ca", "server", "subjectAltName=IP:127.0.0.1")
    make_cert(d, "ca", "client", "extendedKeyUsage=clientAuth")
    port = free_port()
    proc = start_mosquitto(d, port)
    yield d, port
    proc.terminate()
    proc.wait(timeout=10)


def client_as_tester(d: Path, port: int, topics=()):
    """A paho client as user `tester` over TLS; returns (client, received [(topic, json)])."""
    got = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    ready = ready_when_subscribed(c, topics)
    c.tls_set(
        ca_certs=str(d / "ca.crt"),
        certfile=str(d / "client.crt"),
        keyfile=str(d / "client.key"),
        cert_reqs=ssl.CERT_REQUIRED,
    )
    c.username_pw_set("tester", "tester-pw")
    c.on_message = lambda client, userdata, msg: got.append((msg.topic, json.loads(msg.payload)))
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert ready.wait(10)
    return c, got


def serve(tmp: Path, d: Path, port: int, bundle: Path, password: str = PASSWORD, **mqtt_keys):
    """Start `prognos-edge serve` with an edge.toml of TLS + auth settings; returns (process, http port, stderr)."""
    http = free_port()
    keys = {
        "host": "127.0.0.1",
        "port": port,
        "tls": True,
        "ca_file": str(d / "ca.crt"),
        "cert_file": str(d / "client.crt"),
        "key_file": str(d / "client.key"),
        "username": "device",
        "password_file": "secret/password",
        **mqtt_keys,
    }
    (tmp / "secret").mkdir(exist_ok=True)
    (tmp / "secret" / "password").write_text(password + "\n")
    mqtt_toml = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    (tmp / "edge.toml").write_text(
        f'input = "mqtt"\npredictions = "none"\nalerts = "none"\n[http]\nport = {http}\n[mqtt]\n{mqtt_toml}'
    )
    exe = Path(sys.executable).parent / "prognos-edge"
    err = tmp / "stderr.txt"
    proc = subprocess.Popen(
        [str(exe), "serve", "--config", str(tmp / "edge.toml"), "--bundle", str(bundle)],
        stdout=subprocess.DEVNULL,
        stderr=open(err, "w"),
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return proc, http, err


def wait_health(http: int, err: Path, want, what: str):
    """wait_for a /healthz answer `want(status, body)` accepts; a timeout shows the service's log."""
    try:
        return wait_for(lambda: (lambda r: want(*r) and r)(get(f"http://127.0.0.1:{http}/healthz")), what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}; service log:\n{err.read_text()}") from None


def stop(proc) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=20)


@pytest.mark.parametrize("protocol", ["3.1.1", 5])
def test_predictions_flow_over_tls_with_auth(tls_broker, tiny_run, sim_dir, tmp_path, protocol):
    d, port = tls_broker
    bundle = tiny_run["dir"] / "bundles" / "onnx_fp32"
    features = json.loads((bundle / "manifest.json").read_text())["preprocessing"]["features"]
    proc, http, err = serve(tmp_path, d, port, bundle, protocol=protocol, client_id=f"gw-{protocol}")
    sub, got = client_as_tester(d, port, ["prognos/predictions/#"])
    try:
        health = wait_health(http, err, lambda status, body: status == 200, "service connected over TLS")
        rows = [line.split() for line in (sim_dir / "test_SIM.txt").read_text().splitlines()]
        cols = ["unit", "cycle", "setting1", "setting2", "setting3"] + [f"s{i}" for i in range(1, 22)]
        unit1 = [dict(zip(cols, map(float, r))) for r in rows if r[0] == "1"][:32]
        msgs = [{"asset": "e1", "cycle": int(r["cycle"]), **{f: r[f] for f in features}} for r in unit1]
        sub.publish("prognos/sensors/e1", json.dumps(msgs), qos=1).wait_for_publish()
        wait_for(lambda: len(got) == 32, what="32 predictions over TLS")
        metrics = get(f"http://127.0.0.1:{http}/metrics")[1]
    finally:
        code = stop(proc)
        sub.loop_stop()
    assert [m["cycle"] for t, m in got] == list(range(1, 33)) and {t for t, _ in got} == {"prognos/predictions/e1"}
    log = err.read_text()
    assert code == 0 and "connected to 127.0.0.1" in log
    # the broker saw the protocol asked for (p2 = 3.1.1, p5 = v5) and a persistent session (c0)
    assert f"as gw-{protocol}-sub (p{5 if protocol == 5 else 2}, c0," in (d / "log.txt").read_text()
    assert PASSWORD not in log + health[1] + metrics


def test_wrong_password_is_logged_once_and_unhealthy(tls_broker, tiny_run, tmp_path):
    d, port = tls_broker
    proc, http, err = serve(tmp_path, d, port, tiny_run["dir"] / "bundles" / "tflite_int8", password="not-the-pw")
    assert_refused_and_running(proc, http, err, d, "not authorised", "refused the connection: Not authorized")


def test_untrusted_broker_is_logged_once_and_unhealthy(tls_broker, tiny_run, tmp_path):
    d, port = tls_broker
    proc, http, err = serve(
        tmp_path, d, port, tiny_run["dir"] / "bundles" / "tflite_int8", ca_file=str(d / "rogue.crt")
    )
    assert_refused_and_running(proc, http, err, d, "unknown ca", "certificate is not trusted")


def assert_refused_and_running(proc, http, err, d, broker_says, reason):
    """/healthz is 503 with `reason`; after the broker saw >= 2 attempts per client the service still runs
    and logged the reason once per client (pub, sub)."""
    tries = (d / "log.txt").read_text().count(broker_says)
    try:
        status, body = wait_health(http, err, lambda status, body: reason in body, f"/healthz naming {reason!r}")
        wait_for(lambda: (d / "log.txt").read_text().count(broker_says) >= tries + 4, timeout=30, what="paho retrying")
        alive = proc.poll() is None
    finally:
        code = stop(proc)
    log = err.read_text()
    assert status == 503 and alive and code == 0, log
    logged = sorted(line.split(" 127.0.0.1")[0] for line in log.splitlines() if "MQTT" in line)
    assert logged == ["prognos-edge: MQTT pub", "prognos-edge: MQTT sub"] and log.count(reason) == 2, log
    assert PASSWORD not in log + body and "not-the-pw" not in log + body


def test_tls_and_auth_config_mistakes_are_clear_errors(tmp_path):
    from prognos.edge_runtime.config import ServiceConfig
    from prognos.edge_runtime.errors import ConfigError
    from prognos.edge_runtime.mqtt import MqttIO

    cfg = ServiceConfig.from_dict(
        {"mqtt": {"tls": True, "ca_file": "ca.crt", "username": "u", "password_file": "pw"}}, tmp_path
    )
    assert (cfg.mqtt.ca_file, cfg.mqtt.password_file) == (str(tmp_path / "ca.crt"), str(tmp_path / "pw"))
    for mqtt_keys, message in [
        ({"protocol": "4"}, "protocol '4'; expected"),
        ({"ca_file": "ca.crt"}, "ca_file set but tls = false"),
        ({"password_file": "pw"}, "password_file set without a username"),
        ({"tls": "yes"}, "tls = 'yes' (str); expected bool"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            ServiceConfig.from_dict({"mqtt": mqtt_keys})
    with pytest.raises(ConfigError, match=r"TLS files .*ca\.crt.*No such file"):
        MqttIO(cfg.mqtt, None, print)
    (tmp_path / "ca.crt").write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"TLS files .*ca\.crt"):
        MqttIO(cfg.mqtt, None, print)
    cfg.mqtt.tls, cfg.mqtt.ca_file = False, ""
    with pytest.raises(ConfigError, match=r"password_file .*pw: cannot read it \(No such file"):
        MqttIO(cfg.mqtt, None, print)
    (tmp_path / "pw").write_text("\n")
    with pytest.raises(ConfigError, match="the first line is empty"):
        MqttIO(cfg.mqtt, None, print)


def test_device_check_refuses_missing_secrets(tiny_run, tmp_path):
    """deploy runs `healthcheck --check-bundle` on the device before switching: a missing password file fails it."""
    (tmp_path / "edge.toml").write_text(
        f'bundle = "{tiny_run["dir"] / "bundles" / "onnx_fp32"}"\n[mqtt]\n'
        'host = "127.0.0.1"\nusername = "device"\npassword_file = "pw"\n'
    )
    exe = Path(sys.executable).parent / "prognos-edge"
    check = [str(exe), "healthcheck", "--config", str(tmp_path / "edge.toml"), "--check-bundle"]
    r = subprocess.run(check, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "password_file" in r.stderr and "Traceback" not in r.stderr, r.stderr
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    r = subprocess.run(check, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and PASSWORD not in r.stdout + r.stderr, r.stderr
