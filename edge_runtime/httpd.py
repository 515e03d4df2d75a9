"""Optional HTTP endpoint in a daemon thread (stdlib http.server): GET /healthz and GET /metrics.

/healthz answers 200 with a JSON body while the service loop is alive (a heartbeat within
`stale_seconds`) and every input is connected, else 503 with the reason; /metrics is the Prometheus
text format of `edge_runtime.metrics`. The handler reads the service's state under its lock.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    service = None  # set on the subclass made per server

    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            ok, body = self.service.health()
            self._send(200 if ok else 503, "application/json", json.dumps(body) + "\n")
        elif path == "/metrics":
            self._send(200, "text/plain; version=0.0.4; charset=utf-8", self.service.metrics_text())
        else:
            self._send(404, "text/plain", "not found; try /healthz or /metrics\n")

    def _send(self, code: int, ctype: str, text: str):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # quiet: scrapes every few seconds would flood the journal
        pass


def start_http(service, host: str, port: int) -> ThreadingHTTPServer:
    """Serve `service.health()` and `service.metrics_text()`; returns the server (call shutdown())."""
    handler = type("Handler", (_Handler,), {"service": service})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="prognos-http", daemon=True).start()
    return server
