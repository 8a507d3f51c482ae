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

from telemetry.context import TraceIds, current_transaction_id
from telemetry.ecs import ServiceInfo, span_document, transaction_document

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


def to_document(span: ReadableSpan, service: ServiceInfo) -> tuple[str, dict[str, Any]]:
    """(kind, ECS document) for a finished span: ``transactions`` or ``spans``."""
    attrs = dict(span.attributes or {})
    ctx, parent = span.get_span_context(), span.parent
    span_id = _hex(ctx.span_id, 16)
    parent_id = _hex(parent.span_id, 16) if parent is not None else None
    started = datetime.fromtimestamp((span.start_time or 0) / 1e9, timezone.utc)
    duration = max(0, (span.end_time or 0) - (span.start_time or 0))
    labels = {key[len("labels."):]: value for key, value in attrs.items() if key.startswith("labels.")}
    if parent is None or parent.is_remote:
        ids = TraceIds(_hex(ctx.trace_id, 32), span_id, span_id, parent_id)
        http = {key[len("http."):]: value for key, value in attrs.items() if key.startswith("http.")}
        url = {key[len("url."):]: value for key, value in attrs.items() if key.startswith("url.")}
        kind_type = attrs.get("transaction.type") or _TRANSACTION_TYPES.get(span.kind, "request")
        doc = transaction_document(service, span.name, str(kind_type), ids, duration_ns=duration,
                                   outcome=_outcome(span), at=started, http=http, url=url, labels=labels)
        return "transactions", doc
    ids = TraceIds(_hex(ctx.trace_id, 32), attrs.get(TRANSACTION_ID), span_id, parent_id)
    doc = span_document(service, span.name, str(attrs.get("span.type", "custom")), ids, duration_ns=duration,
                        outcome=_outcome(span), at=started, labels=labels)
    return "spans", doc


class EcsFileSpanExporter(SpanExporter):
    """Appends each finished span as one ECS JSON line (with ``_kind``) to ``path``.

    Use it behind a ``BatchSpanProcessor`` so the writes happen off the request thread.
    """

    def __init__(self, path: Path, service: ServiceInfo) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.service = service
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            kind, doc = to_document(span, self.service)
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
