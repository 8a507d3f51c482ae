"""The agent's own HTTP endpoint (``metrics_port``): ``/metrics``, ``/health`` and ``/ready``, 404 elsewhere.

Usage::

    server = StatusServer("127.0.0.1", 9110, registry, agent.readiness)
    server.start()      # serves on a thread of its own
    ...
    server.stop()
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from foundation.health import Readiness, liveness

log = logging.getLogger("oam.agent")


class StatusServer:
    """Prometheus text on ``GET /metrics``, liveness on ``/health``, readiness (200/503) on ``/ready``."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, ready: Callable[[], Readiness]) -> None:
        handler = _handler(registry, ready)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="oam-agent-status", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _handler(registry: CollectorRegistry, ready: Callable[[], Readiness]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "oam-agent"

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/health":
                self._json(200, liveness())
            elif path == "/ready":
                report = ready()
                self._json(report.status_code, report.as_dict())
            else:
                self._json(404, {"error": f"no such endpoint: GET {path} (try /metrics, /health or /ready)"})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            log.debug("status endpoint: " + format, *args)

    return Handler
