"""Alert rules: one CMDB key each, ``<environment>/alerts/<name>``, checked by :data:`RULE_SCHEMA`.

A rule is JSON::

    {"kind": "service", "service": "order-service", "measure": "error_rate", "op": ">", "threshold": 5,
     "window": "1m", "interval": "30s", "for": "2m", "keep_firing_for": "0s", "severity": "critical",
     "group_by": ["host"], "no_data": "keep_state", "labels": {"team": "shop"},
     "annotations": {"summary": "{service} error rate {value:.1f}% > {threshold}%"},
     "runbook_url": "https://wiki.example/runbooks/order-errors"}

Kinds: ``service`` (``measure`` error_rate in percent of failed transactions, request_rate per
second, or latency in ms at ``percentile``; optional ``route``/``host``/``version`` filters and
``group_by`` of those), ``metric`` (``stat`` avg, max or min over the window of a metric
document's field ``metric`` or of the scraped Prometheus sample ``prometheus``, only documents
whose labels are ``match``; optional ``host`` filter and ``group_by`` host), ``log`` (the count
of log documents of ``level``, ``service``, ``host`` and ``text`` in the window; ``group_by``
service and/or host), ``absent`` (a host known to the CMDB in the rule's environment that
sent no metric document for ``intervals`` x ``metric_interval``; one group per host), ``error``
(one group per error group and service of ``oam-errors-*``, optionally only ``service``'s, by
``condition``: ``new``, first seen ever (within ``lookback``, default 168h) inside the window;
``regression``, seen in the window after at least ``quiet`` without an occurrence;
``frequency``, its count in the window compared with ``op``/``threshold``) and ``suite`` (the
suite itself, by ``check``: ``elasticsearch_health``, 0 green, 1 yellow, 2 red, or
``dead_letters``, the count of ``oam-deadletter-*`` documents in the window; ``op``/``threshold``
default to ``> 0``).
Durations are text: ``500ms``, ``30s``, ``2m``, ``1h``. Annotation templates are Python format
strings over ``value``, ``threshold``, ``rule``, ``environment``, ``service``, the group's labels
and its details (``error`` rules: ``error_type``, ``error_message``, ``first_seen``, ``last_seen``;
``elasticsearch_health``: ``status``, ``unassigned_shards``).
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

from cmdb.schema import violation
from foundation.log_levels import LEVELS

RULE_PATTERN = "*/alerts/*"
"""The CMDB key pattern of rules, for the schema registry."""
SERVICE = "alerts"
DURATION = r"^[0-9]+(\.[0-9]+)?(ms|s|m|h)$"
GROUP_FIELDS = {"host": "host.name", "route": "transaction.name", "version": "service.version"}
"""A ``service`` rule's group_by names and the document fields they stand for."""
KIND_GROUPS = {"service": tuple(GROUP_FIELDS), "metric": ("host",), "log": ("service", "host")}
"""The group_by names each kind allows."""
LOG_GROUP_FIELDS = {"service": "service.name", "host": "host.name"}
"""A ``log`` rule's group_by names and filters and the document fields they stand for."""
STATS = ("avg", "max", "min")
KIND_FIELDS = {"service": ("measure", "percentile", "route", "version", "min_requests"),
               "metric": ("metric", "prometheus", "stat", "match"), "log": ("level", "text"),
               "absent": ("intervals", "metric_interval", "role"), "error": ("condition", "quiet", "lookback"),
               "suite": ("check",)}
"""The fields only one kind has."""
MEASURES = ("error_rate", "request_rate", "latency")
CONDITIONS = ("new", "regression", "frequency")
"""An ``error`` rule's conditions."""
CHECKS = ("elasticsearch_health", "dead_letters")
"""A ``suite`` rule's checks."""
ERROR_LOOKBACK = 7 * 86400.0
"""How far back an ``error`` rule looks for a group's earlier occurrences, unless ``lookback`` says."""
NO_DATA = ("ok", "alerting", "keep_state")
OPERATORS = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__}

_duration = {"type": "string", "pattern": DURATION}
_text = {"type": "string", "minLength": 1}
RULE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["kind"],
    "additionalProperties": False,
    "properties": {
        "kind": {"enum": ["service", "metric", "log", "absent", "error", "suite"]},
        "description": {"type": "string"},
        "interval": _duration, "for": _duration, "keep_firing_for": _duration, "window": _duration,
        "severity": {"enum": ["critical", "warning", "info"]},
        "labels": {"type": "object", "additionalProperties": {"type": "string"},
                   "propertyNames": {"pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"},
                        "propertyNames": {"pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}},
        "no_data": {"enum": list(NO_DATA)},
        "runbook_url": {"type": "string", "pattern": "^https?://"},
        "enabled": {"type": "boolean"},
        # service
        "service": _text, "measure": {"enum": list(MEASURES)},
        "percentile": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
        "route": _text, "host": _text, "version": _text,
        "op": {"enum": list(OPERATORS)}, "threshold": {"type": "number"},
        "min_requests": {"type": "integer", "minimum": 1},
        "group_by": {"type": "array", "uniqueItems": True,
                     "items": {"enum": sorted({name for names in KIND_GROUPS.values() for name in names})}},
        # metric
        "metric": {"type": "string", "pattern": r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_-]+)*$"},
        "prometheus": {"type": "string", "pattern": "^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
        "stat": {"enum": list(STATS)},
        "match": {"type": "object", "additionalProperties": {"type": "string"},
                  "propertyNames": {"pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}},
        # log
        "level": {"if": {"type": "string"}, "then": {"enum": list(LEVELS)},
                  "else": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(LEVELS)}}},
        "text": _text,
        # absent
        "intervals": {"type": "integer", "minimum": 1}, "metric_interval": _duration,
        "role": _text,
        # error
        "condition": {"enum": list(CONDITIONS)}, "quiet": _duration, "lookback": _duration,
        # suite
        "check": {"enum": list(CHECKS)},
    },
    "allOf": [
        {"if": {"properties": {"kind": {"const": "service"}}},
         "then": {"required": ["service", "measure", "op", "threshold"]}},
        {"if": {"properties": {"measure": {"const": "latency"}}, "required": ["measure"]},
         "then": {"required": ["percentile"]}},
        {"if": {"properties": {"kind": {"const": "metric"}}},
         "then": {"required": ["op", "threshold"],
                  "oneOf": [{"required": ["metric"]}, {"required": ["prometheus"]}],
                  "properties": {"group_by": {"items": {"enum": list(KIND_GROUPS["metric"])}}}}},
        {"if": {"properties": {"kind": {"const": "log"}}},
         "then": {"required": ["op", "threshold"],
                  "properties": {"group_by": {"items": {"enum": list(KIND_GROUPS["log"])}}}}},
        {"if": {"properties": {"kind": {"const": "service"}}},
         "then": {"properties": {"group_by": {"items": {"enum": list(KIND_GROUPS["service"])}}}}},
        {"if": {"properties": {"kind": {"const": "absent"}}},
         "then": {"not": {"anyOf": [{"required": [name]} for name in
                                    ("service", "measure", "percentile", "route", "version", "group_by")]}}},
        {"if": {"properties": {"kind": {"const": "error"}}}, "then": {"required": ["condition"]}},
        {"if": {"properties": {"condition": {"const": "frequency"}}, "required": ["condition"]},
         "then": {"required": ["op", "threshold"]}},
        {"if": {"properties": {"condition": {"const": "regression"}}, "required": ["condition"]},
         "then": {"required": ["quiet"]}},
        {"if": {"properties": {"kind": {"const": "suite"}}}, "then": {"required": ["check"]}},
    ],
}


class RuleError(ValueError):
    """A rule that cannot be used; the message is one line naming the key and the field."""


def parse_duration(text: str) -> float:
    """Seconds in ``500ms``, ``30s``, ``2m``, ``1h``."""
    match = re.match(DURATION, text or "")
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number and ms, s, m or h (30s, 2m)")
    unit = match.group(2)
    return float(text[: -len(unit)]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def rule_key(environment: str, name: str) -> str:
    """The CMDB key of rule ``name`` in ``environment``."""
    return f"{environment}/{SERVICE}/{name}"


class _Blank(dict):
    """Format values: a name the template uses but the alert lacks stays as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, values: dict[str, Any]) -> str:
    """``template`` with ``values`` filled in; a field that cannot be formatted is left as written."""
    try:
        return string.Formatter().vformat(template, (), _Blank(values))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return template


@dataclass(frozen=True)
class Rule:
    """A checked rule, with its durations in seconds."""

    environment: str
    name: str
    kind: str
    interval: float = 30.0
    for_seconds: float = 0.0
    keep_firing_for: float = 0.0
    window: float = 300.0
    severity: str = "warning"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    no_data: str = "keep_state"
    runbook_url: str = ""
    enabled: bool = True
    service: str = ""
    measure: str = ""
    percentile: float = 95.0
    filters: dict[str, str] = field(default_factory=dict)  # group_by name -> value (route/host/version)
    op: str = ">"
    threshold: float = 0.0
    min_requests: int = 1
    group_by: tuple[str, ...] = ()
    intervals: int = 3
    metric_interval: float = 10.0
    role: str = ""
    metric: str = ""  # metric: a metric document's field ...
    prometheus: str = ""  # ... or a scraped Prometheus sample's name
    stat: str = "avg"
    match: dict[str, str] = field(default_factory=dict)  # metric: label name -> value
    levels: tuple[str, ...] = ()  # log
    text: str = ""  # log: words the message must contain
    condition: str = ""  # error: new, regression or frequency
    quiet: float = 0.0  # error regression: seconds without an occurrence before the window
    lookback: float = ERROR_LOOKBACK  # error: how far back earlier occurrences are looked for
    check: str = ""  # suite

    @property
    def key(self) -> str:
        return rule_key(self.environment, self.name)

    def breached(self, value: float) -> bool:
        """Is ``value`` past the threshold (``absent`` rules: always, a missing host is the condition)?"""
        return True if self.kind == "absent" else OPERATORS[self.op](float(value), float(self.threshold))

    def describe(self) -> str:
        """One line: what the rule watches."""
        if self.kind == "absent":
            return f"hosts of {self.environment} silent for {self.intervals} x {self.metric_interval:g}s"
        if self.kind in ("error", "suite"):
            return self._describe_watch()
        by = f" by {','.join(self.group_by)}" if self.group_by else ""
        where = "".join(f" {name}={value}" for name, value in sorted({**self.filters, **self.match}.items()))
        if self.kind == "metric":
            what = self.metric or f"prometheus {self.prometheus}"
            return f"{self.stat} {what}{where} {self.op} {self.threshold:g} over {self.window:g}s{by}"
        if self.kind == "log":
            what = "".join(f" {part}" for part in (self.service, "|".join(self.levels),
                                                   f"text {self.text!r}" if self.text else "") if part)
            return f"log documents{what}{where} {self.op} {self.threshold:g} over {self.window:g}s{by}"
        what = f"p{self.percentile:g} latency ms" if self.measure == "latency" else self.measure
        return f"{self.service}{where} {what} {self.op} {self.threshold:g} over {self.window:g}s{by}"

    def _describe_watch(self) -> str:
        """``error`` and ``suite`` rules' line."""
        compared = f"{self.op} {self.threshold:g}"
        if self.check == "elasticsearch_health":
            return f"Elasticsearch cluster health (0 green, 1 yellow, 2 red) {compared}"
        if self.check == "dead_letters":
            return f"dead letters {compared} over {self.window:g}s"
        of = f" of {self.service}" if self.service else ""
        where = f" host={self.filters['host']}" if "host" in self.filters else ""
        if self.condition == "new":
            return f"error groups{of}{where} first seen in the last {self.window:g}s"
        if self.condition == "regression":
            return f"error groups{of}{where} seen in the last {self.window:g}s after {self.quiet:g}s quiet"
        return f"occurrences of an error group{of}{where} {compared} over {self.window:g}s"


def check(key: str, value: Any) -> str | None:
    """The one-line reason ``value`` is no rule (schema, then templates), or None if it is one."""
    reason = _kind_reason(key, value) or violation(key, RULE_PATTERN, RULE_SCHEMA, value)
    if reason:
        return reason
    for name, template in sorted((value.get("annotations") or {}).items()):
        try:
            list(string.Formatter().parse(template))
        except ValueError as exc:
            return f"{key}: annotations.{name} is no valid template: {exc}"
    return None


def _kind_reason(key: str, value: Any) -> str | None:
    """A field of another kind, or a metric rule without exactly one of metric and prometheus."""
    kind = value.get("kind") if isinstance(value, dict) else None
    if kind not in KIND_FIELDS:
        return None
    for other, names in sorted(KIND_FIELDS.items()):
        for name in names:
            if other != kind and name in value:
                return f"{key}: {name!r} is a field of {other} rules, not of {kind} rules"
    if kind in ("metric", "absent", "suite") and "service" in value:
        return f"{key}: 'service' is a field of service, log and error rules, not of {kind} rules"
    for name in ("group_by", "host") if kind == "suite" else ("group_by",) if kind == "error" else ():
        if name in value:
            return f"{key}: {kind} rules take no {name!r} (their groups are fixed)"
    if kind == "error" and "quiet" in value and value.get("condition") != "regression":
        return f"{key}: 'quiet' is a field of error rules with condition regression only"
    if kind == "metric" and ("metric" in value) == ("prometheus" in value):
        return f"{key}: a metric rule needs exactly one of 'metric' (a document field) and 'prometheus' (a sample name)"
    return None


def parse_rule(key: str, value: Any) -> Rule:
    """The :class:`Rule` stored at ``key`` (``<environment>/alerts/<name>``), or :class:`RuleError`."""
    parts = key.strip("/").split("/")
    if len(parts) != 3 or parts[1] != SERVICE:
        raise RuleError(f"invalid rule key {key!r}: expected <environment>/{SERVICE}/<name>")
    reason = check(key, value)
    if reason:
        raise RuleError(reason)
    seconds = {name: parse_duration(value[name]) for name in ("interval", "for", "keep_firing_for", "window",
                                                             "metric_interval", "quiet", "lookback") if name in value}
    for name in ("interval", "window", "metric_interval", "lookback"):
        if seconds.get(name, 1.0) <= 0:
            raise RuleError(f"{key}: {name} must be longer than 0s")
    lookback = seconds.get("lookback", ERROR_LOOKBACK)
    if value["kind"] == "error" and lookback < seconds.get("window", 300.0) + seconds.get("quiet", 0.0):
        raise RuleError(f"{key}: lookback must be at least window + quiet ({lookback:g}s is shorter)")
    return Rule(
        environment=parts[0], name=parts[2], kind=value["kind"], interval=seconds.get("interval", 30.0),
        for_seconds=seconds.get("for", 0.0), keep_firing_for=seconds.get("keep_firing_for", 0.0),
        window=seconds.get("window", 300.0), severity=value.get("severity", "warning"),
        labels=dict(value.get("labels") or {}), annotations=dict(value.get("annotations") or {}),
        no_data=value.get("no_data", "keep_state"), runbook_url=value.get("runbook_url", ""),
        enabled=value.get("enabled", True), service=value.get("service", ""), measure=value.get("measure", ""),
        percentile=float(value.get("percentile", 95.0)),
        filters={name: value[name] for name in GROUP_FIELDS if name in value},
        op=value.get("op", ">"), threshold=float(value.get("threshold", 0.0)),
        min_requests=int(value.get("min_requests", 1)), group_by=tuple(value.get("group_by") or ()),
        intervals=int(value.get("intervals", 3)), metric_interval=seconds.get("metric_interval", 10.0),
        role=value.get("role", ""), metric=value.get("metric", ""), prometheus=value.get("prometheus", ""),
        stat=value.get("stat", "avg"), match=dict(value.get("match") or {}), levels=_levels(value.get("level")),
        text=value.get("text", ""), condition=value.get("condition", ""), quiet=seconds.get("quiet", 0.0),
        lookback=seconds.get("lookback", ERROR_LOOKBACK), check=value.get("check", ""))


def _levels(level: str | list[str] | None) -> tuple[str, ...]:
    if level is None:
        return ()
    return (level,) if isinstance(level, str) else tuple(level)
