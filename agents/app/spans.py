"""OpenTelemetry spans to ECS JSON lines in a local file: transactions and spans.

A span with no parent, or whose parent came from another process, is a *transaction* (an LTX:
its span id is the ``transaction.id``); any other span is a *span* of the transaction it ran in.
:class:`TransactionIdProcessor` stamps each span with that ``transaction.id`` when it starts,
because the exporter, running later on a background thread, no longer sees the context.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

from telemetry.context import current_transaction_id
from telemetry.ecs import ServiceInfo, timestamp, to_nested

TRANSACTION_ID = "transaction.id"
_TRANSACTION_TYPES = {SpanKind.SERVER: "request", SpanKind.CONSUMER: "job"}


class TransactionIdProcessor(SpanProcessor):
    """Records the current LTX on every span that is not itself a transaction."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        parent = span.parent
        ltx = current_transaction_id()
        if parent is not None and not parent.is_remote and ltx:
            span.set_attribute(TRANSACTION_ID, ltx)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _outcome(span: ReadableSpan) -> str:
    declared = (span.attributes or {}).get("event.outcome")
    if declared in ("success", "failure", "unknown"):
        return str(declared)
    return "failure" if span.status.status_code is StatusCode.ERROR else "success"


def _service_fields(service: ServiceInfo) -> dict[str, Any]:
    fields: dict[str, Any] = {"service": {"name": service.name, "version": service.version,
                                          "environment": service.environment},
                              "host": {"name": service.host_name}}
    if service.agent_id:
        fields["agent"] = {"id": service.agent_id}
    return fields


def _prefixed(attrs: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``{"http.response.status_code": 200}`` with prefix ``http.`` -> ``{"response": {"status_code": 200}}``."""
    return to_nested({key[len(prefix):]: value for key, value in attrs.items() if key.startswith(prefix)})


def to_document(span: ReadableSpan, service: ServiceInfo,
                service_fields: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(kind, ECS document) for a finished span: ``transactions`` or ``spans``.

    Built as nested dicts directly (this runs for every span), with the same fields the
    builders in :mod:`telemetry.ecs` produce.
    """
    attrs = dict(span.attributes or {})
    ctx, parent = span.get_span_context(), span.parent
    span_id = _hex(ctx.span_id, 16)
    is_transaction = parent is None or parent.is_remote
    kind = "transactions" if is_transaction else "spans"
    doc: dict[str, Any] = {"@timestamp": timestamp(datetime.fromtimestamp((span.start_time or 0) / 1e9, timezone.utc))}
    doc.update(service_fields or _service_fields(service))
    doc["event"] = {"dataset": "oam.transaction" if is_transaction else "oam.span", "kind": "event",
                    "duration": max(0, (span.end_time or 0) - (span.start_time or 0)), "outcome": _outcome(span)}
    doc["trace"] = {"id": _hex(ctx.trace_id, 32)}
    doc["span"] = {"id": span_id}
    if parent is not None:
        doc["parent"] = {"id": _hex(parent.span_id, 16)}
    if is_transaction:
        kind_type = attrs.get("transaction.type") or _TRANSACTION_TYPES.get(span.kind, "request")
        doc["transaction"] = {"id": span_id, "name": span.name, "type": str(kind_type)}
        http, url = _prefixed(attrs, "http."), _prefixed(attrs, "url.")
        if http:
            doc["http"] = http
        if url:
            doc["url"] = url
    else:
        doc["span"].update(name=span.name, type=str(attrs.get("span.type", "custom")))
        if attrs.get(TRANSACTION_ID):
            doc["transaction"] = {"id": attrs[TRANSACTION_ID]}
    labels = {key[len("labels."):]: value for key, value in attrs.items() if key.startswith("labels.")}
    if labels:
        doc["labels"] = labels
    return kind, doc


class EcsFileSpanExporter(SpanExporter):
    """Appends each finished span as one ECS JSON line (with ``_kind``) to ``path``.

    Use it behind a ``BatchSpanProcessor`` so the writes happen off the request thread.
    """

    def __init__(self, path: Path, service: ServiceInfo) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.service = service
        self._service_fields = _service_fields(service)
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            kind, doc = to_document(span, self.service, self._service_fields)
            doc["_kind"] = kind
            lines.append(json.dumps(doc, separators=(",", ":"), default=str))
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
