"""Request count and latency histogram, counted cheaply on every request and exposed as usual.

prometheus_client's ``Counter`` and ``Histogram`` lock a value for each ``inc`` and walk the
buckets in Python for each ``observe``: several microseconds per request, on the request
thread. :class:`RequestMetrics` keeps one plain row per (route, method, status) — count,
sum and one count per bucket, the bucket found with a C bisect — under one lock, and builds
the usual ``http_requests_total`` and ``http_request_duration_seconds`` families only when
``/metrics`` is scraped.
"""
from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_COUNT, _SUM, _FIRST_BUCKET = 0, 1, 2


class RequestMetrics(Collector):
    """``http_requests_total{route,method,status}`` and ``http_request_duration_seconds{route,method}``."""

    def __init__(self, buckets: Sequence[float]) -> None:
        bounds = sorted(float(bound) for bound in buckets)
        if not bounds or any(a == b for a, b in zip(bounds, bounds[1:])):
            raise ValueError("histogram buckets must be distinct numbers")
        if bounds[-1] == float("inf"):
            bounds.pop()
        self._bounds = tuple(bounds)
        self._labels = [floatToGoString(bound) for bound in bounds] + ["+Inf"]
        self._rows: dict[tuple[str, str, int], list[float]] = {}
        self._lock = threading.Lock()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request that took ``seconds``."""
        bucket = _FIRST_BUCKET + bisect_left(self._bounds, seconds)  # first bound >= seconds, else +Inf
        key = (route, method, status)
        with self._lock:
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = [0] * (_FIRST_BUCKET + len(self._labels))
            row[_COUNT] += 1
            row[_SUM] += seconds
            row[bucket] += 1

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        with self._lock:
            rows = {key: list(row) for key, row in self._rows.items()}
        requests = CounterMetricFamily("http_requests", "HTTP requests handled", labels=["route", "method", "status"])
        by_route: dict[tuple[str, str], list[float]] = {}
        for (route, method, status), row in sorted(rows.items()):
            requests.add_metric([route, method, str(status)], row[_COUNT])
            total = by_route.setdefault((route, method), [0] * len(row))
            for index, value in enumerate(row):
                total[index] += value
        latency = HistogramMetricFamily("http_request_duration_seconds", "HTTP request latency",
                                        labels=["route", "method"])
        for (route, method), row in by_route.items():
            cumulative, buckets = 0.0, []
            for label, count in zip(self._labels, row[_FIRST_BUCKET:]):
                cumulative += count
                buckets.append((label, cumulative))
            latency.add_metric([route, method], buckets, sum_value=row[_SUM])
        yield requests
        yield latency

    def describe(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        yield CounterMetricFamily("http_requests", "HTTP requests handled", labels=["route", "method", "status"])
        yield HistogramMetricFamily("http_request_duration_seconds", "HTTP request latency", labels=["route", "method"])
