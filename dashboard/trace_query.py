"""A trace search as the user asked for it: filters, duration bounds, sort and limit, checked.

The JSON API, the page and ``oam traces search`` all build a :class:`TraceQuery` with
:func:`parse_query` from ``(name, value)`` pairs, so they accept and refuse the same input::

    query = parse_query([("service", "backend"), ("min_duration", "200ms"), ("labels.shard", "2")])

A value that cannot be used raises :class:`BadTraceQuery`, whose message names the parameter.
Empty values mean "not given" (an HTML form sends its empty fields).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from .timerange import BadTimeRange, TimeRange

SORTS = ("newest", "slowest")
DURATION_OF = ("trace", "transaction")
OUTCOMES = ("success", "failure", "unknown")
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
TERM_FIELDS = {"service": "service.name", "operation": "transaction.name", "outcome": "event.outcome",
               "host": "host.name", "version": "service.version", "caller": "service.origin.name"}
"""Parameters matched against a transaction's keyword fields."""
TEXT_PARAMS = ("text", "error_group")
OTHER_PARAMS = ("status", "min_duration", "max_duration", "duration_of", "sort", "limit", "from", "to", "refresh")
LABEL = re.compile(r"labels\.([A-Za-z0-9_][A-Za-z0-9_.\-]{0,63})")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s)?")
MAX_VALUE = 200


class BadTraceQuery(ValueError):
    """A search parameter that cannot be used; the message names it and says what would do."""


@dataclass(frozen=True)
class TraceQuery:
    """What to look for. Durations are milliseconds; ``duration_of`` says whether they bound the whole
    trace (first start to last end of its transactions and spans) or one of its transactions."""

    time_range: TimeRange
    terms: dict[str, str] = field(default_factory=dict)  # ECS field -> value, matched by one transaction
    status: int | None = None
    labels: dict[str, str] = field(default_factory=dict)  # label name -> value, on a transaction or span
    text: str = ""  # words in one of the trace's log lines
    error_group: str = ""  # error.grouping_key of one of the trace's errors
    min_ms: float | None = None
    max_ms: float | None = None
    duration_of: str = "trace"
    sort: str = "newest"
    limit: int = DEFAULT_LIMIT

    def describe(self) -> dict[str, object]:
        """The query as plain data (echoed in the API's answer)."""
        return {"from": self.time_range.start.isoformat(), "to": self.time_range.end.isoformat(),
                **{name: self.terms[f] for name, f in TERM_FIELDS.items() if f in self.terms},
                "status": self.status, "labels": self.labels, "text": self.text, "error_group": self.error_group,
                "min_duration_ms": self.min_ms, "max_duration_ms": self.max_ms, "duration_of": self.duration_of,
                "sort": self.sort, "limit": self.limit}


def parse_duration(name: str, text: str) -> float:
    """``250``, ``250ms`` or ``1.5s`` as milliseconds (not negative)."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        hint = " (durations cannot be negative)" if text.strip().startswith("-") else ""
        raise BadTraceQuery(f"{name} must be a duration like 200, 200ms or 1.5s, not {text[:40]!r}{hint}")
    amount, unit = match.groups()
    return float(amount) * (1000.0 if unit == "s" else 1.0)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise BadTraceQuery(f"{name} must be one of {', '.join(choices)}, not {value[:40]!r}")
    return value


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadTraceQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {text[:20]!r}")
    return int(text)


def _status(text: str) -> int:
    if not text.isdigit() or not 100 <= int(text) <= 599:
        raise BadTraceQuery(f"status must be an HTTP status code (100 to 599), not {text[:20]!r}")
    return int(text)


def parse_query(pairs: Iterable[tuple[str, str]], now: datetime | None = None) -> TraceQuery:
    """A :class:`TraceQuery` from request parameters; :class:`BadTraceQuery` names the first bad one."""
    values: dict[str, str] = {}
    labels: dict[str, str] = {}
    for name, raw in pairs:
        value = raw.strip()
        if len(value) > MAX_VALUE:
            raise BadTraceQuery(f"{name[:40]} is too long (at most {MAX_VALUE} characters)")
        label = LABEL.fullmatch(name)
        if label:
            if value:
                labels[label.group(1)] = value
        elif name in TERM_FIELDS or name in TEXT_PARAMS or name in OTHER_PARAMS:
            if name in values and value and values[name] != value:
                raise BadTraceQuery(f"{name} is given twice ({values[name][:40]!r} and {value[:40]!r})")
            if value:
                values[name] = value
        else:
            raise BadTraceQuery(f"unknown search parameter {name[:40]!r}; expected one of "
                                f"{', '.join([*TERM_FIELDS, *TEXT_PARAMS, *OTHER_PARAMS[:-1]])} or labels.<name>")
    try:
        time_range = TimeRange.parse(values.get("from"), values.get("to"), now)
    except BadTimeRange as exc:
        raise BadTraceQuery(str(exc)) from None
    bounds = {key: parse_duration(key, values[key]) if key in values else None
              for key in ("min_duration", "max_duration")}
    if None not in bounds.values() and bounds["min_duration"] > bounds["max_duration"]:  # type: ignore[operator]
        raise BadTraceQuery(f"min_duration ({values['min_duration']}) is above max_duration ({values['max_duration']})")
    terms = {TERM_FIELDS[name]: values[name] for name in TERM_FIELDS if name in values}
    if "event.outcome" in terms:
        _choice("outcome", terms["event.outcome"], OUTCOMES)
    return TraceQuery(
        time_range=time_range, terms=terms, labels=labels,
        status=_status(values["status"]) if "status" in values else None,
        text=values.get("text", ""), error_group=values.get("error_group", ""),
        min_ms=bounds["min_duration"], max_ms=bounds["max_duration"],
        duration_of=_choice("duration_of", values.get("duration_of", "trace"), DURATION_OF),
        sort=_choice("sort", values.get("sort", "newest"), SORTS),
        limit=_limit(values["limit"]) if "limit" in values else DEFAULT_LIMIT)
