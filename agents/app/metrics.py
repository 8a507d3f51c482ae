"""The Prometheus metrics an instrumented service exposes on ``/metrics``: its requests, cache, shards
and jobs, and prometheus_client's process (``process_*``) and platform (``python_*``) collectors."""
from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from foundation.health import register_runtime_collectors

from .request_metrics import RequestMetrics

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class AppMetrics:
    """One registry per service instance, so tests and several apps in one process stay apart."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = register_runtime_collectors(registry or CollectorRegistry())
        r = self.registry
        self.requests = RequestMetrics(LATENCY_BUCKETS)  # http_requests_total, http_request_duration_seconds
        r.register(self.requests)
        self.observe_request = self.requests.observe  # (route, method, status, seconds): one handled request
        self.in_flight = Gauge("http_requests_in_flight", "HTTP requests being handled", registry=r)
        self._in_flight: list[None] = []  # one item per request in progress (append/pop are atomic)
        self.in_flight.set_function(lambda: len(self._in_flight))
        # request_started(None)/request_finished(): the list's own methods (no Python frame per request);
        # the instrumentation calls request_finished only for a request it saw start
        self.request_started: Callable[[None], None] = self._in_flight.append
        self.request_finished: Callable[[], object] = self._in_flight.pop
        self.cache = Counter("cache_requests", "Cache lookups by result", ["result"], registry=r)
        self.shard_ops = Counter("shard_operations", "Operations per shard", ["shard", "operation"], registry=r)
        self.shard_records = Gauge("shard_records", "Records stored per shard", ["shard"], registry=r)
        self.queue_depth = Gauge("queue_depth", "Jobs waiting per queue", ["queue"], registry=r)
        self.job_latency = Histogram("job_duration_seconds", "Job run time", ["job", "outcome"],
                                     buckets=LATENCY_BUCKETS, registry=r)

    def exposition(self) -> tuple[bytes, str]:
        """The text to serve on ``/metrics`` and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
