"""RequestMetrics exposes what prometheus_client's own Counter and Histogram would, for the same requests."""
from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from agents.app.metrics import LATENCY_BUCKETS
from agents.app.request_metrics import RequestMetrics

REQUESTS = [("/orders/<order_id>", "GET", 200, 0.0004), ("/orders/<order_id>", "GET", 200, 0.001),
            ("/orders/<order_id>", "GET", 404, 0.0031), ("/orders/<order_id>", "PUT", 201, 0.02),
            ("/slow", "GET", 200, 0.5), ("/slow", "GET", 500, 12.0), ("/orders/<order_id>", "GET", 200, 10.0)]


def _samples(registry: CollectorRegistry) -> set[tuple[str, tuple, float]]:
    return {(sample.name, tuple(sorted(sample.labels.items())), round(sample.value, 9))
            for family in registry.collect() for sample in family.samples if not sample.name.endswith("_created")}


def test_same_samples_as_prometheus_client_counter_and_histogram() -> None:
    ours, reference = CollectorRegistry(), CollectorRegistry()
    metrics = RequestMetrics(LATENCY_BUCKETS)
    ours.register(metrics)
    counter = Counter("http_requests", "HTTP requests handled", ["route", "method", "status"], registry=reference)
    histogram = Histogram("http_request_duration_seconds", "HTTP request latency", ["route", "method"],
                          buckets=LATENCY_BUCKETS, registry=reference)
    for route, method, status, seconds in REQUESTS:
        metrics.observe(route, method, status, seconds)
        counter.labels(route, method, str(status)).inc()
        histogram.labels(route, method).observe(seconds)
    assert _samples(ours) == _samples(reference)
    text = generate_latest(ours).decode()
    assert 'http_requests_total{method="GET",route="/orders/<order_id>",status="200"} 3.0' in text
    assert 'http_request_duration_seconds_bucket{le="0.001",method="GET",route="/orders/<order_id>"} 2.0' in text
    assert "# TYPE http_request_duration_seconds histogram" in text


def test_no_request_lost_between_threads() -> None:
    metrics = RequestMetrics(LATENCY_BUCKETS)

    def hammer() -> None:
        for _ in range(20_000):
            metrics.observe("/r", "GET", 200, 0.002)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = {sample.name: sample.value for family in metrics.collect() for sample in family.samples
              if not sample.labels.get("le") or sample.labels["le"] == "+Inf"}
    assert counts["http_requests_total"] == 80_000
    assert counts["http_request_duration_seconds_count"] == 80_000


def test_buckets_must_be_distinct() -> None:
    with pytest.raises(ValueError):
        RequestMetrics([0.1, 0.1])
