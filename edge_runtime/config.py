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
        for name in ("bundle", "watch", "input", "predictions", "alerts"):
            value = getattr(cfg, name)
            if value and value not in ("-", "mqtt", "none") and not Path(value).is_absolute():
                setattr(cfg, name, str(base / value))
        return cfg

    @classmethod
    def load(cls, path) -> "ServiceConfig":
        cfg = cls.from_dict(load_toml(path), Path(path).parent)
        cfg.source = str(path)
        return cfg
