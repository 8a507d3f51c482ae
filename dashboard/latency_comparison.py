"""A service's latency distribution, and a selection of its transactions compared with the rest.

The *histogram* counts the service's transactions in the range by ``event.duration`` in fixed
log-spaced buckets (:data:`EDGES_MS`, ten a decade from 0.1 ms to 100 s), failures apart: one
``range`` aggregation.

A *selection* is a duration range (brushed on the histogram) and/or the failed transactions
(``event.outcome: failure``); the *baseline* is every other transaction of the service in the
range. Each value of each dimension gets its share of the selection and of the baseline, and
rows are ranked by how over-represented the value is (selection share minus baseline share):

* fields of the service's transactions — :data:`TRANSACTION_FIELDS` and its ``labels.*`` (from
  the mapping, :data:`MAX_LABELS` at most) — exactly, by two filtered ``terms`` aggregations in
  one request; shares are of transactions;
* documents of the same traces — span ``labels.*`` (shard, cache hit ...), error groups, log
  levels — over a sample: the newest :data:`SAMPLE_TRACES` traces of each side (the trace
  search's ids aggregation), then ``terms`` with a ``cardinality`` of ``trace.id``; shares are
  of traces.

Every ``terms`` is capped (:data:`SELECTION_TERMS`, :data:`BASELINE_TERMS`), so the cost is
bounded whatever the data. No scripts, no raw documents.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telemetry.templates import index_pattern

from .timerange import BadTimeRange, TimeRange
from .trace_query import BadTraceQuery, parse_duration
from .trace_search import SEARCH_OPTIONS, ids_aggregation

_R10 = (1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0)
EDGES_MS = tuple(round(m * 10.0 ** e, 4) for e in range(-1, 5) for m in _R10) + (100_000.0,)
"""Bucket edges in milliseconds; below the first and from the last edge are two open buckets."""
TRANSACTION_FIELDS = ("host.name", "service.version", "transaction.name", "http.response.status_code",
                      "event.outcome")
TRACE_FIELDS = (("errors", "error.grouping_key"), ("logs", "log.level"))
"""Fields of other documents of the selected traces, besides span labels."""
MAX_LABELS = 20
SELECTION_TERMS, BASELINE_TERMS = 20, 50
SAMPLE_TRACES = 1_000
MAX_ROWS = 200
SEARCH_PARAMS = {"host.name": "host", "service.version": "version", "transaction.name": "operation",
                 "http.response.status_code": "status", "event.outcome": "outcome", "error.grouping_key": "error_group"}
"""Trace search parameter filtering by a dimension (``labels.*`` are their own parameter)."""
PARAMS = ("from", "to", "min_ms", "max_ms", "failed")
_LABEL = re.compile(r"labels\.[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
_AGGREGATABLE = {"keyword", "boolean", "long", "integer", "short", "byte", "double", "float"}


class BadSelection(ValueError):
    """A parameter that cannot be used; the message names it."""


@dataclass(frozen=True)
class Selection:
    """Transactions of the range with a duration in ``[min_ms, max_ms]`` and/or failed."""

    time_range: TimeRange
    min_ms: float | None = None
    max_ms: float | None = None
    failed: bool = False

    def filter(self) -> dict[str, Any]:
        conditions: list[dict[str, Any]] = []
        bounds = {op: int(ms * 1_000_000) for op, ms in (("gte", self.min_ms), ("lte", self.max_ms)) if ms is not None}
        if bounds:
            conditions.append({"range": {"event.duration": bounds}})
        if self.failed:
            conditions.append({"term": {"event.outcome": "failure"}})
        return {"bool": {"filter": conditions}}

    def search_params(self) -> dict[str, str]:
        """The trace search parameters finding these transactions."""
        params = {"from": self.time_range.start.isoformat(), "to": self.time_range.end.isoformat()}
        if self.min_ms is not None or self.max_ms is not None:
            params["duration_of"] = "transaction"
        if self.min_ms is not None:
            params["min_duration"] = _ms_text(self.min_ms)
        if self.max_ms is not None:
            params["max_duration"] = _ms_text(self.max_ms)
        if self.failed:
            params["outcome"] = "failure"
        return params

    def describe(self) -> dict[str, Any]:
        return {"from": self.time_range.start.isoformat(), "to": self.time_range.end.isoformat(),
                "min_ms": self.min_ms, "max_ms": self.max_ms, "failed": self.failed}


def _ms_text(ms: float) -> str:
    return f"{ms:.3f}".rstrip("0").rstrip(".")


def _values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, raw in pairs:
        value = raw.strip()
        if name == "refresh":
            continue
        if name not in PARAMS:
            raise BadSelection(f"unknown parameter {name[:40]!r}; expected one of {', '.join(PARAMS)}")
        if len(value) > 64:
            raise BadSelection(f"{name} is too long (at most 64 characters)")
        if name in values and value and values[name] != value:
            raise BadSelection(f"{name} is given twice ({values[name][:40]!r} and {value[:40]!r})")
        if value:
            values[name] = value
    return values


def _time_range(values: dict[str, str], now: datetime | None) -> TimeRange:
    try:
        return TimeRange.parse(values.get("from"), values.get("to"), now)
    except BadTimeRange as exc:
        raise BadSelection(str(exc)) from None


def parse_range(pairs: Iterable[tuple[str, str]], now: datetime | None = None) -> TimeRange:
    """The histogram's range from ``from``/``to`` (the only parameters it takes)."""
    values = _values(pairs)
    extra = sorted(set(values) - {"from", "to"})
    if extra:
        raise BadSelection(f"{extra[0]} is not a parameter of the histogram (only from and to)")
    return _time_range(values, now)


def parse_selection(pairs: Iterable[tuple[str, str]], now: datetime | None = None) -> Selection:
    """A :class:`Selection` from ``from``, ``to``, ``min_ms``, ``max_ms`` (``250``, ``250ms``, ``1.5s``)
    and ``failed`` (``1``/``true``); at least one of the last three."""
    values = _values(pairs)
    bounds = {}
    for name in ("min_ms", "max_ms"):
        try:
            bounds[name] = parse_duration(name, values[name]) if name in values else None
        except BadTraceQuery as exc:
            raise BadSelection(str(exc)) from None
    failed = values.get("failed", "0").lower()
    if failed not in ("0", "1", "true", "false"):
        raise BadSelection(f"failed must be 1 or 0 (true or false), not {failed[:20]!r}")
    low, high = bounds["min_ms"], bounds["max_ms"]
    if low is not None and high is not None and low > high:
        raise BadSelection(f"min_ms ({values['min_ms']}) is above max_ms ({values['max_ms']})")
    if low is None and high is None and failed in ("0", "false"):
        raise BadSelection("select transactions with min_ms and/or max_ms, or failed=1")
    return Selection(_time_range(values, now), low, high, failed in ("1", "true"))


# -- queries ---------------------------------------------------------------------------------------
def service_filters(service: str, time_range: TimeRange) -> list[dict[str, Any]]:
    return [time_range.query(), {"term": {"service.name": service}}]


def histogram_aggregation() -> dict[str, Any]:
    """Counts per log-spaced duration bucket (``event.duration`` is in nanoseconds), failures apart."""
    edges = [int(ms * 1_000_000) for ms in EDGES_MS]
    ranges = [{"to": edges[0]}, *({"from": a, "to": b} for a, b in zip(edges, edges[1:])), {"from": edges[-1]}]
    return {"durations": {"range": {"field": "event.duration", "ranges": ranges},
                          "aggs": {"failed": {"filter": {"term": {"event.outcome": "failure"}}}}},
            "failed": {"filter": {"term": {"event.outcome": "failure"}}},
            "percentiles": {"percentiles": {"field": "event.duration", "percents": [50, 95, 99]}}}


def histogram(response: Any) -> dict[str, Any]:
    """``{"count", "failed", "percentiles_ms", "buckets": [{"from_ms", "to_ms", "count", "failed"}]}``,
    the buckets from the first to the last non-empty one (``from_ms``/``to_ms`` None when open)."""
    aggs = response.get("aggregations", {})
    raw = aggs.get("durations", {}).get("buckets", [])
    buckets = [{"from_ms": b["from"] / 1e6 if b.get("from") is not None else None,
                "to_ms": b["to"] / 1e6 if b.get("to") is not None else None,
                "count": b["doc_count"], "failed": b["failed"]["doc_count"]} for b in raw]
    used = [i for i, b in enumerate(buckets) if b["count"]]
    values = aggs.get("percentiles", {}).get("values", {})
    return {"count": sum(b["count"] for b in buckets), "failed": aggs.get("failed", {}).get("doc_count", 0),
            "percentiles_ms": {f"p{float(k):g}": round(v / 1e6, 3) for k, v in values.items() if v is not None},
            "buckets": buckets[used[0]:used[-1] + 1] if used else []}


def _terms(field: str, size: int, traces: bool = False) -> dict[str, Any]:
    agg: dict[str, Any] = {"terms": {"field": field, "size": size, "order": [{"_count": "desc"}, {"_key": "asc"}]}}
    if traces:
        agg["aggs"] = {"traces": {"cardinality": {"field": "trace.id", "precision_threshold": 3 * SAMPLE_TRACES}}}
    return agg


def _sides(selection_filter: dict[str, Any], baseline_filter: dict[str, Any], fields: list[str],
           traces: bool = False) -> dict[str, Any]:
    return {side: {"filter": where, "aggs": {str(i): _terms(f, size, traces) for i, f in enumerate(fields)}}
            for side, where, size in (("selection", selection_filter, SELECTION_TERMS),
                                      ("baseline", baseline_filter, BASELINE_TERMS))}


def transaction_aggregation(selection: Selection, fields: list[str]) -> dict[str, Any]:
    """Per field, the terms of the selected and of the other transactions (one request)."""
    chosen = selection.filter()
    return _sides(chosen, {"bool": {"must_not": [chosen]}}, fields)


def transaction_fields(selection: Selection, labels: list[str]) -> list[str]:
    """The compared fields of transactions: the fixed ones (not the outcome when selecting failures) and labels."""
    fixed = [f for f in TRANSACTION_FIELDS if not (selection.failed and f == "event.outcome")]
    return fixed + labels


def trace_sources(span_labels: list[str]) -> list[tuple[str, str]]:
    """``(kind, field)`` compared over the sampled traces: span labels, then :data:`TRACE_FIELDS`."""
    return [("spans", label) for label in span_labels] + list(TRACE_FIELDS)


def trace_aggregation(prefix: str, selected: list[str], others: list[str],
                      sources: list[tuple[str, str]]) -> dict[str, Any]:
    """Per ``(kind, field)``, the terms and their trace counts in the selected and in the other traces."""
    def per_source(size: int) -> dict[str, Any]:
        return {str(i): {"filter": {"prefix": {"_index": f"{prefix}-{kind}-"}},
                         "aggs": {"terms": _terms(field, size, traces=True)}} for i, (kind, field) in enumerate(sources)}

    return {side: {"filter": {"terms": {"trace.id": ids}}, "aggs": per_source(size)}
            for side, ids, size in (("selection", selected, SELECTION_TERMS), ("baseline", others, BASELINE_TERMS))}


def label_fields(caps: Any) -> list[str]:
    """Aggregatable ``labels.*`` fields of a ``field_caps`` answer, by name, :data:`MAX_LABELS` at most."""
    fields = caps.get("fields", {})
    names = [name for name, types in fields.items() if _LABEL.fullmatch(name)
             and any(t in _AGGREGATABLE and c.get("aggregatable", False) for t, c in types.items())]
    return sorted(names)[:MAX_LABELS]


# -- shares and ranking ----------------------------------------------------------------------------
def _key(bucket: dict[str, Any]) -> str:
    return str(bucket.get("key_as_string", bucket["key"]))


def counts(buckets: list[dict[str, Any]], traces: bool = False) -> dict[str, int]:
    """Value -> how many transactions (or, with ``traces``, distinct traces) have it."""
    return {_key(b): (b["traces"]["value"] if traces else b["doc_count"]) for b in buckets}


def rows(dimension: str, source: str, selected: dict[str, int], others: dict[str, int],
         selected_total: int, others_total: int) -> list[dict[str, Any]]:
    """One row per value seen on either side: counts, shares (0..1) and the score (share difference)."""
    out = []
    for value in sorted(set(selected) | set(others)):
        mine, theirs = selected.get(value, 0), others.get(value, 0)
        share = mine / selected_total if selected_total else 0.0
        base = theirs / others_total if others_total else 0.0
        out.append({"dimension": dimension, "source": source, "value": value,
                    "selection": {"count": mine, "share": round(share, 4)},
                    "baseline": {"count": theirs, "share": round(base, 4)},
                    "score": round(share - base, 4), "filter": search_filter(dimension, value)})
    return out


def rank(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most over-represented first: score, then selection share, then dimension and value."""
    return sorted(candidates, key=lambda r: (-r["score"], -r["selection"]["share"], r["dimension"], r["source"],
                                             r["value"]))


def search_filter(dimension: str, value: str) -> dict[str, str] | None:
    """The trace search parameter matching this value, if the search has one (log levels: none)."""
    if dimension.startswith("labels."):
        return {dimension: value}
    name = SEARCH_PARAMS.get(dimension)
    return {name: value} if name else None


def transaction_rows(response: Any, fields: list[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rows of the transaction fields, and the two sides' transaction counts."""
    aggs = response.get("aggregations", {})
    sel, base = aggs.get("selection", {}), aggs.get("baseline", {})
    totals = {"selection": sel.get("doc_count", 0), "baseline": base.get("doc_count", 0)}
    out: list[dict[str, Any]] = []
    for i, field in enumerate(fields):
        out += rows(field, "transactions", counts(sel.get(str(i), {}).get("buckets", [])),
                    counts(base.get(str(i), {}).get("buckets", [])), totals["selection"], totals["baseline"])
    return out, totals


def trace_rows(response: Any, sources: list[tuple[str, str]], selected: int, others: int) -> list[dict[str, Any]]:
    """Rows of the fields of the sampled traces' other documents (shares of traces)."""
    aggs = response.get("aggregations", {})
    out: list[dict[str, Any]] = []
    for i, (kind, field) in enumerate(sources):
        sel, base = (counts(aggs.get(name, {}).get(str(i), {}).get("terms", {}).get("buckets", []), traces=True)
                     for name in ("selection", "baseline"))
        out += rows(field, kind, sel, base, selected, others)
    return out


# -- running them ----------------------------------------------------------------------------------
def latency_histogram(es: Any, prefix: str, service: str, time_range: TimeRange) -> dict[str, Any]:
    """The service's transaction durations in the range, as :func:`histogram` describes."""
    response = es.search(index=index_pattern("transactions", prefix), size=0,
                         query={"bool": {"filter": service_filters(service, time_range)}},
                         aggs=histogram_aggregation(), **SEARCH_OPTIONS)
    return {"service": service, "from": time_range.start.isoformat(), "to": time_range.end.isoformat(),
            **histogram(response)}


def _labels(es: Any, prefix: str, kind: str) -> list[str]:
    caps = es.field_caps(index=index_pattern(kind, prefix), fields="labels.*", **SEARCH_OPTIONS)
    return label_fields(caps)


def _sample(es: Any, index: str, filters: list[dict[str, Any]]) -> list[str]:
    response = es.search(index=index, size=0, query={"bool": {"filter": filters}},
                         aggs=ids_aggregation(SAMPLE_TRACES), **SEARCH_OPTIONS)
    return [b["key"] for b in response.get("aggregations", {}).get("traces", {}).get("buckets", [])]


def compare(es: Any, prefix: str, service: str, selection: Selection) -> dict[str, Any]:
    """The selection against the baseline: ``{"selection": {...}, "totals", "sample", "rows": [...]}``."""
    transactions = index_pattern("transactions", prefix)
    where = service_filters(service, selection.time_range)
    fields = transaction_fields(selection, _labels(es, prefix, "transactions"))
    response = es.search(index=transactions, size=0, query={"bool": {"filter": where}},
                         aggs=transaction_aggregation(selection, fields), **SEARCH_OPTIONS)
    found, totals = transaction_rows(response, fields)
    chosen = selection.filter()
    selected = _sample(es, transactions, [*where, chosen])
    others = _sample(es, transactions, [*where, {"bool": {"must_not": [chosen]}}])
    sources = trace_sources(_labels(es, prefix, "spans"))
    if selected or others:
        indices = ",".join(index_pattern(kind, prefix) for kind in ("spans", "errors", "logs"))
        response = es.search(index=indices, size=0,
                             query={"bool": {"filter": [{"terms": {"trace.id": selected + others}}]}},
                             aggs=trace_aggregation(prefix, selected, others, sources),
                             **SEARCH_OPTIONS)
        found += trace_rows(response, sources, len(selected), len(others))
    return {"service": service, "selection": selection.describe(), "totals": totals,
            "sample": {"selection": len(selected), "baseline": len(others),
                       "truncated": SAMPLE_TRACES in (len(selected), len(others))},
            "search": selection.search_params(), "rows": rank(found)[:MAX_ROWS]}
