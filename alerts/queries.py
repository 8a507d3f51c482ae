"""A rule's evaluation as Elasticsearch aggregations (``size: 0``: no document is loaded).

``service`` rules read ``oam-transactions-*``: a ``composite`` aggregation over the ``group_by``
fields (or the whole window as one group) with the failed transactions as a ``filter``
sub-aggregation and ``event.duration`` as ``percentiles``. ``metric`` rules read
``oam-metrics-*``: an ``avg``/``max``/``min`` of the field, per host in a ``composite``
aggregation or over all. ``log`` rules read ``oam-logs-*``: the count of matching documents in
the window, per group a ``filter`` sub-aggregation of a ``composite`` over a longer look-back, so
a group that went quiet counts 0 instead of vanishing. ``absent`` rules read ``oam-metrics-*``: a
``terms`` aggregation of the expected hosts' ``host.name``.

Every function takes the evaluation time ``now``: the evaluator passes the clock, ``oam alerts
test`` each step of a past window.

Usage::

    reading = evaluate(client, rule, now=time.time(), hosts=["web-1", "web-2"])
    reading.groups     # {group key: Sample(labels={"host": "web-1"}, value=7.5, outcome=True)}
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from foundation.clock import utc_iso
from foundation.log_levels import level_spellings
from telemetry.templates import index_pattern

from .rules import GROUP_FIELDS, LOG_GROUP_FIELDS, Rule

SEARCH_OPTIONS = {"ignore_unavailable": True, "allow_no_indices": True}
PAGE = 500
MAX_PAGES = 20
LOG_LOOKBACK = 3600.0
"""A ``log`` rule's groups are those with a matching document in this long (or 2 windows + keep_firing_for)."""


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


def _environment(rule: Rule) -> list[dict[str, Any]]:
    """Documents of the rule's environment, and those without ``service.environment``."""
    if not rule.environment:
        return []
    return [{"bool": {"should": [{"term": {"service.environment": rule.environment}},
                                 {"bool": {"must_not": {"exists": {"field": "service.environment"}}}}]}}]


def _grouped(rule: Rule, fields: dict[str, str], measures: dict[str, Any]) -> dict[str, Any]:
    """``measures`` per group of ``rule.group_by`` (a paged ``composite``), or over all documents."""
    if not rule.group_by:
        return measures
    return {"groups": {"composite": {"size": PAGE, "sources": [
        {name: {"terms": {"field": fields[name]}}} for name in rule.group_by]}, "aggs": measures}}


def service_body(rule: Rule, now: float) -> dict[str, Any]:
    """The search body of a ``service`` rule (see the module's docstring)."""
    filters: list[dict[str, Any]] = [{"term": {"service.name": rule.service}}, _window(now, rule.window)]
    filters += _environment(rule)
    filters += [{"term": {GROUP_FIELDS[name]: value}} for name, value in sorted(rule.filters.items())]
    measures: dict[str, Any] = {"failed": {"filter": {"term": {"event.outcome": "failure"}}}}
    if rule.measure == "latency":
        measures["latency"] = {"percentiles": {"field": "event.duration", "percents": [rule.percentile]}}
    aggs = _grouped(rule, GROUP_FIELDS, measures)
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


def _search(client: Any, index: str, body: dict[str, Any], reading: Reading) -> dict[str, Any] | None:
    """The response; None when no index matches yet (Elasticsearch then answers without aggregations)."""
    try:
        response = client.search(index=index, **body, **SEARCH_OPTIONS)
    except Exception as exc:  # noqa: BLE001 - connection, auth, bad field: the rule is in error, the others go on
        raise QueryFailed(f"Elasticsearch: {type(exc).__name__}: {str(exc)[:300]}") from exc
    reading.took_ms += int(response.get("took", 0))
    if body.get("aggs") and "aggregations" not in getattr(response, "body", response):
        return None
    return response


def _buckets(client: Any, index: str, body: dict[str, Any], reading: Reading) -> Iterator[dict[str, Any]]:
    """Every bucket of the body's ``groups`` composite aggregation, page after page."""
    for _ in range(MAX_PAGES):
        response = _search(client, index, body, reading)
        if response is None:
            return
        groups = response["aggregations"]["groups"]
        yield from groups["buckets"]
        if not groups.get("after_key") or len(groups["buckets"]) < PAGE:
            break
        body["aggs"]["groups"]["composite"]["after"] = groups["after_key"]


def _labels(bucket: dict[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in bucket["key"].items()}


def _read(client: Any, rule: Rule, kind: str, body: dict[str, Any], prefix: str,
          whole: Callable[[dict[str, Any]], float | None], group: Callable[[dict[str, Any]], float | None]) -> Reading:
    """One search over all documents (``whole`` reads the value from the response), or the
    ``composite`` aggregation's pages (``group`` reads each bucket's)."""
    reading = Reading()
    index = index_pattern(kind, prefix)
    if not rule.group_by:
        response = _search(client, index, body, reading)
        reading.add(_sample(rule, {}, None if response is None else whole(response)))
        return reading
    for bucket in _buckets(client, index, body, reading):
        reading.add(_sample(rule, _labels(bucket), group(bucket)))
    return reading


def evaluate_service(client: Any, rule: Rule, now: float, prefix: str = "oam") -> Reading:
    return _read(client, rule, "transactions", service_body(rule, now), prefix,
                 lambda response: service_value(rule, int(response["hits"]["total"]["value"]),
                                                response["aggregations"]),
                 lambda bucket: service_value(rule, int(bucket["doc_count"]), bucket))


def metric_field(rule: Rule) -> str:
    """The document field a ``metric`` rule reads: its own, or the Prometheus sample's."""
    return rule.metric or f"prometheus.metrics.{rule.prometheus}"


def metric_body(rule: Rule, now: float) -> dict[str, Any]:
    """The search body of a ``metric`` rule: ``stat`` of the field in the window, per host or over all."""
    field_name, labels = metric_field(rule), "labels" if rule.metric else "prometheus.labels"
    filters: list[dict[str, Any]] = [{"exists": {"field": field_name}}, _window(now, rule.window)]
    filters += _environment(rule)
    filters += [{"term": {GROUP_FIELDS[name]: value}} for name, value in sorted(rule.filters.items())]
    filters += [{"term": {f"{labels}.{name}": value}} for name, value in sorted(rule.match.items())]
    aggs = _grouped(rule, GROUP_FIELDS, {"value": {rule.stat: {"field": field_name}}})
    return {"size": 0, "query": {"bool": {"filter": filters}}, "aggs": aggs}


def evaluate_metric(client: Any, rule: Rule, now: float, prefix: str = "oam") -> Reading:
    """One group per host (or one for all); no sample in the window is no data."""
    return _read(client, rule, "metrics", metric_body(rule, now), prefix,
                 lambda response: response["aggregations"]["value"]["value"], lambda bucket: bucket["value"]["value"])


def log_lookback(rule: Rule) -> float:
    """How far back a ``log`` rule's groups are looked for (see :data:`LOG_LOOKBACK`)."""
    return max(LOG_LOOKBACK, 2 * rule.window + rule.keep_firing_for)


def log_body(rule: Rule, now: float) -> dict[str, Any]:
    """The search body of a ``log`` rule: matching documents in the window, per group or in all."""
    filters: list[dict[str, Any]] = list(_environment(rule))
    if rule.service:
        filters.append({"term": {"service.name": rule.service}})
    filters += [{"term": {GROUP_FIELDS[name]: value}} for name, value in sorted(rule.filters.items())]
    if rule.levels:
        filters.append({"terms": {"log.level": [name for level in rule.levels for name in level_spellings(level)]}})
    if rule.text:
        filters.append({"match": {"message": {"query": rule.text, "operator": "and"}}})
    if not rule.group_by:
        return {"size": 0, "track_total_hits": True, "query": {"bool": {"filter": [*filters, _window(now, rule.window)]}}}
    return {"size": 0, "query": {"bool": {"filter": [*filters, _window(now, log_lookback(rule))]}},
            "aggs": _grouped(rule, LOG_GROUP_FIELDS, {"recent": {"filter": _window(now, rule.window)}})}


def evaluate_log(client: Any, rule: Rule, now: float, prefix: str = "oam") -> Reading:
    """The count in the window; a group seen in the look-back but not in the window counts 0."""
    return _read(client, rule, "logs", log_body(rule, now), prefix,
                 lambda response: float(response["hits"]["total"]["value"]),
                 lambda bucket: float(bucket["recent"]["doc_count"]))


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
    buckets = [] if response is None else response["aggregations"]["hosts"]["buckets"]
    seen = {bucket["key"]: (now - bucket["last"]["value"] / 1000.0) for bucket in buckets}
    window = rule.intervals * rule.metric_interval
    for host in expected:
        silent = host not in seen
        reading.add(Sample({"host": host}, window if silent else round(seen[host], 3), silent))
    return reading


def evaluate(client: Any, rule: Rule, now: float, hosts: Iterable[str] = (), prefix: str = "oam") -> Reading:
    """Run ``rule`` at ``now``; ``hosts``: the CMDB's expected hosts (``absent`` rules)."""
    if rule.kind == "absent":
        return evaluate_absent(client, rule, now, hosts, prefix)
    if rule.kind == "metric":
        return evaluate_metric(client, rule, now, prefix)
    if rule.kind == "log":
        return evaluate_log(client, rule, now, prefix)
    return evaluate_service(client, rule, now, prefix)
