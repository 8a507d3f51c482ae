"""The service map: services as nodes, calls between them as edges, from one search of aggregations.

A call is a transaction whose ``service.origin.name`` names the service that made it: an HTTP
request from another service, or a job that one queued. The caller tells its name in the W3C
``tracestate`` and the collector stores it on the callee's transaction (see
:mod:`telemetry.origin`), so no spans are joined: a composite aggregation on
``(service.origin.name, service.name)`` gives the edges, a terms aggregation on ``service.name``
the nodes, each bucket with its failures (``event.outcome: failure``) and the p95 of
``event.duration`` (the called transaction's, the job's for a queue). At most :data:`MAX_EDGES`
edges and :data:`MAX_NODES` nodes; ``truncated`` says when a cap was hit.

:func:`shape` and :func:`layout` are pure: the answer of Elasticsearch in, the map out.
"""
from __future__ import annotations

from typing import Any

from telemetry.templates import index_pattern

from .timerange import TimeRange

MAX_EDGES = 500
MAX_NODES = 200
SEARCH_OPTIONS = {"ignore_unavailable": True, "allow_no_indices": True}
_STATS = {"failed": {"filter": {"term": {"event.outcome": "failure"}}},
          "duration": {"percentiles": {"field": "event.duration", "percents": [95]}}}
# the drawing: columns by call depth, one row per service in a column
COLUMN, ROW, MARGIN, NODE_WIDTH, NODE_HEIGHT = 380, 120, 30, 150, 56


def aggregations() -> dict[str, Any]:
    """Nodes (every service with a transaction) and edges (caller, callee) with their statistics."""
    return {"nodes": {"terms": {"field": "service.name", "size": MAX_NODES, "order": {"_key": "asc"}},
                      "aggs": _STATS},
            "edges": {"composite": {"size": MAX_EDGES, "sources": [
                {"caller": {"terms": {"field": "service.origin.name"}}},
                {"callee": {"terms": {"field": "service.name"}}}]}, "aggs": _STATS}}


def _stats(bucket: dict[str, Any], seconds: float) -> dict[str, Any]:
    count = bucket.get("doc_count", 0)
    failed = bucket.get("failed", {}).get("doc_count", 0)
    values = bucket.get("duration", {}).get("values") or {}
    p95 = next(iter(values.values()), None) if values else None
    return {"count": count, "rate_per_s": round(count / seconds, 6) if seconds > 0 else 0.0, "failed": failed,
            "error_rate": round(failed / count, 4) if count else 0.0,
            "p95_ms": round(p95 / 1e6, 3) if p95 is not None else None}


def shape(response: Any, time_range: TimeRange) -> dict[str, Any]:
    """``{"nodes": [...], "edges": [...], "truncated", "from", "to", "seconds"}`` from the search's answer.

    An edge is ``{"caller", "callee", "count", "rate_per_s", "failed", "error_rate", "p95_ms"}``;
    a node ``{"name", ...the same statistics of all its transactions}``; a caller seen only as a
    caller is a node without transactions. Both sorted by name."""
    seconds = max((time_range.end - time_range.start).total_seconds(), 0.0)
    aggs = (response or {}).get("aggregations", {})
    edge_agg, node_agg = aggs.get("edges", {}), aggs.get("nodes", {})
    edge_buckets = edge_agg.get("buckets", [])
    edges = [{"caller": b["key"]["caller"], "callee": b["key"]["callee"], **_stats(b, seconds)} for b in edge_buckets]
    edges.sort(key=lambda e: (e["caller"], e["callee"]))
    nodes = {b["key"]: {"name": b["key"], **_stats(b, seconds)} for b in node_agg.get("buckets", [])}
    for edge in edges:
        for name in (edge["caller"], edge["callee"]):
            nodes.setdefault(name, {"name": name, **_stats({}, seconds)})
    truncated = len(edge_buckets) >= MAX_EDGES or node_agg.get("sum_other_doc_count", 0) > 0
    return {"from": time_range.start.isoformat(), "to": time_range.end.isoformat(), "seconds": seconds,
            "nodes": [nodes[name] for name in sorted(nodes)], "edges": edges, "truncated": truncated}


def depths(names: list[str], edges: list[dict[str, Any]]) -> dict[str, int]:
    """Each service's column: the longest chain of calls leading to it (a service nobody calls is 0).

    Calls around a loop stop adding after as many rounds as there are services."""
    depth = dict.fromkeys(names, 0)
    calls = [(e["caller"], e["callee"]) for e in edges if e["caller"] != e["callee"]]
    for _ in range(len(names)):
        changed = False
        for caller, callee in calls:
            if depth[caller] + 1 > depth[callee] and depth[caller] + 1 < len(names):
                depth[callee], changed = depth[caller] + 1, True
        if not changed:
            break
    return depth


def layout(service_map: dict[str, Any]) -> dict[str, Any]:
    """Where to draw: ``{"width", "height", "nodes": {name: (x, y)}, "edges": [(edge, path, label_x, label_y)]}``.

    ``(x, y)`` is a node's top-left corner; an edge goes from the caller's right side to the
    callee's left side (a curve when it does not go rightwards)."""
    names = [n["name"] for n in service_map["nodes"]]
    depth = depths(names, service_map["edges"])
    rows: dict[int, int] = {}
    where: dict[str, tuple[int, int]] = {}
    for name in sorted(names, key=lambda n: (depth[n], n)):
        row = rows.get(depth[name], 0)
        rows[depth[name]] = row + 1
        where[name] = (MARGIN + depth[name] * COLUMN, MARGIN + row * ROW)
    drawn = []
    for edge in service_map["edges"]:
        (x1, y1), (x2, y2) = where[edge["caller"]], where[edge["callee"]]
        start, end = (x1 + NODE_WIDTH, y1 + NODE_HEIGHT // 2), (x2, y2 + NODE_HEIGHT // 2)
        if x2 > x1:
            path = f"M{start[0]},{start[1]} L{end[0]},{end[1]}"
            label = ((start[0] + end[0]) // 2, (start[1] + end[1]) // 2 - 8)
        else:  # a call back or within a column: loop below the nodes
            bend = max(y1, y2) + NODE_HEIGHT + 40
            path = f"M{start[0]},{start[1]} C{start[0] + 80},{bend} {end[0] - 80},{bend} {end[0]},{end[1]}"
            label = ((start[0] + end[0]) // 2, bend - 10)
        drawn.append((edge, path, label[0], label[1]))
    width = MARGIN * 2 + max([x for x, _ in where.values()], default=0) + NODE_WIDTH
    height = MARGIN * 2 + max([y for _, y in where.values()], default=0) + NODE_HEIGHT + 60
    return {"width": width, "height": height, "nodes": where, "edges": drawn}


def service_map(es: Any, prefix: str, time_range: TimeRange) -> dict[str, Any]:
    """The map of the calls between services in ``time_range`` (one search, aggregations only)."""
    response = es.search(index=index_pattern("transactions", prefix), size=0, track_total_hits=False,
                         query={"bool": {"filter": [time_range.query()]}}, aggs=aggregations(), **SEARCH_OPTIONS)
    return shape(response, time_range)
