"""Device service configuration as small typed dataclasses; a TOML file and CLI flags only fill them.

Relative paths in a config file are relative to that file's folder, so a deployed release
(edge.toml next to bundle/) works wherever it is installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prognos.edge_runtime.alerts import Rule
from prognos.edge_runtime.configfile import fill, load_toml
from prognos.edge_runtime.errors import ConfigError
from prognos.edge_runtime.samples import SampleConfig
from prognos.edge_runtime.stream import StreamConfig


@dataclass
class MqttConfig:
    host: str = ""  # "" = no MQTT; else the broker to subscribe to and publish on
    port: int = 1883
    topics: list = field(default_factory=lambda: ["prognos/sensors/#"])  # JSON rows (object or list)
    prefix: str = "prognos"  # publishes <prefix>/predictions/<asset> and <prefix>/alerts/<asset>
    qos: int = 1  # at-least-once both ways; with a bounded queue the broker buffers when we lag
    client_id: str = ""
    publish_predictions: bool = True
    protocol: str | int = "3.1.1"  # "3.1.1" or 5 (MQTT v5: reason codes on refusals, session expiry)
    tls: bool = False  # TLS to the broker (usually port 8883)
    ca_file: str = ""  # the CA that signed the broker's certificate; "" = the system's CAs
    cert_file: str = ""  # optional client certificate (PEM) when the broker asks for one
    key_file: str = ""  # its private key; "" = in cert_file
    verify: bool = True  # check the broker's certificate and host name; false is logged as insecure
    username: str = ""
    password_file: str = ""  # a file holding the password (never the password itself: configs get shared)

    FILES = ("ca_file", "cert_file", "key_file", "password_file")  # paths, relative to the config file

    def __post_init__(self):
        self.protocol = str(self.protocol)
        if self.protocol not in ("3.1.1", "5"):
            raise ConfigError(f'config [mqtt]: protocol {self.protocol!r}; expected "3.1.1" or 5')
        tls_only = [k for k in ("ca_file", "cert_file", "key_file") if getattr(self, k)]
        if tls_only and not self.tls:
            raise ConfigError(f"config [mqtt]: {', '.join(tls_only)} set but tls = false; set tls = true")
        if self.password_file and not self.username:
            raise ConfigError("config [mqtt]: password_file set without a username")


@dataclass
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = no HTTP endpoint; else /healthz and /metrics on this port


@dataclass
class ServiceConfig:
    bundle: str = ""
    watch: str = ""  # a folder polled for new bundles (hot-swap); "" = only on SIGHUP
    poll_seconds: float = 2.0  # mtime poll interval of `watch`
    input: str = "-"  # "-" (stdin), a file, or "mqtt"
    predictions: str = "-"  # "-" (stdout), a file, or "none"
    alerts: str = "-"  # "-" (stdout), a file, or "none"; alert lines carry an "alert" key
    rul_alert: float | None = None  # overrides the bundle's alert rules with one "rul <= N" rule
    threads: int = 1
    log_rejected: int = 20  # rejected rows logged per reason per minute (the rest only counted)
    stream: StreamConfig = field(default_factory=StreamConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    samples: SampleConfig = field(default_factory=SampleConfig)  # raw sample input (vibration bundles)
    rules: list = field(default_factory=list)  # [[rules]] tables -> alerts.Rule; empty = the bundle's rules
    trusted_keys: list = field(default_factory=list)  # public key files (signing.pub); several for rotation.
    #   Set: every bundle (start, hot-swap) needs a valid signature of one of them (edge_runtime.signing)
    allow_unsigned: bool = False  # development only: accept unsigned bundles (logged loudly at each load)
    source: str = field(default="", metadata={"toml": False})  # the config file this came from; /healthz
    #   reports its real path

    @classmethod
    def from_dict(cls, d: dict, base: Path = Path(".")) -> "ServiceConfig":
        d = dict(d)
        rules = d.pop("rules", [])
        if not isinstance(rules, list):
            raise ConfigError(f"config: rules = {rules!r}; expected [[rules]] tables")
        cfg = fill(cls, d, "service")
        cfg.rules = [Rule.from_dict(r) for r in rules]
        _rebase(cfg, ("bundle", "watch", "input", "predictions", "alerts"), base)
        _rebase(cfg.mqtt, MqttConfig.FILES, base)
        cfg.trusted_keys = [str(base / k) for k in cfg.trusted_keys]  # an absolute path stays as it is
        return cfg

    def trust(self):
        """The `signing.Trust` of this config; None when it names no key and does not allow unsigned bundles."""
        if not self.trusted_keys and not self.allow_unsigned:
            return None
        from prognos.edge_runtime.signing import Trust

        return Trust.from_files(self.trusted_keys, self.allow_unsigned)

    @classmethod
    def load(cls, path) -> "ServiceConfig":
        cfg = cls.from_dict(load_toml(path), Path(path).parent)
        cfg.source = str(path)
        return cfg


def _rebase(obj, names, base: Path) -> None:
    """Make the relative paths among `names` relative to `base` (the config file's folder)."""
    for name in names:
        value = getattr(obj, name)
        if value and value not in ("-", "mqtt", "none") and not Path(value).is_absolute():
            setattr(obj, name, str(base / value))
