"""One error group (``error.grouping_key``): when it was seen, where, its latest stack trace and occurrences."""
from __future__ import annotations

import re
from typing import Any

from telemetry.ecs import lookup
from telemetry.templates import index_pattern

from .timerange import TimeRange

GROUPING_KEY = re.compile(r"^[0-9A-Za-z._:-]{1,128}$")
OCCURRENCES = 20
AFFECTED = {"services": "service.name", "hosts": "host.name", "versions": "service.version"}


class BadGroupingKey(ValueError):
    """A grouping key that cannot be one (the message says why)."""


def check_key(key: str) -> str:
    """``key`` if it looks like a grouping key (1 to 128 of letters, digits, ``. _ : -``); else BadGroupingKey."""
    if not GROUPING_KEY.match(key):
        raise BadGroupingKey(f"not an error grouping key: {key[:40]!r} (1 to 128 letters, digits, '.', '_', ':' or '-')")
    return key


def group_query(key: str, time_range: TimeRange) -> dict[str, Any]:
    """The search body: first/last seen over all time; counts, affected values and occurrences in the range."""
    in_range = {"count_over_time": {"date_histogram": {
        "field": "@timestamp", "fixed_interval": time_range.interval(), "min_doc_count": 0,
        "extended_bounds": {"min": time_range.start.isoformat(), "max": time_range.end.isoformat()}}},
        "recent": {"top_hits": {"size": OCCURRENCES, "sort": [{"@timestamp": "desc"}]}},
        **{name: {"terms": {"field": field, "size": 20}} for name, field in AFFECTED.items()}}
    return {"size": 0, "query": {"bool": {"filter": [{"term": {"error.grouping_key": key}}]}},
            "aggs": {"first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}},
                     "latest": {"top_hits": {"size": 1, "sort": [{"@timestamp": "desc"}]}},
                     "in_range": {"filter": time_range.query(), "aggs": in_range}}}


def _occurrence(doc: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": doc.get("@timestamp"), "service": lookup(doc, "service.name"),
            "host": lookup(doc, "host.name"), "version": lookup(doc, "service.version"),
            "message": lookup(doc, "error.message"), "trace_id": lookup(doc, "trace.id"),
            "transaction_id": lookup(doc, "transaction.id")}


def shape_group(key: str, response: dict[str, Any]) -> dict[str, Any] | None:
    """The answer for one group, or None when no error of the group is stored at all."""
    if not response["hits"]["total"]["value"]:
        return None
    aggs = response["aggregations"]
    latest = aggs["latest"]["hits"]["hits"][0]["_source"]
    in_range = aggs["in_range"]
    return {"grouping_key": key, "type": lookup(latest, "error.type"), "message": lookup(latest, "error.message"),
            "first_seen": aggs["first"]["value_as_string"], "last_seen": aggs["last"]["value_as_string"],
            "total": response["hits"]["total"]["value"], "count": in_range["doc_count"],
            "stack_trace": lookup(latest, "error.stack_trace"), "latest": _occurrence(latest),
            "series": {"count": [[int(b["key"]), b["doc_count"]] for b in in_range["count_over_time"]["buckets"]]},
            **{name: [{"value": b["key"], "count": b["doc_count"]} for b in in_range[name]["buckets"]]
               for name in AFFECTED},
            "occurrences": [_occurrence(hit["_source"]) for hit in in_range["recent"]["hits"]["hits"]]}


def error_group(es: Any, prefix: str, key: str, time_range: TimeRange) -> dict[str, Any] | None:
    """One group's figures (see :func:`shape_group`); None if the key is unknown."""
    body = group_query(check_key(key), time_range)
    response = es.search(index=index_pattern("errors", prefix), track_total_hits=True, ignore_unavailable=True,
                         allow_no_indices=True, **body)
    return shape_group(key, response)
