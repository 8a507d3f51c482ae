"""The app's connections to Elasticsearch and the CMDB, made on first use and closed with the app."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from elasticsearch import Elasticsearch

from cmdb import Cmdb
from foundation.elasticsearch import connect

from .config import DashboardConfig
from .safe_json import es_serializers


class Connections:
    """One Elasticsearch client and one CMDB session for the app; writes run as the acting user."""

    def __init__(self, config: DashboardConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._es: Elasticsearch | None = None
        self._cmdb: Cmdb | None = None

    @property
    def es(self) -> Elasticsearch:
        with self._lock:
            if self._es is None:
                self._es = connect(self.config.elasticsearch, request_timeout=self.config.request_timeout,
                                   max_retries=3, retry_on_timeout=True, serializers=es_serializers())
            return self._es

    @property
    def cmdb(self) -> Cmdb:
        with self._lock:
            if self._cmdb is None:
                self._cmdb = Cmdb(self.config.zookeeper, user=self.config.cmdb_user,
                                  password=self.config.cmdb_password, root=self.config.cmdb_root,
                                  actor="dashboard")
            return self._cmdb

    @contextmanager
    def acting_as(self, user: str) -> Iterator[Cmdb]:
        """The CMDB with its change records attributed to ``user`` (one write at a time)."""
        cmdb = self.cmdb
        with self._write_lock:
            before = cmdb.actor
            cmdb.actor = user
            try:
                yield cmdb
            finally:
                cmdb.actor = before

    def close(self) -> None:
        with self._lock:
            if self._cmdb is not None:
                self._cmdb.close()
                self._cmdb = None
            if self._es is not None:
                self._es.close()
                self._es = None

    def health(self) -> dict[str, Any]:
        """Elasticsearch and ZooKeeper as the dashboard sees them."""
        out: dict[str, Any] = {}
        try:
            health = self.es.cluster.health(timeout="2s")
            out["elasticsearch"] = {"ok": health["status"] in ("green", "yellow"), "detail": health["status"]}
        except Exception as exc:  # noqa: BLE001 - any failure is shown on the overview, never a 500
            out["elasticsearch"] = {"ok": False, "detail": type(exc).__name__}
        try:
            state = self.cmdb.client.state
            out["zookeeper"] = {"ok": state == "CONNECTED", "detail": state}
        except Exception as exc:  # noqa: BLE001 - as for Elasticsearch above
            out["zookeeper"] = {"ok": False, "detail": type(exc).__name__}
        for url in self.config.collectors:
            out[f"collector {url}"] = collector_health(url)
        return out


def collector_health(url: str) -> dict[str, Any]:
    """A collector's ``/health`` answer, in one second at most."""
    try:
        answer = requests.get(url.rstrip("/") + "/health", timeout=1.0)
    except requests.RequestException as exc:
        return {"ok": False, "detail": type(exc).__name__}
    return {"ok": answer.status_code == 200, "detail": f"HTTP {answer.status_code}"}
