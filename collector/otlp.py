"""OTLP/HTTP: ``/v1/traces`` and ``/v1/logs`` in protobuf or JSON, to ECS documents.

A span without a parent, or one that receives a call (kind SERVER or CONSUMER), is a transaction
(an LTX); every other span is a span of the nearest transaction above it in the same export.
Log records become log documents carrying the trace and span ids they were emitted under.
Attributes are mapped onto ECS as Elastic's APM Server maps them (:mod:`collector.otlp_ecs`):
semantic-convention names to ``http.*``, ``url.*``, ``db.*``, ``server.*``, ``user_agent.*``...,
the rest to ``labels.*`` and ``numeric_labels.*``; resource attributes to ``service.*``,
``host.*``, ``process.*``, ``agent.*`` or labels. A span's events become log documents of that
span (an ``exception`` event with its ``error.*``), its links ``span.links``.

Each span and log record is checked on its own (ids, size, JSON depth, timestamp window; see
:mod:`collector.limits`): a bad one is rejected with a reason and the rest of the export is
kept, which the answer reports as OTLP partial success (``rejectedSpans`` / ``rejectedLogRecords``).
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from telemetry.ecs import ECS_VERSION, log_level, stable_id, timestamp, to_nested

from .decode import Action, document_action
from .limits import DEFAULT_LIMITS, Bounds, LimitError, json_depth, parse_json
from .otlp_ecs import resource_fields, span_fields

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_TRANSACTION_KINDS = (Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CONSUMER)
_SPAN_TYPES = {Span.SPAN_KIND_SERVER: "request", Span.SPAN_KIND_CONSUMER: "messaging",
               Span.SPAN_KIND_CLIENT: "external", Span.SPAN_KIND_PRODUCER: "messaging",
               Span.SPAN_KIND_INTERNAL: "internal"}
_SEVERITY = ((21, "critical"), (17, "error"), (13, "warning"), (9, "info"), (1, "debug"))  # OTLP severity numbers
# protobuf's JSON reader raises ParseError for most bad input, TypeError or AttributeError for a
# value of the wrong JSON type in some places (a null where an object belongs)
_PARSE_ERRORS = (json_format.ParseError, TypeError, AttributeError, ValueError)
ENVELOPE_DEPTH = 8  # an export's own nesting around its spans or records (resource, scope, attributes)


@dataclass(frozen=True)
class Layout:
    """Where an export keeps its items, in OTLP/JSON and protobuf field names."""

    item: str
    message: type
    json: tuple[str, str, str]
    proto: tuple[str, str, str]


_LAYOUT = {ExportTraceServiceRequest: Layout("span", Span, ("resourceSpans", "scopeSpans", "spans"),
                                              ("resource_spans", "scope_spans", "spans")),
           ExportLogsServiceRequest: Layout("log record", LogRecord, ("resourceLogs", "scopeLogs", "logRecords"),
                                             ("resource_logs", "scope_logs", "log_records"))}


def register_layout(message_type: type, layout: Layout) -> None:
    """Tell the JSON reader where another export (``/v1/metrics``'s) keeps its items."""
    _LAYOUT[message_type] = layout


class OtlpError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Export:
    """What one export request gave: the actions to index and one reason per rejected span or record."""

    actions: list[Action] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes ids as hex; protobuf's JSON reader wants bytes as base64."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    value = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise ValueError(f"{key} {value[:64]!r} is not hex") from None
                out[key] = value
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def _take_items(body: dict[str, Any], layout: Layout) -> list[tuple[int, int, list[Any]]]:
    """Remove every scope's spans (or records) from ``body``: ``(group, scope, items)`` to parse one by one."""
    groups_key, scopes_key, items_key = layout.json
    taken = []
    groups = body.get(groups_key)
    for g, group in enumerate(groups if isinstance(groups, list) else []):
        scopes = group.get(scopes_key) if isinstance(group, dict) else None
        for s, scope in enumerate(scopes if isinstance(scopes, list) else []):
            if isinstance(scope, dict) and isinstance(scope.get(items_key), list):
                taken.append((g, s, scope.pop(items_key)))
    return taken


def _parse_item(item: Any, layout: Layout, bounds: Bounds) -> Any:
    """One OTLP/JSON span or log record as its message; ValueError naming what is wrong."""
    if not isinstance(item, dict):
        raise ValueError(f"expected a JSON object, got {type(item).__name__}")
    bounds.check_depth(item, "it")
    message, item = layout.message(), _hex_ids_to_base64(item)
    try:
        json_format.ParseDict(item, message, ignore_unknown_fields=True)
    except _PARSE_ERRORS as exc:
        raise ValueError(f"not a valid OTLP JSON {layout.message.__name__}: {exc}") from None
    return message


def _item_name(item: Any, number: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"{number} {name[:100]!r}" if isinstance(name, str) and name else str(number)


def parse_json_export(message_type: type, data: bytes, bounds: Bounds) -> tuple[Any, list[str]]:
    """An OTLP/JSON export: its message with every readable span or record, and a reason per unreadable one."""
    layout = _LAYOUT[message_type]
    try:
        body = parse_json(data, "body", bounds.limits.max_json_depth)
    except LimitError as exc:
        raise OtlpError(400, f"body is not a valid OTLP JSON {message_type.__name__}: {exc}") from None
    if not isinstance(body, dict):
        raise OtlpError(400, f"body is not a valid OTLP JSON {message_type.__name__}: expected a JSON object")
    taken = _take_items(body, layout)
    if json_depth(body) > bounds.limits.max_json_depth + ENVELOPE_DEPTH:
        raise OtlpError(400, f"body is nested deeper than {bounds.limits.max_json_depth} levels (max_json_depth)")
    message = message_type()
    try:
        json_format.ParseDict(body, message, ignore_unknown_fields=True)
    except _PARSE_ERRORS as exc:
        raise OtlpError(400, f"body is not a valid OTLP JSON {message_type.__name__}: {exc}") from None
    rejected = []
    groups_field, scopes_field, items_field = layout.proto
    for g, s, items in taken:
        target = getattr(getattr(getattr(message, groups_field)[g], scopes_field)[s], items_field)
        for number, item in enumerate(items, start=1):
            try:
                parsed = _parse_item(item, layout, bounds)
            except ValueError as exc:
                rejected.append(f"{layout.item} {_item_name(item, number)}: {exc}")
                continue
            target.add().CopyFrom(parsed)
    return message, rejected


def parse(message_type: type, data: bytes, content_type: str | None,
          bounds: Bounds | None = None) -> tuple[Any, list[str]]:
    """An export request in protobuf (the default) or JSON, and the reasons for the items JSON could not read."""
    media = (content_type or PROTOBUF).split(";")[0].strip().lower()
    if media == JSON:
        return parse_json_export(message_type, data, bounds or DEFAULT_LIMITS.at())
    if media != PROTOBUF:
        raise OtlpError(415, f"unsupported Content-Type {media!r} (use {PROTOBUF} or {JSON})")
    message = message_type()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise OtlpError(400, f"body is not a valid {message_type.__name__} protobuf: {exc}") from None
    return message, []


def any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {item.key: any_value(item.value) for item in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


def attributes(items: Any) -> dict[str, Any]:
    return {item.key: any_value(item.value) for item in items}


@dataclass(frozen=True)
class _Resource:
    """What every document of one resource carries: its ECS fields (dotted) and its labels."""

    fields: dict[str, Any]
    labels: dict[str, Any]
    numeric_labels: dict[str, Any]


def resource_of(resource_attrs: dict[str, Any]) -> _Resource:
    fields, labels, numeric = resource_fields(resource_attrs)
    fields = {"service.name": "unknown_service", "service.version": "unknown",
              "service.environment": "development", "host.name": "unknown", **fields}
    fields = {key: value if key == "host.ip" else str(value) if key.startswith(("service.", "host.name"))
              else value for key, value in fields.items()}
    return _Resource({"ecs.version": ECS_VERSION, **fields}, labels, numeric)


def _document(resource: _Resource, own: dict[str, Any], attrs: dict[str, Any],
              extra_labels: dict[str, Any] | None = None) -> dict[str, Any]:
    """A nested document: the resource's fields, ``own`` (dotted), the attributes mapped onto ECS."""
    fields, labels, numeric = span_fields(attrs)
    labels = {**resource.labels, **labels, **(extra_labels or {})}
    numeric = {**resource.numeric_labels, **numeric}
    doc = to_nested({**resource.fields, **fields, **own})
    if labels:
        doc["labels"] = labels
    if numeric:
        doc["numeric_labels"] = numeric
    return doc


def nano_timestamp(nanos: int) -> str:
    return timestamp(datetime.fromtimestamp(nanos / 1e9, timezone.utc))


def _is_transaction(span: Span) -> bool:
    return not span.parent_span_id or span.kind in _TRANSACTION_KINDS


def _transaction_of(span: Span, by_id: dict[bytes, Span]) -> bytes | None:
    """The span id of the nearest transaction at or above ``span`` within one export."""
    seen = set()
    current: Span | None = span
    while current is not None and current.span_id not in seen:
        if _is_transaction(current):
            return current.span_id
        seen.add(current.span_id)
        current = by_id.get(current.parent_span_id)
    return None


def _span_actions(span: Span, resource: _Resource, by_id: dict[bytes, Span], prefix: str,
                  bounds: Bounds) -> list[Action]:
    """One span as a transaction or span document, and its events as log documents; ValueError naming what is wrong."""
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        raise ValueError("invalid trace or span id (16 and 8 bytes)")
    bounds.check_size(span.ByteSize(), "span")
    transaction = _is_transaction(span)
    kind = "transactions" if transaction else "spans"
    outcome = {Status.STATUS_CODE_ERROR: "failure", Status.STATUS_CODE_OK: "success"}.get(span.status.code, "success")
    name_field = "transaction" if transaction else "span"
    trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
    owner = span.span_id if transaction else _transaction_of(span, by_id)
    ids = {"trace.id": trace_id, "span.id": span_id, "transaction.id": owner.hex() if owner else None,
           "parent.id": span.parent_span_id.hex() if span.parent_span_id else None}
    own: dict[str, Any] = {
        "@timestamp": nano_timestamp(span.start_time_unix_nano), "event.dataset": "otlp.trace", "event.kind": "event",
        "event.outcome": outcome, "event.duration": max(0, span.end_time_unix_nano - span.start_time_unix_nano),
        f"{name_field}.name": span.name, f"{name_field}.type": _SPAN_TYPES.get(span.kind, "internal"), **ids}
    doc = _document(resource, own, attributes(span.attributes),
                    {"status_message": span.status.message} if span.status.message else None)
    links = [{"trace": {"id": link.trace_id.hex()}, "span": {"id": link.span_id.hex()}}
             for link in span.links if len(link.trace_id) == 16 and len(link.span_id) == 8]
    if links:
        doc.setdefault("span", {})["links"] = links
    actions = [document_action(doc, kind, span_id, prefix, bounds)]
    for number, event in enumerate(span.events):
        event_doc = _document(resource, {
            "@timestamp": nano_timestamp(event.time_unix_nano or span.start_time_unix_nano), "event.dataset": "otlp.span_event",
            "event.kind": "event", "message": event.name, **{k: v for k, v in ids.items() if k != "parent.id"},
            "log.level": "error" if event.name == "exception" else "info"}, attributes(event.attributes))
        actions.append(document_action(event_doc, "logs", stable_id("otlp-span-event", trace_id, span_id, number),
                                       prefix, bounds))
    return actions


def span_actions(request: ExportTraceServiceRequest, prefix: str = "oam", bounds: Bounds | None = None) -> Export:
    """Transactions and spans of every span in the export (and logs of their events); a reason for each span refused."""
    bounds = bounds or DEFAULT_LIMITS.at()
    export = Export()
    for resource_spans in request.resource_spans:
        resource = resource_of(attributes(resource_spans.resource.attributes))
        spans = [span for scope in resource_spans.scope_spans for span in scope.spans]
        by_id = {span.span_id: span for span in spans}
        for span in spans:
            try:
                export.actions.extend(_span_actions(span, resource, by_id, prefix, bounds))
            except ValueError as exc:
                export.rejected.append(f"span {span.name[:100]!r} ({span.span_id.hex() or 'no id'}): {exc}")
    return export


def _severity(number: int, text: str) -> str:
    if text:
        return log_level(text)
    for floor, name in _SEVERITY:
        if number >= floor:
            return name
    return "info"


def _log_action(record: LogRecord, scope_name: str, resource: _Resource, prefix: str,
                bounds: Bounds) -> Action:
    """One log record as a log document; ValueError naming what is wrong."""
    bounds.check_size(record.ByteSize(), "log record")
    nanos = record.time_unix_nano or record.observed_time_unix_nano
    body = any_value(record.body)
    message = body if isinstance(body, str) else json.dumps(body, sort_keys=True, default=str)
    own: dict[str, Any] = {
        "@timestamp": nano_timestamp(nanos) if nanos else timestamp(), "event.dataset": "otlp.log", "event.kind": "event",
        "message": message, "log.level": _severity(record.severity_number, record.severity_text),
        "log.logger": scope_name or None,
        "trace.id": record.trace_id.hex() if len(record.trace_id) == 16 else None,
        "span.id": record.span_id.hex() if len(record.span_id) == 8 else None}
    doc = _document(resource, own, attributes(record.attributes))
    doc_id = stable_id("otlp-log", record.SerializeToString(deterministic=True).hex(),
                       json.dumps(resource.fields, sort_keys=True))
    return document_action(doc, "logs", doc_id, prefix, bounds)


def log_actions(request: ExportLogsServiceRequest, prefix: str = "oam", bounds: Bounds | None = None) -> Export:
    """Log documents of every log record in the export; a reason for each record refused."""
    bounds = bounds or DEFAULT_LIMITS.at()
    export = Export()
    for resource_logs in request.resource_logs:
        resource = resource_of(attributes(resource_logs.resource.attributes))
        for scope in resource_logs.scope_logs:
            for number, record in enumerate(scope.log_records, start=1):
                try:
                    export.actions.append(_log_action(record, scope.scope.name, resource, prefix, bounds))
                except ValueError as exc:
                    export.rejected.append(f"log record {number}: {exc}")
    return export


def request_actions(message_type: type, to_actions: Any, data: bytes, content_type: str | None, prefix: str,
                     bounds: Bounds | None) -> Export:
    bounds = bounds or DEFAULT_LIMITS.at()
    message, unreadable = parse(message_type, data, content_type, bounds)
    export = to_actions(message, prefix, bounds)
    export.rejected[:0] = unreadable
    return export


def trace_request_actions(data: bytes, content_type: str | None, prefix: str = "oam",
                          bounds: Bounds | None = None) -> Export:
    """``/v1/traces``: the actions of the export's spans and a reason per rejected span."""
    return request_actions(ExportTraceServiceRequest, span_actions, data, content_type, prefix, bounds)


def log_request_actions(data: bytes, content_type: str | None, prefix: str = "oam",
                        bounds: Bounds | None = None) -> Export:
    """``/v1/logs``: the actions of the export's log records and a reason per rejected record."""
    return request_actions(ExportLogsServiceRequest, log_actions, data, content_type, prefix, bounds)
