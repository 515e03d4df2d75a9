"""MQTT input and output with paho-mqtt (the `[edge]` extra): subscribe to sensor topics, publish
predictions to <prefix>/predictions/<asset> and alert events to <prefix>/alerts/<asset>.

Two connections: the subscriber's network thread puts received messages into the service's bounded
queue with a blocking put, so when the model falls behind that thread waits and the broker buffers
(QoS 1): nothing is dropped on the device. Publishing goes through a second connection whose network
thread is never blocked that way; otherwise predictions would pile up in paho's outgoing queue while
the subscriber waits (seen: +30 MB in a burst). paho reconnects both by itself. With a `client_id`
the subscription is a persistent session (clean_session off): the broker also keeps QoS 1 messages
while the service restarts.
"""
from __future__ import annotations

import json
import threading

from prognos.edge_runtime.config import MqttConfig
from prognos.edge_runtime.errors import ConfigError

_TOPIC_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_"})
MAX_QUEUED = 10_000  # outgoing messages paho may hold; beyond that a publish is dropped (and counted)


class MqttIO:
    def __init__(self, cfg: MqttConfig, queue, log, subscribe: bool = True):
        try:
            import paho.mqtt.client  # noqa: F401
        except ImportError:
            raise ConfigError("MQTT needs paho-mqtt: pip install 'prognos[edge]'") from None
        self.cfg, self.queue, self.log, self.subscribe = cfg, queue, log, subscribe
        self.dropped = 0
        self._clients = {"pub": self._client("pub")}
        if subscribe:
            self._clients["sub"] = self._client("sub")
            self._clients["sub"].on_message = self._on_message

    def _client(self, role: str):
        import paho.mqtt.client as mqtt

        cid = f"{self.cfg.client_id}-{role}" if self.cfg.client_id else ""
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, clean_session=not (cid and role == "sub"))
        c.user_data_set({"role": role, "connected": threading.Event()})
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.reconnect_delay_set(1, 30)
        c.max_queued_messages_set(MAX_QUEUED)
        return c

    def connected(self) -> bool:
        return all(c.user_data_get()["connected"].is_set() for c in self._clients.values())

    def start(self) -> None:
        for c in self._clients.values():
            c.connect_async(self.cfg.host, self.cfg.port, keepalive=30)
            c.loop_start()

    def stop(self) -> None:
        for c in self._clients.values():
            c.disconnect()
            c.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.log(f"prognos-edge: MQTT {self.cfg.host}:{self.cfg.port} refused the connection: {reason_code}")
            return
        if userdata["role"] == "sub":
            client.subscribe([(t, self.cfg.qos) for t in self.cfg.topics])
        userdata["connected"].set()
        self.log(f"prognos-edge: MQTT {userdata['role']} connected to {self.cfg.host}:{self.cfg.port}"
                 + (f", subscribed to {self.cfg.topics}" if userdata["role"] == "sub" else ""))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        userdata["connected"].clear()
        self.log(f"prognos-edge: MQTT {userdata['role']} disconnected ({reason_code}); reconnecting")

    def _on_message(self, client, userdata, msg):
        self.queue.put(("mqtt", (msg.topic, msg.payload)))  # blocks when full: backpressure

    def publish(self, preds: list[dict], events: list[dict]) -> None:
        p, pub = self.cfg.prefix, self._clients["pub"]
        out = [(f"{p}/predictions/{str(o['unit'] if 'unit' in o else o['asset']).translate(_TOPIC_UNSAFE)}", o)
               for o in (preds if self.cfg.publish_predictions else [])]
        out += [(f"{p}/alerts/{str(e['asset']).translate(_TOPIC_UNSAFE)}", e) for e in events]
        for topic, obj in out:
            if pub.publish(topic, json.dumps(obj), qos=self.cfg.qos).rc != 0:
                self.dropped += 1
