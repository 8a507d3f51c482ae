"""The Elasticsearch queries behind the pages: aggregations and bounded searches only.

Each function takes an ``elasticsearch.Elasticsearch`` client and the index prefix and returns
plain data for the JSON API. Nothing here pulls all documents of an index into Python.
"""
from __future__ import annotations

from typing import Any

from foundation.log_levels import level_spellings
from telemetry.ecs import is_deployment, lookup
from telemetry.templates import index_pattern

from .timerange import TimeRange

SEARCH_OPTIONS = {"ignore_unavailable": True, "allow_no_indices": True}
HOST_METRICS = {
    "cpu": "system.cpu.total.pct",
    "memory": "system.memory.used.pct",
    "disk": "system.filesystem.used.pct",
    "network_in": "system.network.in.bytes_per_sec",
    "network_out": "system.network.out.bytes_per_sec",
}


def _filters(time_range: TimeRange, **terms: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [time_range.query()]
    out += [{"term": {field.replace("__", "."): value}} for field, value in terms.items() if value]
    return out


def _histogram(time_range: TimeRange) -> dict[str, Any]:
    return {"field": "@timestamp", "fixed_interval": time_range.interval(), "min_doc_count": 0,
            "extended_bounds": {"min": time_range.start.isoformat(), "max": time_range.end.isoformat()}}


def _millis(bucket: dict[str, Any]) -> int:
    return int(bucket["key"])


# -- logs -----------------------------------------------------------------------------------------
def search_logs(es: Any, prefix: str, time_range: TimeRange, *, text: str = "", level: str = "",
                service: str = "", host: str = "", size: int = 200) -> dict[str, Any]:
    """The newest ``size`` log lines matching the filters, and how many match in all."""
    must: list[dict[str, Any]] = []
    if text:
        must.append({"match": {"message": {"query": text, "operator": "and"}}})
    filters = _filters(time_range, service__name=service or None, host__name=host or None)
    if level:  # documents indexed before levels were canonical may say "warn" for "warning"
        filters.append({"terms": {"log.level": list(level_spellings(level.lower()))}})
    query = {"bool": {"must": must, "filter": filters}}
    response = es.search(index=index_pattern("logs", prefix), query=query, size=size,
                         sort=[{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
                         track_total_hits=10_000, **SEARCH_OPTIONS)
    lines = []
    for hit in response["hits"]["hits"]:
        doc = hit["_source"]
        lines.append({"timestamp": doc.get("@timestamp"), "level": lookup(doc, "log.level"),
                      "service": lookup(doc, "service.name"), "host": lookup(doc, "host.name"),
                      "message": doc.get("message"), "trace_id": lookup(doc, "trace.id"),
                      "transaction_id": lookup(doc, "transaction.id"), "logger": lookup(doc, "log.logger")})
    total = response["hits"]["total"]
    return {"total": total["value"], "total_is_lower_bound": total["relation"] == "gte", "lines": lines}


# -- errors ---------------------------------------------------------------------------------------
def error_groups(es: Any, prefix: str, time_range: TimeRange, *, service: str = "",
                 size: int = 50) -> list[dict[str, Any]]:
    """Errors grouped by ``error.grouping_key``: count, first and last seen, one sample, recent traces."""
    aggs = {"groups": {"terms": {"field": "error.grouping_key", "size": size, "order": {"_count": "desc"}},
                       "aggs": {"first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}},
                                "sample": {"top_hits": {"size": 1, "sort": [{"@timestamp": "desc"}]}},
                                "traces": {"terms": {"field": "trace.id", "size": 5}}}}}
    response = es.search(index=index_pattern("errors", prefix), size=0, aggs=aggs,
                         query={"bool": {"filter": _filters(time_range, service__name=service or None)}},
                         **SEARCH_OPTIONS)
    groups = []
    for bucket in response.get("aggregations", {}).get("groups", {}).get("buckets", []):
        sample = bucket["sample"]["hits"]["hits"][0]["_source"]
        groups.append({"grouping_key": bucket["key"], "count": bucket["doc_count"],
                       "first_seen": bucket["first"]["value_as_string"], "last_seen": bucket["last"]["value_as_string"],
                       "type": lookup(sample, "error.type"), "message": lookup(sample, "error.message"),
                       "service": lookup(sample, "service.name"), "stack_trace": lookup(sample, "error.stack_trace"),
                       "traces": [trace["key"] for trace in bucket["traces"]["buckets"]]})
    return groups


# -- change markers -------------------------------------------------------------------------------
def change_kind(doc: dict[str, Any]) -> str:
    """``alert`` for an alert firing or resolving (``<prefix>-alerts-*``), ``deployment`` for a deploy
    or rollback, else ``configuration`` (events stored before ``event.category: configuration`` was
    the only category said ``deployment`` there)."""
    if lookup(doc, "event.kind") == "alert":
        return "alert"
    deployed = is_deployment(lookup(doc, "event.action")) or lookup(doc, "event.category") == "deployment"
    return "deployment" if deployed else "configuration"


def changes(es: Any, prefix: str, time_range: TimeRange, *, service: str = "", size: int = 100,
            alerts: bool = True) -> list[dict[str, Any]]:
    """Deploys, configuration changes and alerts firing or resolving in the range, newest first (the
    markers on every chart; ``alerts=False``: without them); no alert history index yet is no alert marker.
    Each has its document ``id``: ``/api/changes/<id>`` opens a deploy or configuration change."""
    filters = _filters(time_range) + [{"bool": {"should": [
        {"bool": {"must_not": {"term": {"event.kind": "alert"}}}},
        {"terms": {"event.action": ["firing", "resolved"]}}]}}]
    if service:
        filters.append({"bool": {"should": [{"term": {"service.name": service}},
                                            {"wildcard": {"change.target": f"*{service}*"}}]}})
    indices = index_pattern("changes", prefix) + (f",{index_pattern('alerts', prefix)}" if alerts else "")
    response = es.search(index=indices, size=size, query={"bool": {"filter": filters}},
                         sort=[{"@timestamp": {"order": "desc", "unmapped_type": "date"}}], **SEARCH_OPTIONS)
    return [{"id": hit["_id"], "timestamp": doc.get("@timestamp"), "category": lookup(doc, "event.category"),
             "kind": change_kind(doc), "action": lookup(doc, "event.action"), "user": lookup(doc, "user.name"),
             "target": lookup(doc, "change.target"), "message": doc.get("message"),
             **({"rule": lookup(doc, "rule.name")} if lookup(doc, "event.kind") == "alert" else {})}
            for hit, doc in ((hit, hit["_source"]) for hit in response["hits"]["hits"])]


# -- services -------------------------------------------------------------------------------------
def service_names(es: Any, prefix: str, time_range: TimeRange, size: int = 100) -> list[str]:
    response = es.search(index=index_pattern("transactions", prefix), size=0,
                         query={"bool": {"filter": _filters(time_range)}},
                         aggs={"services": {"terms": {"field": "service.name", "size": size}}}, **SEARCH_OPTIONS)
    return [b["key"] for b in response.get("aggregations", {}).get("services", {}).get("buckets", [])]


def service_charts(es: Any, prefix: str, time_range: TimeRange, service: str) -> dict[str, Any]:
    """Request rate, error rate, latency percentiles, cache hit ratio, shard load (with skew) and queue depth."""
    seconds = max(1, int(time_range.interval()[:-1]))
    filters = _filters(time_range, service__name=service)
    tx = es.search(index=index_pattern("transactions", prefix), size=0, query={"bool": {"filter": filters}}, aggs={
        "over_time": {"date_histogram": _histogram(time_range), "aggs": {
            "failures": {"filter": {"term": {"event.outcome": "failure"}}},
            "latency": {"percentiles": {"field": "event.duration", "percents": [50, 95, 99]}}}}}, **SEARCH_OPTIONS)
    spans = es.search(index=index_pattern("spans", prefix), size=0, query={"bool": {"filter": filters}}, aggs={
        "cache": {"filter": {"exists": {"field": "labels.cache_hit"}}, "aggs": {
            "over_time": {"date_histogram": _histogram(time_range), "aggs": {
                "hits": {"filter": {"term": {"labels.cache_hit": True}}}}}}},
        "shards": {"terms": {"field": "labels.shard", "size": 64}}}, **SEARCH_OPTIONS)
    metrics = es.search(index=index_pattern("metrics", prefix), size=0, query={"bool": {"filter": filters + [
        {"exists": {"field": "queue_depth"}}]}}, aggs={
        "over_time": {"date_histogram": _histogram(time_range), "aggs": {"depth": {"max": {"field": "queue_depth"}}}}},
        **SEARCH_OPTIONS)
    series: dict[str, list] = {"requests_per_s": [], "error_rate": [], "p50_ms": [], "p95_ms": [], "p99_ms": [],
                               "cache_hit_ratio": [], "queue_depth": []}
    for bucket in tx.get("aggregations", {}).get("over_time", {}).get("buckets", []):
        at, count = _millis(bucket), bucket["doc_count"]
        series["requests_per_s"].append([at, round(count / seconds, 3)])
        series["error_rate"].append([at, round(bucket["failures"]["doc_count"] / count, 4) if count else None])
        values = bucket["latency"]["values"]
        for key, name in (("50.0", "p50_ms"), ("95.0", "p95_ms"), ("99.0", "p99_ms")):
            value = values.get(key)
            series[name].append([at, round(value / 1e6, 3) if value is not None else None])
    for bucket in spans.get("aggregations", {}).get("cache", {}).get("over_time", {}).get("buckets", []):
        count = bucket["doc_count"]
        ratio = round(bucket["hits"]["doc_count"] / count, 4) if count else None
        series["cache_hit_ratio"].append([_millis(bucket), ratio])
    for bucket in metrics.get("aggregations", {}).get("over_time", {}).get("buckets", []):
        series["queue_depth"].append([_millis(bucket), bucket["depth"]["value"]])
    shard_buckets = spans.get("aggregations", {}).get("shards", {}).get("buckets", [])
    return {"service": service, "series": series, "shards": shard_load(shard_buckets)}


def shard_load(buckets: list[dict[str, Any]], skew_factor: float = 1.5) -> list[dict[str, Any]]:
    """Operations per shard; a shard with more than ``skew_factor`` times the mean is marked skewed."""
    if not buckets:
        return []
    mean = sum(b["doc_count"] for b in buckets) / len(buckets)
    return [{"shard": str(b["key"]), "operations": b["doc_count"], "skewed": b["doc_count"] > skew_factor * mean}
            for b in sorted(buckets, key=lambda b: str(b["key"]))]


# -- hosts ----------------------------------------------------------------------------------------
def host_charts(es: Any, prefix: str, time_range: TimeRange, host: str) -> dict[str, Any]:
    """CPU, memory, disk and network of one host over the range (averages per bucket; an empty
    bucket is None, so a stretch without data shows as a gap).

    ``host`` is the name the host has in the CMDB: its agent's id, which is the host name unless
    the agent's configuration names it otherwise, so either field matches."""
    aggs = {name: {"avg": {"field": field}} for name, field in HOST_METRICS.items()}
    named = {"bool": {"should": [{"term": {"host.name": host}}, {"term": {"agent.id": host}}],
                      "minimum_should_match": 1}}
    response = es.search(index=index_pattern("metrics", prefix), size=0,
                         query={"bool": {"filter": [*_filters(time_range), named]}},
                         aggs={"over_time": {"date_histogram": _histogram(time_range), "aggs": aggs}},
                         **SEARCH_OPTIONS)
    series: dict[str, list] = {name: [] for name in HOST_METRICS}
    for bucket in response.get("aggregations", {}).get("over_time", {}).get("buckets", []):
        for name in HOST_METRICS:
            series[name].append([_millis(bucket), bucket[name]["value"]])
    return {"host": host, "series": series}


# -- overview -------------------------------------------------------------------------------------
def overview_figures(es: Any, prefix: str, time_range: TimeRange) -> dict[str, Any]:
    """Requests, error rate and p95 latency over the range, and documents per kind."""
    response = es.search(index=index_pattern("transactions", prefix), size=0,
                         query={"bool": {"filter": _filters(time_range)}}, aggs={
                             "failures": {"filter": {"term": {"event.outcome": "failure"}}},
                             "latency": {"percentiles": {"field": "event.duration", "percents": [95]}}},
                         track_total_hits=True, **SEARCH_OPTIONS)
    count = response["hits"]["total"]["value"]
    aggregations = response.get("aggregations", {})
    p95 = aggregations.get("latency", {}).get("values", {}).get("95.0")
    failures = aggregations.get("failures", {}).get("doc_count", 0)
    return {"requests": count, "error_rate": round(failures / count, 4) if count else None,
            "p95_ms": round(p95 / 1e6, 3) if p95 is not None else None}
