"""One error group (``error.grouping_key``): when it was seen (and in which release first), where, its
latest stack trace and occurrences, and whether it regressed: came back after at least
:data:`QUIET_PERIOD` (or the page's ``quiet``) without any occurrence."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from telemetry.ecs import lookup
from telemetry.templates import index_pattern

from .timerange import TimeRange

GROUPING_KEY = re.compile(r"^[0-9A-Za-z._:-]{1,128}$")
OCCURRENCES = 20
AFFECTED = {"services": "service.name", "hosts": "host.name", "versions": "service.version"}
QUIET_PERIOD = timedelta(hours=24)
"""A group that comes back after this long without an occurrence is "regressed"."""
QUIET_BUCKET = timedelta(hours=1)
"""Occurrences are looked at in buckets this wide; a quiet period may not be shorter."""
QUIET_MAX = timedelta(days=90)
_QUIET = re.compile(r"^(\d{1,4})([hd])$")


class BadGroupingKey(ValueError):
    """A grouping key that cannot be one (the message says why)."""


class BadQuiet(ValueError):
    """A quiet period that cannot be used (the message says why)."""


def check_key(key: str) -> str:
    """``key`` if it looks like a grouping key (1 to 128 of letters, digits, ``. _ : -``); else BadGroupingKey."""
    if not GROUPING_KEY.match(key):
        raise BadGroupingKey(f"not an error grouping key: {key[:40]!r} (1 to 128 letters, digits, '.', '_', ':' or '-')")
    return key


def parse_quiet(text: str | None) -> timedelta:
    """``quiet`` as ``<n>h`` or ``<n>d`` (1 h to 90 d; default :data:`QUIET_PERIOD`); else BadQuiet."""
    if not text:
        return QUIET_PERIOD
    match = _QUIET.match(text.strip())
    quiet = timedelta(**{{"h": "hours", "d": "days"}[match.group(2)]: int(match.group(1))}) if match else None
    if quiet is None or not QUIET_BUCKET <= quiet <= QUIET_MAX:
        raise BadQuiet(f"quiet must be hours or days like 24h or 2d, from 1h to 90d, not {text[:20]!r}")
    return quiet


def group_query(key: str, time_range: TimeRange) -> dict[str, Any]:
    """The search body: first/last seen (and the first release) over all time, hourly buckets with their first
    and last occurrence (for the quiet periods); counts, affected values and occurrences in the range."""
    in_range = {"count_over_time": {"date_histogram": {
        "field": "@timestamp", "fixed_interval": time_range.interval(), "min_doc_count": 0,
        "extended_bounds": {"min": time_range.start.isoformat(), "max": time_range.end.isoformat()}}},
        "recent": {"top_hits": {"size": OCCURRENCES, "sort": [{"@timestamp": "desc"}]}},
        **{name: {"terms": {"field": field, "size": 20}} for name, field in AFFECTED.items()}}
    return {"size": 0, "query": {"bool": {"filter": [{"term": {"error.grouping_key": key}}]}},
            "aggs": {"first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}},
                     "latest": {"top_hits": {"size": 1, "sort": [{"@timestamp": "desc"}]}},
                     "earliest": {"top_hits": {"size": 1, "sort": [{"@timestamp": "asc"}],
                                               "_source": ["service.version", "@timestamp"]}},
                     "active": {"date_histogram": {"field": "@timestamp", "min_doc_count": 1,
                                                   "fixed_interval": f"{int(QUIET_BUCKET.total_seconds())}s"},
                                "aggs": {"first": {"min": {"field": "@timestamp"}},
                                         "last": {"max": {"field": "@timestamp"}}}},
                     "in_range": {"filter": time_range.query(), "aggs": in_range}}}


def _occurrence(doc: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": doc.get("@timestamp"), "service": lookup(doc, "service.name"),
            "host": lookup(doc, "host.name"), "version": lookup(doc, "service.version"),
            "message": lookup(doc, "error.message"), "trace_id": lookup(doc, "trace.id"),
            "transaction_id": lookup(doc, "transaction.id")}


def _instant(millis: float) -> str:
    return datetime.fromtimestamp(millis / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def regression(buckets: list[dict[str, Any]], quiet: timedelta = QUIET_PERIOD) -> dict[str, Any]:
    """Whether the group came back after ``quiet`` without occurrences, from the hourly buckets with occurrences.

    The latest burst starts after the last gap of at least ``quiet`` between one occurrence and the next
    (a gap that long never falls inside one bucket, as ``quiet`` is at least :data:`QUIET_BUCKET`)."""
    answer: dict[str, Any] = {"regressed": False, "quiet_hours": quiet.total_seconds() / 3600,
                              "latest_burst_started": None, "quiet_before_hours": None}
    spans = [(b["first"]["value"], b["last"]["value"]) for b in buckets if b.get("doc_count")]
    for (_, before), (after, _) in reversed(list(zip(spans, spans[1:]))):
        if after - before >= quiet.total_seconds() * 1000:
            return {**answer, "regressed": True, "latest_burst_started": _instant(after),
                    "quiet_before_hours": round((after - before) / 3_600_000, 2)}
    if spans:
        answer["latest_burst_started"] = _instant(spans[0][0])
    return answer


def shape_group(key: str, response: dict[str, Any], quiet: timedelta = QUIET_PERIOD) -> dict[str, Any] | None:
    """The answer for one group, or None when no error of the group is stored at all."""
    if not response["hits"]["total"]["value"]:
        return None
    aggs = response["aggregations"]
    latest = aggs["latest"]["hits"]["hits"][0]["_source"]
    in_range = aggs["in_range"]
    return {"grouping_key": key, "type": lookup(latest, "error.type"), "message": lookup(latest, "error.message"),
            "first_seen": aggs["first"]["value_as_string"], "last_seen": aggs["last"]["value_as_string"],
            "first_release": lookup(aggs["earliest"]["hits"]["hits"][0]["_source"], "service.version"),
            **regression(aggs["active"]["buckets"], quiet),
            "total": response["hits"]["total"]["value"], "count": in_range["doc_count"],
            "stack_trace": lookup(latest, "error.stack_trace"), "latest": _occurrence(latest),
            "series": {"count": [[int(b["key"]), b["doc_count"]] for b in in_range["count_over_time"]["buckets"]]},
            **{name: [{"value": b["key"], "count": b["doc_count"]} for b in in_range[name]["buckets"]]
               for name in AFFECTED},
            "occurrences": [_occurrence(hit["_source"]) for hit in in_range["recent"]["hits"]["hits"]]}


def error_group(es: Any, prefix: str, key: str, time_range: TimeRange,
                quiet: timedelta = QUIET_PERIOD) -> dict[str, Any] | None:
    """One group's figures (see :func:`shape_group`); None if the key is unknown."""
    body = group_query(check_key(key), time_range)
    response = es.search(index=index_pattern("errors", prefix), track_total_hits=True, ignore_unavailable=True,
                         allow_no_indices=True, **body)
    return shape_group(key, response, quiet)
