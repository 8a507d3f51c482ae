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
from functools import partial
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode, TraceFlags

from telemetry.context import TRANSACTION_ID, current_transaction_id
from telemetry.ecs import ServiceInfo

from .encoding import LineEncoder, id_value, second_prefix
from .tracer import UNSET_STATUS as _UNSET
from .writer import BatchLineWriter

_SAMPLED = TraceFlags.SAMPLED
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

    on_start_skips_lean_spans = True  # the agent's tracer stamps its own spans

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        _stamp_transaction_id(span)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_OUTCOMES = {"success": b"success", "failure": b"failure", "unknown": b"unknown"}

# A line is one ``%`` format of a template (see :mod:`agents.app.encoding`): the service prefix,
# timestamp, dataset, duration, outcome, trace id, then per kind the span fields, then the
# fields taken from attributes, each part already encoded.
_SPAN_LINE = (b'%s"@timestamp":"%s.%06dZ","event":{"dataset":"oam.span","kind":"event","duration":%d,"outcome":"%s"},'
              b'"trace":{"id":"%032x"},"parent":{"id":"%016x"},"span":{"id":"%016x",%s}%s%s,"_kind":"spans"}')
_TRANSACTION_LINE = (b'%s"@timestamp":"%s.%06dZ","event":{"dataset":"oam.transaction","kind":"event","duration":%d,'
                     b'"outcome":"%s"},"trace":{"id":"%032x"}%s,"span":{"id":"%016x"},'
                     b'"transaction":{"id":"%016x",%s}%s,"_kind":"transactions"}')
_PARENT = b',"parent":{"id":"%016x"}'
_TRANSACTION_FIELD = b',"transaction":{"id":%s}'
_TRANSACTION_FIELDS = ("labels.", "http.", "url.")  # attributes a transaction line carries as fields
_SPAN_FIELDS = ("labels.",)


def span_line(span: ReadableSpan, encoder: LineEncoder) -> bytes:
    """One JSON line for ``span``: the fields of :mod:`telemetry.ecs`'s builders, plus ``_kind``.

    This runs for every span, so the line is one byte template (see :mod:`agents.app.encoding`);
    only names and free-form values go through the JSON encoder. The agent's own spans are
    read through their fields, others through the SDK's properties.
    """
    if getattr(type(span), "lean", False):  # the agent's own span (LeanSpan): its fields, no property calls
        name, ctx, parent, kind, attrs = span._name, span._context, span._parent, span._kind, span._attributes
        start, end, status = span._start_time, span._end_time or 0, span._status
    else:
        name, ctx, parent, kind, attrs = span.name, span.get_span_context(), span.parent, span.kind, span.attributes or {}
        start, end, status = span.start_time or 0, span.end_time or 0, span.status
    seconds, nanos = divmod(start, 1_000_000_000)
    outcome = _OUTCOMES.get(attrs["event.outcome"]) if "event.outcome" in attrs else None  # type: ignore[arg-type]
    if outcome is None:
        outcome = b"success" if status is _UNSET or status.status_code is not StatusCode.ERROR else b"failure"
    duration = end - start if end > start else 0
    if parent is None or parent[2]:  # no parent, or a remote one (is_remote): a transaction (LTX)
        kind_type = attrs.get("transaction.type") or _TRANSACTION_TYPES.get(kind, "request")
        return _TRANSACTION_LINE % (
            encoder.prefix, second_prefix(seconds), nanos // 1000, duration, outcome, ctx[0],
            _PARENT % parent[1] if parent is not None else b"", ctx[1], ctx[1],
            encoder.name_and_type(name, kind_type), encoder.attribute_fields(attrs, _TRANSACTION_FIELDS))
    ltx = attrs.get(TRANSACTION_ID)
    return _SPAN_LINE % (
        encoder.prefix, second_prefix(seconds), nanos // 1000, duration, outcome, ctx[0], parent[1], ctx[1],
        encoder.name_and_type(name, attrs.get("span.type", "custom")),
        _TRANSACTION_FIELD % id_value(ltx) if ltx else b"",
        encoder.attribute_fields(attrs, _SPAN_FIELDS))


class EcsSpanProcessor(SpanProcessor):
    """Stamps the LTX when a span starts; writes it as an ECS JSON line, in batches, when it ends.

    The request thread only appends the finished span to a queue (for the agent's own spans,
    ``on_end_of_lean_span``: the queue's ``append`` itself); encoding and the file write happen
    on the writer's thread every ``interval`` seconds while spans come (see
    :mod:`agents.app.writer`).
    """

    on_start_skips_lean_spans = True  # the agent's tracer stamps its own spans

    def __init__(self, path: Path, service: ServiceInfo, interval: float = 0.1) -> None:
        encoder = LineEncoder(service)
        self.writer = BatchLineWriter(path, partial(span_line, encoder=encoder), interval=interval)
        # the agent's own spans are always sampled: LeanSpan.end hands them straight to the queue
        self.on_end_of_lean_span = self.writer.submit

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        _stamp_transaction_id(span)

    def on_end(self, span: ReadableSpan) -> None:
        if span.get_span_context()[3] & _SAMPLED:  # trace_flags, read as the tuple item it is
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
        with self._lock:  # the encoder is for one thread at a time
            if self._file.closed:
                return SpanExportResult.FAILURE
            lines = [span_line(span, self._encoder) for span in spans]
            self._file.write(b"\n".join(lines) + b"\n")
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
