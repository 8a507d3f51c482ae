"""OpenTelemetry spans to ECS JSON lines in a local file: transactions and spans.

A span with no parent, or whose parent came from another process, is a *transaction* (an LTX:
its span id is the ``transaction.id``); any other span is a *span* of the transaction it ran in.
The ``transaction.id`` is stamped on each span when it starts, because encoding happens later
on a background thread that no longer sees the context.

:class:`EcsSpanProcessor` is what the app agent installs: one span processor that stamps the
LTX and hands each finished span to a batch writer thread (see :mod:`agents.app.writer`).
:class:`EcsFileSpanExporter` writes the same lines behind any SDK span processor.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode, TraceFlags

from telemetry.context import current_transaction_id
from telemetry.ecs import ServiceInfo, to_nested

from .encoding import LineEncoder, json_value, second_prefix
from .writer import BatchLineWriter

TRANSACTION_ID = "transaction.id"
_TRANSACTION_TYPES = {SpanKind.SERVER: "request", SpanKind.CONSUMER: "job"}


def _stamp_transaction_id(span: Span) -> None:
    if TRANSACTION_ID in span.attributes:  # telemetry.span() gives it from the start
        return
    parent = span.parent
    if parent is None or parent.is_remote:
        return
    ltx = current_transaction_id()
    if ltx:
        span.set_attribute(TRANSACTION_ID, ltx)


class TransactionIdProcessor(SpanProcessor):
    """Records the current LTX on every span that is not itself a transaction."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        _stamp_transaction_id(span)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"request.method": "GET"}`` -> ``{"request": {"method": "GET"}}`` (cheap for one dot)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        head, dot, rest = key.partition(".")
        if not dot:
            if head in out:
                return to_nested(flat)
            out[head] = value
        elif "." in rest or not isinstance(out.setdefault(head, {}), dict):
            return to_nested(flat)
        else:
            out[head][rest] = value
    return out


_OUTCOMES = {"success": b"success", "failure": b"failure", "unknown": b"unknown"}

# The fixed part of a line: dataset, duration, outcome, trace id, then per kind the span fields.
_HEAD = (b'"@timestamp":"%s.%06dZ","event":{"dataset":"%s","kind":"event","duration":%d,"outcome":"%s"},'
         b'"trace":{"id":"%032x"}')
_SPAN = b',"parent":{"id":"%016x"},"span":{"id":"%016x","name":%s,"type":%s}'
_TRANSACTION = b',"span":{"id":"%016x"},"transaction":{"id":"%016x","name":%s,"type":%s}'
_PARENT = b',"parent":{"id":"%016x"}'


def span_line(span: ReadableSpan, encoder: LineEncoder) -> bytes:
    """One JSON line for ``span``: the fields of :mod:`telemetry.ecs`'s builders, plus ``_kind``.

    This runs for every span, so the line is written from byte templates (see
    :mod:`agents.app.encoding`); only names and free-form values go through the JSON encoder.
    """
    attrs = span.attributes or {}
    ctx, parent = span.get_span_context(), span.parent
    is_transaction = parent is None or parent.is_remote
    start, end = span.start_time or 0, span.end_time or 0
    seconds, nanos = divmod(start, 1_000_000_000)
    outcome = _OUTCOMES.get(attrs.get("event.outcome")) if "event.outcome" in attrs else None  # type: ignore[arg-type]
    if outcome is None:
        outcome = b"failure" if span.status.status_code is StatusCode.ERROR else b"success"
    parts = [encoder.prefix, _HEAD % (second_prefix(seconds), nanos // 1000,
                                      b"oam.transaction" if is_transaction else b"oam.span",
                                      max(0, end - start), outcome, ctx.trace_id)]
    labels: dict[str, Any] = {}
    if is_transaction:
        if parent is not None:
            parts.append(_PARENT % parent.span_id)
        kind_type = attrs.get("transaction.type") or _TRANSACTION_TYPES.get(span.kind, "request")
        parts.append(_TRANSACTION % (ctx.span_id, ctx.span_id, encoder.name(span.name), encoder.name(str(kind_type))))
        http: dict[str, Any] = {}
        url: dict[str, Any] = {}
        for key, value in attrs.items():
            if key.startswith("labels."):
                labels[key[7:]] = value
            elif key.startswith("http."):
                http[key[5:]] = value
            elif key.startswith("url."):
                url[key[4:]] = value
        if http:
            parts += [b',"http":', json_value(_nest(http))]
        if url:
            parts += [b',"url":', json_value(_nest(url))]
    else:
        parts.append(_SPAN % (parent.span_id, ctx.span_id, encoder.name(span.name),
                              encoder.name(str(attrs.get("span.type", "custom")))))
        if attrs.get(TRANSACTION_ID):
            parts += [b',"transaction":{"id":', json_value(str(attrs[TRANSACTION_ID])), b"}"]
        for key, value in attrs.items():
            if key.startswith("labels."):
                labels[key[7:]] = value
    if labels:
        parts += [b',"labels":', json_value(labels)]
    parts.append(b',"_kind":"transactions"}' if is_transaction else b',"_kind":"spans"}')
    return b"".join(parts)


class EcsSpanProcessor(SpanProcessor):
    """Stamps the LTX when a span starts; writes it as an ECS JSON line, in batches, when it ends.

    The request thread only appends the finished span to a queue; encoding and the file write
    happen on the writer's thread every ``interval`` seconds while spans come (see
    :mod:`agents.app.writer`).
    """

    def __init__(self, path: Path, service: ServiceInfo, interval: float = 0.02) -> None:
        encoder = LineEncoder(service)
        self.writer = BatchLineWriter(path, lambda span: span_line(span, encoder), interval=interval,
                                      name="oam-span-writer")

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        _stamp_transaction_id(span)

    def on_end(self, span: ReadableSpan) -> None:
        if span.get_span_context().trace_flags & TraceFlags.SAMPLED:
            self.writer.submit(span)

    def shutdown(self) -> None:
        self.writer.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.writer.flush()
        return True


class EcsFileSpanExporter(SpanExporter):
    """Appends each finished span as one ECS JSON line (with ``_kind``) to ``path``.

    Use it behind a ``BatchSpanProcessor`` so the writes happen off the request thread.
    """

    def __init__(self, path: Path, service: ServiceInfo) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.service = service
        self._encoder = LineEncoder(service)
        self._lock = threading.Lock()
        self._file = open(self.path, "ab")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [span_line(span, self._encoder) for span in spans]
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            self._file.write(b"\n".join(lines) + b"\n")
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
