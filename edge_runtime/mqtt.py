"""MQTT input and output with paho-mqtt (the `[edge]` extra): subscribe to sensor topics, publish
predictions to <prefix>/predictions/<asset> and alert events to <prefix>/alerts/<asset>.

Two connections: the subscriber's network thread puts received messages into the service's bounded
queue with a blocking put, so when the model falls behind that thread waits and the broker buffers
(QoS 1): nothing is dropped on the device. Publishing goes through a second connection whose network
thread is never blocked that way; otherwise predictions would pile up in paho's outgoing queue while
the subscriber waits (seen: +30 MB in a burst). paho reconnects both by itself. With a `client_id`
the subscription is a persistent session (clean_session off; in MQTT v5 clean_start off with a
session expiry): the broker also keeps QoS 1 messages while the service restarts.

Security: TLS with the broker's certificate verified against `ca_file` (or the system CAs), an
optional client certificate, and a username with the password read from `password_file` (kept out
of the config, logs and /healthz). A refused or failing connection is logged once per distinct
reason and reported by `problem()` (/healthz answers 503 with it); paho keeps retrying with backoff,
so bad credentials or an untrusted broker never turn into a crash loop.
"""

from __future__ import annotations

import json
import ssl
import sys
import threading

from prognos.edge_runtime.config import MqttConfig
from prognos.edge_runtime.errors import ConfigError

_TOPIC_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_"})
MAX_QUEUED = 10_000  # outgoing messages paho may hold; beyond that a publish is dropped (and counted)
SESSION_EXPIRY = 7 * 24 * 3600  # MQTT v5: seconds the broker keeps a persistent session while we are away


def tls_context(cfg: MqttConfig) -> ssl.SSLContext:
    """Verify the broker against ca_file (or the system CAs); present cert_file/key_file when set."""
    try:
        ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
        if cfg.cert_file:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file or None)
    except OSError as e:  # ssl.SSLError is an OSError: a missing file or one that is not PEM
        files = {k: getattr(cfg, k) for k in ("ca_file", "cert_file", "key_file") if getattr(cfg, k)}
        raise ConfigError(f"config [mqtt] TLS files {files}: {e.strerror or e}") from None
    if not cfg.verify:
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


def check_files(cfg: MqttConfig) -> None:
    """Raise ConfigError unless the TLS and password files `cfg` names can be read and parsed."""
    if cfg.tls:
        tls_context(cfg)
    if cfg.password_file:
        read_password(cfg.password_file)


def read_password(path: str) -> str:
    """The first line of `path`; errors name the file, never its content."""
    try:
        with open(path, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")
    except OSError as e:
        raise ConfigError(f"config [mqtt] password_file {path}: cannot read it ({e.strerror})") from None
    if not password:
        raise ConfigError(f"config [mqtt] password_file {path}: the first line is empty")
    return password


class MqttIO:
    def __init__(self, cfg: MqttConfig, queue, log, subscribe: bool = True):
        try:
            import paho.mqtt.client  # noqa: F401
        except ImportError:
            raise ConfigError("MQTT needs paho-mqtt: pip install 'prognos[edge]'") from None
        self.cfg, self.queue, self.log, self.subscribe = cfg, queue, log, subscribe
        self.dropped = 0
        self._errors: dict[str, str] = {}  # role -> why its last connection attempt failed
        self._tls = tls_context(cfg) if cfg.tls else None
        self._password = read_password(cfg.password_file) if cfg.password_file else None
        if cfg.tls and not cfg.verify:
            log(
                f"prognos-edge: WARNING: MQTT TLS to {cfg.host}:{cfg.port} without verifying the broker "
                "(verify = false): anyone on the path can read and inject messages"
            )
        self._clients = {"pub": self._client("pub")}
        if subscribe:
            self._clients["sub"] = self._client("sub")
            self._clients["sub"].on_message = self._on_message

    def _client(self, role: str):
        import paho.mqtt.client as mqtt

        cid = f"{self.cfg.client_id}-{role}" if self.cfg.client_id else ""
        persistent = bool(cid) and role == "sub"
        if self.cfg.protocol == "5":
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        else:
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, clean_session=not persistent)
        c.user_data_set({"role": role, "connected": threading.Event(), "persistent": persistent})
        if self._tls is not None:
            c.tls_set_context(self._tls)
        if self.cfg.username:
            c.username_pw_set(self.cfg.username, self._password)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.reconnect_delay_set(1, 30)
        c.max_queued_messages_set(MAX_QUEUED)
        return c

    def problem(self) -> str:
        """ "" when every connection is up, else why not (for /healthz)."""
        down = [role for role, c in self._clients.items() if not c.user_data_get()["connected"].is_set()]
        return "; ".join(f"{role}: {self._errors.get(role, 'connecting')}" for role in down)

    def start(self) -> None:
        for c in self._clients.values():
            c.connect_async(self.cfg.host, self.cfg.port, keepalive=30, **self._session(c.user_data_get()))
            c.loop_start()

    def _session(self, userdata) -> dict:
        """MQTT v5 connect options: a persistent session is clean_start off plus a session expiry."""
        if self.cfg.protocol != "5":
            return {}
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY if userdata["persistent"] else 0
        return {"clean_start": not userdata["persistent"], "properties": props}

    def stop(self) -> None:
        for c in self._clients.values():
            c.disconnect()
            c.loop_stop()

    def _failed(self, role: str, why: str) -> None:
        """Remember why `role` is down; log it when the reason changes (paho retries with backoff)."""
        if self._errors.get(role) != why:
            self.log(f"prognos-edge: MQTT {role} {self.cfg.host}:{self.cfg.port}: {why}; retrying")
        self._errors[role] = why

    def _on_connect_fail(self, client, userdata):
        # paho calls this inside its `except OSError` around the connect, so the exception is at hand
        err = sys.exc_info()[1]
        if isinstance(err, ssl.SSLCertVerificationError):
            why = f"TLS: the broker's certificate is not trusted ({err.verify_message}; ca_file {self.cfg.ca_file!r})"
        elif isinstance(err, ssl.SSLError):
            why = f"TLS handshake failed ({err.reason or err})"
        else:
            why = f"cannot connect ({err.strerror or err})" if isinstance(err, OSError) else "cannot connect"
        self._failed(userdata["role"], why)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            user = f" (username {self.cfg.username!r})" if self.cfg.username else " (anonymous)"
            self._failed(userdata["role"], f"the broker refused the connection: {reason_code}{user}")
            return
        if userdata["role"] == "sub":  # healthy once the broker acknowledged the subscription (_on_subscribe)
            client.subscribe([(t, self.cfg.qos) for t in self.cfg.topics])
            return
        self._errors.pop(userdata["role"], None)
        userdata["connected"].set()
        self.log(f"prognos-edge: MQTT pub connected to {self.cfg.host}:{self.cfg.port}")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        """Messages published before the broker's SUBACK are not delivered to us, so /healthz waits for it."""
        refused = [t for t, rc in zip(self.cfg.topics, reason_codes) if rc.is_failure]
        if refused:
            self._failed("sub", f"the broker refused the subscription to {refused} (not authorized?)")
            return
        self._errors.pop("sub", None)
        userdata["connected"].set()
        self.log(
            f"prognos-edge: MQTT sub connected to {self.cfg.host}:{self.cfg.port}, subscribed to {self.cfg.topics}"
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if userdata["connected"].is_set():  # not after a refused attempt: _failed logged that once
            userdata["connected"].clear()
            self.log(f"prognos-edge: MQTT {userdata['role']} disconnected ({reason_code}); reconnecting")

    def _on_message(self, client, userdata, msg):
        self.queue.put(("mqtt", (msg.topic, msg.payload)))  # blocks when full: backpressure

    def publish(self, preds: list[dict], events: list[dict]) -> None:
        p, pub = self.cfg.prefix, self._clients["pub"]
        out = [
            (f"{p}/predictions/{str(o['unit'] if 'unit' in o else o['asset']).translate(_TOPIC_UNSAFE)}", o)
            for o in (preds if self.cfg.publish_predictions else [])
        ]
        out += [(f"{p}/alerts/{str(e['asset']).translate(_TOPIC_UNSAFE)}", e) for e in events]
        for topic, obj in out:
            if pub.publish(topic, json.dumps(obj), qos=self.cfg.qos).rc != 0:
                self.dropped += 1
