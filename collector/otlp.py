"""OTLP/HTTP: ``/v1/traces`` and ``/v1/logs`` in protobuf or JSON, to ECS documents.

A span without a parent, or one that receives a call (kind SERVER or CONSUMER), is a transaction
(an LTX); every other span is a span of the nearest transaction above it in the same export.
Log records become log documents carrying the trace and span ids they were emitted under.
"""
from __future__ import annotations

import base64
import json
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
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from telemetry.ecs import log_level, stable_id, timestamp

from .decode import Action, document_action

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_TRANSACTION_KINDS = (Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CONSUMER)
_SPAN_TYPES = {Span.SPAN_KIND_SERVER: "request", Span.SPAN_KIND_CONSUMER: "messaging",
               Span.SPAN_KIND_CLIENT: "external", Span.SPAN_KIND_PRODUCER: "messaging",
               Span.SPAN_KIND_INTERNAL: "internal"}
_SEVERITY = ((21, "critical"), (17, "error"), (13, "warning"), (9, "info"), (1, "debug"))  # OTLP severity numbers


class OtlpError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes ids as hex; protobuf's JSON reader wants bytes as base64."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    value = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise OtlpError(400, f"{key} {value!r} is not hex") from None
                out[key] = value
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def parse(message_type: type, data: bytes, content_type: str | None) -> Any:
    """An export request in protobuf (the default) or JSON."""
    media = (content_type or PROTOBUF).split(";")[0].strip().lower()
    message = message_type()
    if media == PROTOBUF:
        try:
            message.ParseFromString(data)
        except DecodeError as exc:
            raise OtlpError(400, f"body is not a valid {message_type.__name__} protobuf: {exc}") from None
    elif media == JSON:
        try:
            json_format.ParseDict(_hex_ids_to_base64(json.loads(data)), message, ignore_unknown_fields=True)
        except (ValueError, json_format.ParseError) as exc:
            raise OtlpError(400, f"body is not a valid OTLP JSON {message_type.__name__}: {exc}") from None
    else:
        raise OtlpError(415, f"unsupported Content-Type {media!r} (use {PROTOBUF} or {JSON})")
    return message


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


def _label_value(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _labels(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes as ECS ``labels`` (dots made underscores, so no key clashes with an object)."""
    return {key.replace(".", "_"): _label_value(value) for key, value in attrs.items()}


def _service(resource_attrs: dict[str, Any]) -> dict[str, Any]:
    fields = {"service": {"name": str(resource_attrs.get("service.name") or "unknown_service"),
                          "version": str(resource_attrs.get("service.version") or "unknown"),
                          "environment": str(resource_attrs.get("deployment.environment.name")
                                             or resource_attrs.get("deployment.environment") or "development")}}
    host = resource_attrs.get("host.name")
    fields["host"] = {"name": str(host or "unknown")}
    return fields


def _ts(nanos: int) -> str:
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


def span_actions(request: ExportTraceServiceRequest, prefix: str = "oam") -> list[Action]:
    """Transactions and spans of every span in the export."""
    actions = []
    for resource_spans in request.resource_spans:
        resource = _service(attributes(resource_spans.resource.attributes))
        spans = [span for scope in resource_spans.scope_spans for span in scope.spans]
        by_id = {span.span_id: span for span in spans}

        for span in spans:
            if len(span.trace_id) != 16 or len(span.span_id) != 8:
                raise OtlpError(400, f"span {span.name!r} has an invalid trace or span id")
            transaction = _is_transaction(span)
            kind = "transactions" if transaction else "spans"
            outcome = {Status.STATUS_CODE_ERROR: "failure", Status.STATUS_CODE_OK: "success"}.get(
                span.status.code, "success")
            name_field = "transaction" if transaction else "span"
            doc: dict[str, Any] = {
                "@timestamp": _ts(span.start_time_unix_nano), **resource,
                "event": {"dataset": "otlp.trace", "kind": "event", "outcome": outcome,
                          "duration": max(0, span.end_time_unix_nano - span.start_time_unix_nano)},
                "trace": {"id": span.trace_id.hex()},
                "span": {"id": span.span_id.hex()},
            }
            doc.setdefault(name_field, {}).update(name=span.name, type=_SPAN_TYPES.get(span.kind, "internal"))
            owner = span.span_id if transaction else _transaction_of(span, by_id)
            if owner:
                doc.setdefault("transaction", {})["id"] = owner.hex()
            if span.parent_span_id:
                doc["parent"] = {"id": span.parent_span_id.hex()}
            labels = _labels(attributes(span.attributes))
            if span.status.message:
                labels["status_message"] = span.status.message
            if labels:
                doc["labels"] = labels
            actions.append(document_action(doc, kind, span.span_id.hex(), prefix))
    return actions


def _severity(number: int, text: str) -> str:
    if text:
        return log_level(text)
    for floor, name in _SEVERITY:
        if number >= floor:
            return name
    return "info"


def log_actions(request: ExportLogsServiceRequest, prefix: str = "oam") -> list[Action]:
    """Log documents of every log record in the export."""
    actions = []
    for resource_logs in request.resource_logs:
        resource = _service(attributes(resource_logs.resource.attributes))
        for scope in resource_logs.scope_logs:
            for record in scope.log_records:
                nanos = record.time_unix_nano or record.observed_time_unix_nano
                body = any_value(record.body)
                message = body if isinstance(body, str) else json.dumps(body, sort_keys=True, default=str)
                doc: dict[str, Any] = {
                    "@timestamp": _ts(nanos) if nanos else timestamp(), **resource,
                    "event": {"dataset": "otlp.log", "kind": "event"},
                    "message": message,
                    "log": {"level": _severity(record.severity_number, record.severity_text),
                            "logger": scope.scope.name or None},
                }
                if doc["log"]["logger"] is None:
                    del doc["log"]["logger"]
                if len(record.trace_id) == 16:
                    doc["trace"] = {"id": record.trace_id.hex()}
                if len(record.span_id) == 8:
                    doc["span"] = {"id": record.span_id.hex()}
                labels = _labels(attributes(record.attributes))
                if labels:
                    doc["labels"] = labels
                doc_id = stable_id("otlp-log", record.SerializeToString(deterministic=True).hex(),
                                   json.dumps(resource, sort_keys=True))
                actions.append(document_action(doc, "logs", doc_id, prefix))
    return actions


def trace_request_actions(data: bytes, content_type: str | None, prefix: str = "oam") -> list[Action]:
    return span_actions(parse(ExportTraceServiceRequest, data, content_type), prefix)


def log_request_actions(data: bytes, content_type: str | None, prefix: str = "oam") -> list[Action]:
    return log_actions(parse(ExportLogsServiceRequest, data, content_type), prefix)
