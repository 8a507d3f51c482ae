"""A rule's evaluation as Elasticsearch aggregations (``size: 0``: no document is loaded).

``service`` rules read ``oam-transactions-*``: a ``composite`` aggregation over the ``group_by``
fields (or the whole window as one group) with the failed transactions as a ``filter``
sub-aggregation and ``event.duration`` as ``percentiles``. ``absent`` rules read
``oam-metrics-*``: a ``terms`` aggregation of the expected hosts' ``host.name``.

Usage::

    reading = evaluate(client, rule, now=time.time(), hosts=["web-1", "web-2"])
    reading.groups     # {group key: Sample(labels={"host": "web-1"}, value=7.5, outcome=True)}
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from foundation.clock import utc_iso
from telemetry.templates import index_pattern

from .rules import GROUP_FIELDS, Rule

SEARCH_OPTIONS = {"ignore_unavailable": True, "allow_no_indices": True}
PAGE = 500
MAX_PAGES = 20


class QueryFailed(RuntimeError):
    """Elasticsearch could not answer the rule's query; the message says why."""


@dataclass(frozen=True)
class Sample:
    """One group's figure: ``value`` (None: no data) and whether it meets the condition."""

    labels: dict[str, str]
    value: float | None
    outcome: bool | None


@dataclass
class Reading:
    """Every group one evaluation found, by :func:`group_key`."""

    groups: dict[str, Sample] = field(default_factory=dict)
    took_ms: int = 0

    def add(self, sample: Sample) -> None:
        self.groups[group_key(sample.labels)] = sample


def group_key(labels: dict[str, str]) -> str:
    """A group's stable name: its labels as sorted JSON (``{}`` for an ungrouped rule)."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def _window(now: float, seconds: float) -> dict[str, Any]:
    return {"range": {"@timestamp": {"gte": utc_iso(now - seconds, "milliseconds"),
                                     "lt": utc_iso(now, "milliseconds")}}}


def service_body(rule: Rule, now: float) -> dict[str, Any]:
    """The search body of a ``service`` rule (see the module's docstring)."""
    filters: list[dict[str, Any]] = [{"term": {"service.name": rule.service}}, _window(now, rule.window)]
    if rule.environment:
        filters.append({"bool": {"should": [{"term": {"service.environment": rule.environment}},
                                            {"bool": {"must_not": {"exists": {"field": "service.environment"}}}}]}})
    filters += [{"term": {GROUP_FIELDS[name]: value}} for name, value in sorted(rule.filters.items())]
    measures: dict[str, Any] = {"failed": {"filter": {"term": {"event.outcome": "failure"}}}}
    if rule.measure == "latency":
        measures["latency"] = {"percentiles": {"field": "event.duration", "percents": [rule.percentile]}}
    aggs = {"groups": {"composite": {"size": PAGE, "sources": [
        {name: {"terms": {"field": GROUP_FIELDS[name]}}} for name in rule.group_by]}, "aggs": measures}} \
        if rule.group_by else measures
    return {"size": 0, "track_total_hits": True, "query": {"bool": {"filter": filters}}, "aggs": aggs}


def service_value(rule: Rule, count: int, aggs: dict[str, Any]) -> float | None:
    """The rule's measure from one group's count and sub-aggregations; None where there is no data."""
    if rule.measure == "request_rate":
        return count / rule.window
    if count < rule.min_requests:
        return None
    if rule.measure == "error_rate":
        return 100.0 * aggs["failed"]["doc_count"] / count
    nanoseconds = next(iter(aggs["latency"]["values"].values()), None)
    return None if nanoseconds is None else nanoseconds / 1e6


def _sample(rule: Rule, labels: dict[str, str], value: float | None) -> Sample:
    return Sample(labels, value, None if value is None else rule.breached(value))


def _search(client: Any, index: str, body: dict[str, Any], reading: Reading) -> dict[str, Any]:
    try:
        response = client.search(index=index, **body, **SEARCH_OPTIONS)
    except Exception as exc:  # noqa: BLE001 - connection, auth, bad field: the rule is in error, the others go on
        raise QueryFailed(f"Elasticsearch: {type(exc).__name__}: {str(exc)[:300]}") from exc
    reading.took_ms += int(response.get("took", 0))
    return response


def evaluate_service(client: Any, rule: Rule, now: float, prefix: str = "oam") -> Reading:
    reading = Reading()
    index = index_pattern("transactions", prefix)
    body = service_body(rule, now)
    if not rule.group_by:
        response = _search(client, index, body, reading)
        count = int(response["hits"]["total"]["value"])
        reading.add(_sample(rule, {}, service_value(rule, count, response["aggregations"])))
        return reading
    for _ in range(MAX_PAGES):
        response = _search(client, index, body, reading)
        groups = response["aggregations"]["groups"]
        for bucket in groups["buckets"]:
            labels = {name: str(value) for name, value in bucket["key"].items()}
            reading.add(_sample(rule, labels, service_value(rule, int(bucket["doc_count"]), bucket)))
        if not groups.get("after_key") or len(groups["buckets"]) < PAGE:
            break
        body["aggs"]["groups"]["composite"]["after"] = groups["after_key"]
    return reading


def absent_body(rule: Rule, now: float, hosts: list[str]) -> dict[str, Any]:
    """The search body of an ``absent`` rule: the last metric of each expected host in the window."""
    window = rule.intervals * rule.metric_interval
    return {"size": 0, "query": {"bool": {"filter": [{"terms": {"host.name": hosts}}, _window(now, window)]}},
            "aggs": {"hosts": {"terms": {"field": "host.name", "size": max(1, len(hosts))},
                               "aggs": {"last": {"max": {"field": "@timestamp"}}}}}}


def evaluate_absent(client: Any, rule: Rule, now: float, hosts: Iterable[str], prefix: str = "oam") -> Reading:
    """Each expected host is a group: met (value: the window in seconds) when it sent no metric in it."""
    reading = Reading()
    expected = sorted(set(hosts))
    if not expected:
        return reading
    response = _search(client, index_pattern("metrics", prefix), absent_body(rule, now, expected), reading)
    seen = {bucket["key"]: (now - bucket["last"]["value"] / 1000.0)
            for bucket in response["aggregations"]["hosts"]["buckets"]}
    window = rule.intervals * rule.metric_interval
    for host in expected:
        silent = host not in seen
        reading.add(Sample({"host": host}, window if silent else round(seen[host], 3), silent))
    return reading


def evaluate(client: Any, rule: Rule, now: float, hosts: Iterable[str] = (), prefix: str = "oam") -> Reading:
    """Run ``rule`` at ``now``; ``hosts``: the CMDB's expected hosts (``absent`` rules)."""
    if rule.kind == "absent":
        return evaluate_absent(client, rule, now, hosts, prefix)
    return evaluate_service(client, rule, now, prefix)
