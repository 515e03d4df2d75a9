"""MQTT input and output with paho-mqtt (the `[edge]` extra): subscribe to sensor topics, publish
predictions to <prefix>/predictions/<asset> and alert events to <prefix>/alerts/<asset>.

paho runs its network loop in its own thread and reconnects by itself. Received messages go into the
service's bounded queue with a blocking put, so when the model falls behind the network thread
waits and the broker buffers (QoS 1): nothing is dropped on the device. With a `client_id` the
session is persistent (clean_session off), so the broker also keeps QoS 1 messages while the service
restarts.
"""
from __future__ import annotations

import json
import threading

from edge_runtime.config import MqttConfig
from edge_runtime.errors import ConfigError

_TOPIC_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_"})


class MqttIO:
    def __init__(self, cfg: MqttConfig, queue, log, subscribe: bool = True):
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise ConfigError("MQTT input needs paho-mqtt: pip install 'prognos[edge]'") from None
        self.cfg, self.queue, self.log, self.subscribe = cfg, queue, log, subscribe
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cfg.client_id,
                                  clean_session=not cfg.client_id)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 30)

    def start(self) -> None:
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.log(f"prognos-edge: MQTT {self.cfg.host}:{self.cfg.port} refused the connection: {reason_code}")
            return
        if self.subscribe:
            client.subscribe([(t, self.cfg.qos) for t in self.cfg.topics])
        self.connected.set()
        self.log(f"prognos-edge: MQTT connected to {self.cfg.host}:{self.cfg.port}"
                 + (f", subscribed to {self.cfg.topics}" if self.subscribe else ""))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        self.log(f"prognos-edge: MQTT disconnected ({reason_code}); reconnecting")

    def _on_message(self, client, userdata, msg):
        self.queue.put(("mqtt", (msg.topic, msg.payload)))  # blocks when full: backpressure

    def publish(self, preds: list[dict], events: list[dict]) -> None:
        p = self.cfg.prefix
        if self.cfg.publish_predictions:
            for o in preds:
                self.client.publish(f"{p}/predictions/{str(o['unit']).translate(_TOPIC_UNSAFE)}",
                                    json.dumps(o), qos=self.cfg.qos)
        for e in events:
            self.client.publish(f"{p}/alerts/{str(e['asset']).translate(_TOPIC_UNSAFE)}", json.dumps(e),
                                qos=self.cfg.qos)
