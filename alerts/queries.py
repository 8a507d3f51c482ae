"""A rule's evaluation as Elasticsearch aggregations (``size: 0``: no document is loaded).

``service`` rules read ``oam-transactions-*``: a ``composite`` aggregation over the ``group_by``
fields (or the whole window as one group) with the failed transactions as a ``filter``
sub-aggregation and ``event.duration`` as ``percentiles``. ``metric`` rules read
``oam-metrics-*``: an ``avg``/``max``/``min`` of the field, per host in a ``composite``
aggregation or over all. ``log`` rules read ``oam-logs-*``: the count of matching documents in
the window, per group a ``filter`` sub-aggregation of a ``composite`` over a longer look-back, so
a group that went quiet counts 0 instead of vanishing. ``absent`` rules read ``oam-metrics-*``: a
``terms`` aggregation of the expected hosts' ``host.name``. ``error`` rules read
``oam-errors-*``: a ``composite`` aggregation over grouping key and service in the look-back,
each bucket with its first and last ``@timestamp``, the last before the window and the window's
count and latest occurrence (``top_hits`` of size 1). ``suite`` rules read the cluster health or
the count of ``oam-deadletter-*`` documents in the window.

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

from collector.indices import DEAD_LETTER
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
    details: dict[str, str] = field(default_factory=dict)  # more words for the annotations


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


def _failed(exc: Exception) -> QueryFailed:
    """What a rule's failed call to Elasticsearch puts it in error with."""
    return QueryFailed(f"Elasticsearch: {type(exc).__name__}: {str(exc)[:300]}")


def _search(client: Any, index: str, body: dict[str, Any], reading: Reading) -> dict[str, Any] | None:
    """The response; None when no index matches yet (Elasticsearch then answers without aggregations)."""
    try:
        response = client.search(index=index, **body, **SEARCH_OPTIONS)
    except Exception as exc:  # noqa: BLE001 - connection, auth, bad field: the rule is in error, the others go on
        raise _failed(exc) from exc
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


DETAIL_CHARS = 200
"""An error's type and message are kept (in the alert's persisted state) up to this long."""
ERROR_GROUP_FIELDS = {"error_group": "error.grouping_key", "service": "service.name"}
"""An ``error`` rule's group labels and the fields they stand for."""


def error_body(rule: Rule, now: float) -> dict[str, Any]:
    """The search body of an ``error`` rule: per error group and service in the look-back, its first
    and last occurrence, its last before the window and the window's count and latest occurrence."""
    window_start = utc_iso(now - rule.window, "milliseconds")
    lookback = log_lookback(rule) if rule.condition == "frequency" else rule.lookback
    filters: list[dict[str, Any]] = [_window(now, lookback), *_environment(rule)]
    if rule.service:
        filters.append({"term": {"service.name": rule.service}})
    filters += [{"term": {GROUP_FIELDS[name]: value}} for name, value in sorted(rule.filters.items())]
    latest = {"top_hits": {"size": 1, "sort": [{"@timestamp": "desc"}], "_source": ["error.type", "error.message"]}}
    measures = {"first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}},
                "before": {"filter": {"range": {"@timestamp": {"lt": window_start}}},
                           "aggs": {"last": {"max": {"field": "@timestamp"}}}},
                "recent": {"filter": {"range": {"@timestamp": {"gte": window_start}}},
                           "aggs": {"first": {"min": {"field": "@timestamp"}}, "latest": latest}}}
    sources = [{name: {"terms": {"field": field_name}}} for name, field_name in ERROR_GROUP_FIELDS.items()]
    return {"size": 0, "query": {"bool": {"filter": filters}},
            "aggs": {"groups": {"composite": {"size": PAGE, "sources": sources}, "aggs": measures}}}


def error_sample(rule: Rule, now: float, bucket: dict[str, Any]) -> Sample | None:
    """One error group's sample (value: its count in the window); None for a group quiet for longer
    than a ``log`` rule's look-back, which has nothing left to resolve."""
    first, last = bucket["first"]["value"] / 1000.0, bucket["last"]["value"] / 1000.0
    if now - last > log_lookback(rule):
        return None
    recent = bucket["recent"]
    count = float(recent["doc_count"])
    if rule.condition == "new":
        outcome = count > 0 and first >= now - rule.window
    elif rule.condition == "regression":
        before = bucket["before"]["last"]["value"]
        outcome = count > 0 and before is not None and (recent["first"]["value"] - before) / 1000.0 >= rule.quiet
    else:
        outcome = rule.breached(count)
    details = {"first_seen": utc_iso(first, "seconds"), "last_seen": utc_iso(last, "seconds")}
    hits = recent["latest"]["hits"]["hits"]
    error = (hits[0]["_source"].get("error") or {}) if hits else {}
    details.update({f"error_{name}": str(error[name])[:DETAIL_CHARS] for name in ("type", "message") if error.get(name)})
    return Sample(_labels(bucket), count, outcome, details)


def evaluate_error(client: Any, rule: Rule, now: float, prefix: str = "oam") -> Reading:
    """One group per error group and service seen lately (see :func:`error_sample`)."""
    reading = Reading()
    for bucket in _buckets(client, index_pattern("errors", prefix), error_body(rule, now), reading):
        sample = error_sample(rule, now, bucket)
        if sample is not None:
            reading.add(sample)
    return reading


HEALTH = {"green": 0.0, "yellow": 1.0, "red": 2.0}
"""``elasticsearch_health``'s value of each cluster health status."""


def dead_letter_body(rule: Rule, now: float) -> dict[str, Any]:
    """The search body of a ``dead_letters`` check: the documents refused for good in the window."""
    return {"size": 0, "track_total_hits": True, "query": {"bool": {"filter": [_window(now, rule.window)]}}}


def evaluate_suite(client: Any, rule: Rule, now: float, prefix: str = "oam") -> Reading:
    """The suite's own figure as one group: the cluster health now, or the window's dead letters."""
    reading = Reading()
    if rule.check == "dead_letters":
        response = _search(client, f"{prefix}-{DEAD_LETTER}-*", dead_letter_body(rule, now), reading)
        reading.add(_sample(rule, {}, float(response["hits"]["total"]["value"]) if response else 0.0))
        return reading
    try:
        health = client.cluster.health()
    except Exception as exc:  # noqa: BLE001 - unreachable or refused: the rule is in error, the others go on
        raise _failed(exc) from exc
    status = str(health["status"])
    value = HEALTH.get(status, HEALTH["red"])
    reading.add(Sample({}, value, rule.breached(value),
                       {"status": status, "unassigned_shards": str(health.get("unassigned_shards", ""))}))
    return reading


def evaluate(client: Any, rule: Rule, now: float, hosts: Iterable[str] = (), prefix: str = "oam") -> Reading:
    """Run ``rule`` at ``now``; ``hosts``: the CMDB's expected hosts (``absent`` rules)."""
    if rule.kind == "error":
        return evaluate_error(client, rule, now, prefix)
    if rule.kind == "suite":
        return evaluate_suite(client, rule, now, prefix)
    if rule.kind == "absent":
        return evaluate_absent(client, rule, now, hosts, prefix)
    if rule.kind == "metric":
        return evaluate_metric(client, rule, now, prefix)
    if rule.kind == "log":
        return evaluate_log(client, rule, now, prefix)
    return evaluate_service(client, rule, now, prefix)
