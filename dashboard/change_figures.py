"""A service's error rate, p95 latency and request rate in the window before a change and the window after it.

One search over ``<prefix>-transactions-*``: a ``date_range`` aggregation with the two windows
(``before`` ends where ``after`` starts, at the change), each with a failure ``filter`` and a
``percentiles`` aggregation; for a deploy also split by ``service.version``. Usage::

    body = figures_query("backend", at, by_version=True)
    figures = shape_figures(es.search(index=..., **body), by_version=True)
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

WINDOW = timedelta(minutes=15)
"""How long before and after the change the figures are taken over."""
VERSIONS = 10
SIDES = ("before", "after")


def _figures_aggs() -> dict[str, Any]:
    return {"failures": {"filter": {"term": {"event.outcome": "failure"}}},
            "latency": {"percentiles": {"field": "event.duration", "percents": [95]}}}


def figures_query(service: str, at: datetime, *, by_version: bool, window: timedelta = WINDOW) -> dict[str, Any]:
    """The search body: the service's transactions from ``at - window`` to ``at + window``, in two windows."""
    start, end = (at - window).isoformat(), (at + window).isoformat()
    sides = {**_figures_aggs()}
    if by_version:
        sides["versions"] = {"terms": {"field": "service.version", "size": VERSIONS, "order": {"_key": "asc"}},
                             "aggs": _figures_aggs()}
    return {"size": 0, "query": {"bool": {"filter": [{"term": {"service.name": service}},
                                                     {"range": {"@timestamp": {"gte": start, "lt": end}}}]}},
            "aggs": {"windows": {"date_range": {"field": "@timestamp", "keyed": True, "ranges": [
                {"key": "before", "from": start, "to": at.isoformat()},
                {"key": "after", "from": at.isoformat(), "to": end}]}, "aggs": sides}}}


def figures(bucket: dict[str, Any], window: timedelta = WINDOW) -> dict[str, Any]:
    """Requests, request rate (req/s), error rate (0..1) and p95 (ms) of one bucket; rates are None without requests."""
    count = bucket["doc_count"]
    p95 = bucket["latency"]["values"].get("95.0")
    return {"requests": count, "requests_per_s": round(count / window.total_seconds(), 4),
            "error_rate": round(bucket["failures"]["doc_count"] / count, 4) if count else None,
            "p95_ms": round(p95 / 1e6, 3) if count and p95 is not None else None}


def shape_figures(response: dict[str, Any], *, by_version: bool, window: timedelta = WINDOW) -> dict[str, Any]:
    """``{"window_minutes", "before", "after"[, "versions": [{"version", "before", "after"}]]}``."""
    buckets = response.get("aggregations", {}).get("windows", {}).get("buckets", {})
    empty = {"doc_count": 0, "failures": {"doc_count": 0}, "latency": {"values": {}}}
    out: dict[str, Any] = {"window_minutes": window.total_seconds() / 60,
                           **{side: figures(buckets.get(side, empty), window) for side in SIDES}}
    if by_version:
        per_version: dict[str, dict[str, Any]] = {}
        for side in SIDES:
            for bucket in buckets.get(side, {}).get("versions", {}).get("buckets", []):
                per_version.setdefault(str(bucket["key"]), {})[side] = figures(bucket, window)
        out["versions"] = [{"version": version, **{side: sides.get(side, figures(empty, window)) for side in SIDES}}
                           for version, sides in sorted(per_version.items())]
    return out
