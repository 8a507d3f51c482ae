"""Cache-aside over Redis: read through, fill on miss with the live TTL, invalidate on write."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from agents.app.metrics import AppMetrics
from telemetry.context import span


class OrderCache:
    """``order:<id>`` keys in Redis; the TTL is read on every fill, so a new TTL applies at once."""

    def __init__(self, redis: Any, ttl_seconds: Callable[[], float], metrics: AppMetrics) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self.metrics = metrics

    @staticmethod
    def key(order_id: str) -> str:
        return f"order:{order_id}"

    @contextmanager
    def _operation(self, name: str) -> Iterator[trace.Span]:
        with span(f"redis {name}", kind=SpanKind.CLIENT, attributes={"span.type": "cache"}):
            yield trace.get_current_span()

    def get_or_load(self, order_id: str, load: Callable[[str], dict[str, Any] | None]) -> tuple[dict | None, bool]:
        """(order, hit?) — on a miss the order is loaded and cached with the current TTL."""
        with self._operation("GET") as current:
            cached = self.redis.get(self.key(order_id))
            current.set_attribute("labels.cache_hit", cached is not None)
        if cached is not None:
            self.metrics.cache.labels("hit").inc()
            return json.loads(cached), True
        self.metrics.cache.labels("miss").inc()
        order = load(order_id)
        if order is not None:
            ttl = max(0.001, float(self.ttl_seconds()))
            with self._operation("SET"):
                self.redis.set(self.key(order_id), json.dumps(order), px=int(ttl * 1000))
        return order, False

    def invalidate(self, order_id: str) -> None:
        with self._operation("DEL"):
            self.redis.delete(self.key(order_id))
