"""Run a collector in-process on a real HTTP server, for tests and local experiments.

Usage::

    with serve_in_thread(config) as running:
        requests.post(running.url + "/v1/ingest", data=gzip.compress(body), headers=...)
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import make_server

from .app import create_app
from .config import CollectorConfig
from .service import Collector


@dataclass
class RunningCollector:
    collector: Collector
    url: str


@contextmanager
def serve_in_thread(config: CollectorConfig, client: Any | None = None) -> Iterator[RunningCollector]:
    """Start a collector and a threaded werkzeug server on ``config.host:config.port``; stop both after."""
    collector = Collector(config, client)
    collector.start()
    server = make_server(config.host, config.port, create_app(collector), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="oam-collector-http", daemon=True)
    thread.start()
    try:
        yield RunningCollector(collector, f"http://{config.host}:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        collector.close()
