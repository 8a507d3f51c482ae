"""Trace search with Elasticsearch aggregations, bounded in cost and deterministic.

A search runs in up to four steps, each one aggregation on ``trace.id`` (no raw documents, no
scripts: the suite's Elasticsearch may run without Painless):

1. *Conditions on other documents* — words in a log line, an error group, ``labels.*`` on a
   transaction or span — each give the ids of the traces that have such a document in the range.
2. *Candidates*: traces with a transaction in the range matching the transaction filters
   (service, operation, outcome, HTTP status, host, version, a transaction's duration), and the
   ids of step 1 if any; the newest (or longest-running) :data:`MAX_CANDIDATES` at most.
3. *Whole traces*: per candidate, its first ``@timestamp`` and, per transaction (the
   :data:`MAX_HOPS` that started last), start and ``event.duration``; the trace ends when its last
   transaction ends (a span ends inside its transaction), so its duration includes the queued job
   that ran after the response. Bounds on the trace's duration are applied to these figures.
4. *Details* of the ``limit`` traces kept: root operation, services, transaction, span and
   error counts.

Order is newest first (trace start descending) or slowest first (trace duration descending),
ties broken by ``trace.id``, so the same query over the same data gives the same traces. When
step 1 or 2 hit their cap the answer says ``truncated``: older candidates were not considered.
"""
from __future__ import annotations

from typing import Any

from telemetry.templates import index_pattern

from .trace_query import TraceQuery

SEARCH_OPTIONS = {"ignore_unavailable": True, "allow_no_indices": True}
MAX_CANDIDATES = 2_000
MAX_HOPS = 20
"""Transactions per trace looked at for its end; buckets stay under Elasticsearch's search.max_buckets."""


def _ids_filter(ids: list[str] | None) -> list[dict[str, Any]]:
    return [] if ids is None else [{"terms": {"trace.id": ids}}]


def _duration_range(query: TraceQuery) -> dict[str, Any] | None:
    bounds = {}
    if query.min_ms is not None:
        bounds["gte"] = int(query.min_ms * 1_000_000)
    if query.max_ms is not None:
        bounds["lte"] = int(query.max_ms * 1_000_000)
    return {"range": {"event.duration": bounds}} if bounds else None


def transaction_filters(query: TraceQuery) -> list[dict[str, Any]]:
    """Step 2's conditions on one transaction (the time range included)."""
    filters: list[dict[str, Any]] = [query.time_range.query()]
    filters += [{"term": {name: value}} for name, value in sorted(query.terms.items())]
    if query.status is not None:
        filters.append({"term": {"http.response.status_code": query.status}})
    duration = _duration_range(query) if query.duration_of == "transaction" else None
    if duration:
        filters.append(duration)
    return filters


def document_conditions(query: TraceQuery, prefix: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """Step 1: ``(indices, filters)`` per condition on documents other than the matching transaction."""
    conditions = []
    within = query.time_range.query()
    if query.text:
        conditions.append((index_pattern("logs", prefix),
                           [within, {"match": {"message": {"query": query.text, "operator": "and"}}}]))
    if query.error_group:
        conditions.append((index_pattern("errors", prefix),
                           [within, {"term": {"error.grouping_key": query.error_group}}]))
    if query.labels:
        indices = ",".join(index_pattern(kind, prefix) for kind in ("transactions", "spans"))
        labels = [{"term": {f"labels.{name}": value}} for name, value in sorted(query.labels.items())]
        conditions.append((indices, [within, *labels]))
    return conditions


def ids_aggregation(cap: int, by: str = "newest") -> dict[str, Any]:
    """Trace ids, newest (latest document) or longest-running (longest document) first, then by id.

    Ordering terms by a descending ``max`` is exact across shards."""
    order_field = {"newest": "@timestamp", "slowest": "event.duration"}[by]
    return {"traces": {"terms": {"field": "trace.id", "size": cap, "order": [{"latest": "desc"}, {"_key": "asc"}]},
                       "aggs": {"latest": {"max": {"field": order_field}}}}}


def whole_trace_aggregation(count: int) -> dict[str, Any]:
    """Step 3: per trace its start, and start and duration of its last-started transactions."""
    hop = {"terms": {"field": "transaction.id", "size": MAX_HOPS, "order": [{"at": "desc"}, {"_key": "asc"}]},
           "aggs": {"at": {"max": {"field": "@timestamp"}}, "took": {"max": {"field": "event.duration"}}}}
    return {"traces": {"terms": {"field": "trace.id", "size": max(count, 1)},
                       "aggs": {"start": {"min": {"field": "@timestamp"}}, "hops": hop}}}


def whole_trace(bucket: dict[str, Any]) -> dict[str, Any] | None:
    """``{"trace_id", "start", "start_ms", "duration_ms"}`` from a step-3 bucket (None without a start)."""
    start = bucket["start"].get("value")
    if start is None:
        return None
    ends = [hop["at"]["value"] + (hop["took"].get("value") or 0) / 1e6
            for hop in bucket["hops"]["buckets"] if hop["at"].get("value") is not None]
    return {"trace_id": bucket["key"], "start": bucket["start"].get("value_as_string"), "start_ms": start,
            "duration_ms": round(max([start, *ends]) - start, 3)}


def within(query: TraceQuery, trace: dict[str, Any]) -> bool:
    """Whether the trace's whole duration is within the bounds, when the bounds are of the trace."""
    if query.duration_of != "trace":
        return True
    return ((query.min_ms is None or trace["duration_ms"] >= query.min_ms)
            and (query.max_ms is None or trace["duration_ms"] <= query.max_ms))


def details_aggregation(prefix: str, count: int) -> dict[str, Any]:
    """Step 4: what the result rows show besides start and duration."""
    def kind(name: str) -> dict[str, Any]:
        return {"prefix": {"_index": f"{prefix}-{name}-"}}

    return {"traces": {"terms": {"field": "trace.id", "size": max(count, 1)}, "aggs": {
        "services": {"terms": {"field": "service.name", "size": 50, "order": {"_key": "asc"}}},
        "spans": {"filter": kind("spans")},
        "errors": {"filter": kind("errors")},
        "transactions": {"filter": kind("transactions"), "aggs": {
            "failed": {"filter": {"term": {"event.outcome": "failure"}}},
            "longest": {"max": {"field": "event.duration"}},
            "root": {"top_hits": {"size": 1, "sort": [{"@timestamp": "asc"}, {"transaction.id": "asc"}],
                                  "_source": ["transaction.name", "service.name", "event.outcome",
                                              "http.response.status_code"]}}}}}}}


def order_rows(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """Newest start first, or longest duration first; ties by trace id."""
    if sort == "slowest":
        return sorted(rows, key=lambda r: (-r["duration_ms"], r["trace_id"]))
    return sorted(rows, key=lambda r: (-r["start_ms"], r["trace_id"]))


def _buckets(response: Any) -> tuple[list[dict[str, Any]], bool]:
    traces = response.get("aggregations", {}).get("traces", {})
    return traces.get("buckets", []), traces.get("sum_other_doc_count", 0) > 0


def _trace_ids(es: Any, indices: str, filters: list[dict[str, Any]], by: str = "newest") -> tuple[list[str], bool]:
    response = es.search(index=indices, size=0, query={"bool": {"filter": filters}},
                         aggs=ids_aggregation(MAX_CANDIDATES, by), **SEARCH_OPTIONS)
    buckets, truncated = _buckets(response)
    return [b["key"] for b in buckets], truncated


def _intersect(ids: list[str] | None, more: list[str]) -> list[str]:
    if ids is None:
        return more
    keep = set(more)
    return [i for i in ids if i in keep]


def _row(trace: dict[str, Any], detail: dict[str, Any] | None) -> dict[str, Any]:
    row = dict(trace)
    detail = detail or {}
    transactions = detail.get("transactions", {})
    hits = transactions.get("root", {}).get("hits", {}).get("hits", [])
    root = hits[0]["_source"] if hits else {}
    longest = transactions.get("longest", {}).get("value")
    failed = transactions.get("failed", {}).get("doc_count", 0)
    errors = detail.get("errors", {}).get("doc_count", 0)
    row.update({
        "root": {"service": (root.get("service") or {}).get("name"),
                 "operation": (root.get("transaction") or {}).get("name")},
        "services": [b["key"] for b in detail.get("services", {}).get("buckets", [])],
        "transactions": transactions.get("doc_count", 0), "spans": detail.get("spans", {}).get("doc_count", 0),
        "errors": errors, "failed_transactions": failed,
        "longest_transaction_ms": round(longest / 1e6, 3) if longest is not None else None,
        "outcome": "failure" if failed or errors else "success"})
    return row


def search_traces(es: Any, prefix: str, query: TraceQuery) -> dict[str, Any]:
    """The traces matching ``query``: ``{"traces": [row, ...], "candidates", "truncated", "query"}``."""
    answer: dict[str, Any] = {"traces": [], "candidates": 0, "truncated": False, "query": query.describe()}
    ids: list[str] | None = None
    for indices, filters in document_conditions(query, prefix):
        found, truncated = _trace_ids(es, indices, filters)
        answer["truncated"] |= truncated
        ids = _intersect(ids, found)
        if not ids:
            return answer
    by = "slowest" if query.sort == "slowest" else "newest"
    candidates, truncated = _trace_ids(es, index_pattern("transactions", prefix),
                                       transaction_filters(query) + _ids_filter(ids), by)
    answer.update(candidates=len(candidates), truncated=answer["truncated"] or truncated)
    if not candidates:
        return answer
    response = es.search(index=index_pattern("transactions", prefix), size=0,
                         query={"bool": {"filter": _ids_filter(candidates)}},
                         aggs=whole_trace_aggregation(len(candidates)), **SEARCH_OPTIONS)
    traces = [trace for trace in map(whole_trace, _buckets(response)[0]) if trace and within(query, trace)]
    kept = order_rows(traces, query.sort)[:query.limit]
    if not kept:
        return answer
    shown = [r["trace_id"] for r in kept]
    everything = ",".join(index_pattern(kind, prefix) for kind in ("transactions", "spans", "errors"))
    response = es.search(index=everything, size=0, query={"bool": {"filter": _ids_filter(shown)}},
                         aggs=details_aggregation(prefix, len(shown)), **SEARCH_OPTIONS)
    details = {b["key"]: b for b in _buckets(response)[0]}
    answer["traces"] = [_row(r, details.get(r["trace_id"])) for r in kept]
    return answer
