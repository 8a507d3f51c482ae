"""Sentry ``transaction`` items (any Sentry SDK's performance data) to ECS transactions and spans.

A Sentry transaction is one unit of work with the spans it made::

    {"type": "transaction", "transaction": "GET /orders/{id}", "start_timestamp": ..., "timestamp": ...,
     "contexts": {"trace": {"trace_id": "<32 hex>", "span_id": "<16 hex>", "parent_span_id": ..., "op": "http.server",
                            "status": "ok"}},
     "spans": [{"span_id": ..., "parent_span_id": ..., "op": "db", "description": "SELECT ...", ...}]}

It becomes a transaction document (its ``span_id`` is the ``transaction.id``, ``op`` the
``transaction.type``) and a span document per span, built by :mod:`telemetry.ecs` like the app
agent's, so a Sentry SDK's requests join the same trace tree. ``status`` ``ok`` (or none) is a
success, any other a failure. Times are seconds since the epoch or RFC 3339 text; a span with
bad ids or times is left out and named, the rest kept.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from telemetry.context import TraceIds
from telemetry.ecs import ServiceInfo, span_document, transaction_document

from .decode import Action, document_action
from .limits import Bounds, LimitError
from .otlp_ecs import label_key
from .sentry_event import SentryError

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_SUCCESS = (None, "", "ok")


def _moment(value: Any, what: str, bounds: Bounds) -> datetime:
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, timezone.utc)
        elif isinstance(value, str) and value:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise SentryError(400, f"{what}: {value!r} is not a time (seconds since the epoch or RFC 3339 text)") from None
    try:
        bounds.check_time(moment, what)
    except LimitError as exc:
        raise SentryError(400, str(exc)) from None
    return moment


def _nanos(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds() * 1e9))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _labels(tags: Any, project: str) -> dict[str, Any]:
    labels: dict[str, Any] = {"sentry_project": project}
    if isinstance(tags, list):  # [[key, value], ...], as older SDKs send them
        tags = {str(pair[0]): pair[1] for pair in tags if isinstance(pair, list) and len(pair) == 2}
    if isinstance(tags, dict):
        labels.update({label_key(str(key)): value for key, value in tags.items()
                       if isinstance(value, (str, bool, int, float))})
    return labels


def sentry_service(data: dict[str, Any], project: str) -> ServiceInfo:
    """Who sent it: ``release`` (``name@version``), ``server_name``, ``environment``."""
    name, _, version = (_text(data.get("release")) or "").partition("@")
    server = _text(data.get("server_name"))
    return ServiceInfo(name=name or server or f"sentry-{project}", version=version or "unknown",
                       environment=_text(data.get("environment")) or "production", host_name=server or "unknown")


def transaction_actions(data: Any, project: str, prefix: str, bounds: Bounds) -> tuple[list[Action], list[str]]:
    """The transaction's and its spans' actions, and one reason per span left out; SentryError if refused."""
    if not isinstance(data, dict):
        raise SentryError(400, f"transaction is not a JSON object (got {type(data).__name__})")
    contexts = data.get("contexts") if isinstance(data.get("contexts"), dict) else {}
    trace = contexts.get("trace") if isinstance(contexts.get("trace"), dict) else {}
    trace_id, span_id = str(trace.get("trace_id") or "").replace("-", "").lower(), str(trace.get("span_id") or "")
    if not _HEX32.match(trace_id) or not _HEX16.match(span_id):
        raise SentryError(400, "transaction field contexts.trace: needs trace_id (32 hex) and span_id (16 hex)")
    start = _moment(data.get("start_timestamp"), "transaction field start_timestamp", bounds)
    end = _moment(data.get("timestamp"), "transaction field timestamp", bounds)
    parent = _text(trace.get("parent_span_id"))
    service = sentry_service(data, project)
    labels = _labels(data.get("tags"), project)
    ids = TraceIds(trace_id, span_id, span_id, parent if parent and _HEX16.match(parent) else None)
    doc = transaction_document(service, _text(data.get("transaction")) or "unnamed", _text(trace.get("op")) or "custom",
                               ids, duration_ns=_nanos(start, end),
                               outcome="success" if trace.get("status") in _SUCCESS else "failure", at=start,
                               labels=labels, dataset="sentry.transaction")
    actions = [document_action(doc, "transactions", span_id, prefix, bounds)]
    skipped = []
    spans = data.get("spans") if isinstance(data.get("spans"), list) else []
    for number, item in enumerate(spans, start=1):
        try:
            actions.append(_span_action(item, service, trace_id, span_id, labels, prefix, bounds))
        except (SentryError, ValueError) as exc:
            skipped.append(f"span {number}: {exc}")
    return actions, skipped


def _span_action(item: Any, service: ServiceInfo, trace_id: str, transaction_id: str, labels: dict[str, Any],
                 prefix: str, bounds: Bounds) -> Action:
    if not isinstance(item, dict):
        raise SentryError(400, "not a JSON object")
    span_id, parent = str(item.get("span_id") or ""), str(item.get("parent_span_id") or transaction_id)
    if not _HEX16.match(span_id) or not _HEX16.match(parent):
        raise SentryError(400, "needs span_id and parent_span_id of 16 hex")
    start = _moment(item.get("start_timestamp"), "start_timestamp", bounds)
    end = _moment(item.get("timestamp"), "timestamp", bounds)
    op = _text(item.get("op")) or "custom"
    doc = span_document(service, _text(item.get("description")) or op, op.split(".")[0],
                        TraceIds(trace_id, transaction_id, span_id, parent), duration_ns=_nanos(start, end),
                        outcome="success" if item.get("status") in _SUCCESS else "failure", at=start,
                        labels={**labels, **_labels(item.get("tags"), labels["sentry_project"]),
                                "sentry_op": op}, dataset="sentry.span")
    return document_action(doc, "spans", span_id, prefix, bounds)
