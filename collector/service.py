"""The collector's running parts: Elasticsearch client, tokens, spool, sink, metrics, retention.

Usage::

    collector = Collector(load_config(path))
    collector.start()          # checks Elasticsearch, installs templates, starts the replay thread
    ...
    collector.close()

Wrong Elasticsearch credentials stop :meth:`Collector.start` with :class:`StartupError` (one clear
line); an Elasticsearch that is merely down does not: documents are spooled until it is back.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, AuthenticationException, AuthorizationException, Elasticsearch

from foundation import elasticsearch
from foundation.health import Readiness, limit_check, readiness

from .auth import TokenStore
from .config import CollectorConfig
from .indices import apply_retention
from .metrics import CollectorMetrics
from .sink import Sink, TemplateGate
from .spool import SUFFIX, Spool, SpoolLocked
from .workers import spool_dirs, worker_spool

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The collector cannot run with this configuration (bad credentials, spool in use...)."""


def connect(config: CollectorConfig) -> Elasticsearch:
    """The client documents are written with (``[elasticsearch]``)."""
    return elasticsearch.connect(config.elasticsearch)


def connect_retention(config: CollectorConfig) -> Elasticsearch | None:
    """The client expired indices are deleted with (``[retention_elasticsearch]``); None: the writer's."""
    return elasticsearch.connect(config.retention_elasticsearch) if config.retention_elasticsearch else None


def check_elasticsearch(client: Any, config: CollectorConfig) -> bool:
    """True if Elasticsearch answers; False if it cannot be reached; StartupError if it refuses us."""
    where = config.elasticsearch.describe()
    try:
        client.cluster.health(timeout="5s")
    except AuthenticationException:
        raise StartupError(f"Elasticsearch at {where} rejected the credentials (401): "
                           "check elasticsearch.username/password or api_key") from None
    except AuthorizationException as exc:
        raise StartupError(f"Elasticsearch at {where} denied access (403): {exc.message}") from None
    except ApiError as exc:
        log.warning("Elasticsearch at %s answered %s at start; spooling until it recovers", where, exc.status_code)
        return False
    except TransportError as exc:
        log.warning("Elasticsearch at %s unreachable at start (%s); spooling until it is back", where, exc)
        return False
    return True


class Collector:
    """``worker``: which of the collector's processes this is (its spool: :func:`collector.workers.worker_spool`)."""

    def __init__(self, config: CollectorConfig, client: Any | None = None, worker: int = 0) -> None:
        self.config = config
        self.worker = worker
        self.client = client if client is not None else connect(config)
        self.retention_client = (connect_retention(config) if client is None else None) or self.client
        self.tokens = TokenStore(config.tokens_file)
        self.metrics = CollectorMetrics()
        try:
            self.spool = Spool(worker_spool(config.spool_dir, worker), config.spool_max_bytes)
        except SpoolLocked as exc:
            raise StartupError(str(exc)) from None
        self.metrics.watch_spool(lambda: self.spool.bytes)
        self.templates = TemplateGate(self.client, config.index_prefix, config.index_replicas)
        self.sink = Sink(self.client, self.spool, self.metrics, chunk_size=config.bulk_chunk_size,
                         item_retries=config.item_retries, retry_backoff=config.retry_backoff_seconds,
                         prefix=config.index_prefix, templates=self.templates)
        self._stop = threading.Event()
        self._retention: threading.Thread | None = None
        self.elasticsearch_ready = False

    def start(self) -> None:
        if check_elasticsearch(self.client, self.config):
            try:
                self.templates.ensure()
                self.elasticsearch_ready = True
            except AuthorizationException as exc:
                raise StartupError(f"cannot install index templates on {self.config.elasticsearch.describe()}: "
                                   f"{exc.message}") from None
            except (ApiError, TransportError) as exc:
                log.warning("index templates not installed yet (%s); retrying before the first write", exc)
        self.sink.start_replay()
        self._retention = threading.Thread(target=self._retention_loop, name="oam-retention", daemon=True)
        self._retention.start()

    def _retention_loop(self) -> None:
        while not self._stop.is_set():
            try:
                deleted = apply_retention(self.retention_client, self.config.retention_days, self.config.index_prefix)
                if deleted:
                    log.info("retention deleted %s", ", ".join(deleted))
            except Exception as exc:  # noqa: BLE001 - retry at the next interval
                log.warning("retention run failed: %s", exc)
            self._stop.wait(self.config.retention_interval_seconds)

    def readiness(self) -> Readiness:
        """Ready while Elasticsearch answers and this worker's spool has room (below 90% of its bound)."""
        return readiness({"elasticsearch": lambda: elasticsearch.reachable(self.client),
                          "spool": lambda: limit_check(self.spool.bytes, self.spool.max_bytes, "spool")})

    def spooled_segments(self) -> int:
        """Segments waiting in the spools of all the collector's workers (this one's counted live)."""
        others = sum(len(list(directory.glob(f"*{SUFFIX}"))) for directory in spool_dirs(self.config.spool_dir)
                     if directory != self.spool.directory)
        return len(self.spool) + others

    def close(self) -> None:
        self._stop.set()
        self.sink.stop()
        if self._retention is not None:
            self._retention.join(timeout=10)
        self.spool.close()
        if self.retention_client is not self.client:
            self.retention_client.close()
