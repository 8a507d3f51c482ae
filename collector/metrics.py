"""The collector's own metrics, in a registry of its own (one per app, so tests start from zero),
beside prometheus_client's process, platform and garbage collector collectors."""
from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from foundation.health import register_runtime_collectors


class CollectorMetrics:
    """Received, indexed, failed, dead-lettered and spooled documents, spool bytes, bulk latency."""

    def __init__(self) -> None:
        self.registry = register_runtime_collectors(CollectorRegistry(auto_describe=True))
        self.received = Counter("oam_collector_received_documents", "Documents received, by source",
                                ["source"], registry=self.registry)
        self.rejected = Counter("oam_collector_rejected_lines", "Input lines or events refused as malformed",
                                ["source"], registry=self.registry)
        self.indexed = Counter("oam_collector_indexed_documents",
                               "Documents Elasticsearch holds (created, or already there)", registry=self.registry)
        self.failed = Counter("oam_collector_failed_documents",
                              "Document deliveries that failed and will be retried or spooled", registry=self.registry)
        self.dead_lettered = Counter("oam_collector_dead_lettered_documents",
                                     "Documents Elasticsearch refused for good, kept in the dead-letter index",
                                     registry=self.registry)
        self.spooled = Counter("oam_collector_spooled_documents", "Documents written to the disk spool",
                               registry=self.registry)
        self.spool_full = Counter("oam_collector_spool_full_rejections", "Requests refused with 503: spool full",
                                  registry=self.registry)
        self.spool_bytes = Gauge("oam_collector_spool_bytes", "Bytes waiting in the disk spool", registry=self.registry)
        self.bulk_seconds = Histogram("oam_collector_bulk_seconds", "Latency of bulk requests to Elasticsearch",
                                      registry=self.registry,
                                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

    def watch_spool(self, size: Callable[[], int]) -> None:
        self.spool_bytes.set_function(size)
