"""OpenTelemetry spans to ECS JSON lines in a local file: transactions and spans.

A span with no parent, or whose parent came from another process, is a *transaction* (an LTX:
its span id is the ``transaction.id``); any other span is a *span* of the transaction it ran in.
The ``transaction.id`` is stamped on each span when it starts, because encoding happens later
on a background thread that no longer sees the context.

:class:`EcsSpanProcessor` is what the app agent installs: one span processor that stamps the
LTX and hands each finished span's record to a batch writer (see :mod:`agents.app.writer`).
:class:`EcsFileSpanExporter` writes the same lines behind any SDK span processor.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode, TraceFlags

from telemetry.context import TRANSACTION_ID, current_transaction_id
from telemetry.ecs import ServiceInfo

from .encoding import LineEncoder
from .lines import LineFormat, span_line
from .tracer import UNSET_STATUS as _UNSET
from .writer import BatchLineWriter

_SAMPLED = TraceFlags.SAMPLED


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


_CONSUMER = SpanKind.CONSUMER


def span_record(span: ReadableSpan) -> tuple[Any, ...]:
    """What :func:`~agents.app.lines.span_line` needs of a finished span, as a plain tuple (see :mod:`.lines`)."""
    ctx, parent, status = span.get_span_context(), span.parent, span.status
    return (span.name, ctx[0], ctx[1], parent[1] if parent is not None else None,
            parent is not None and parent[2], "job" if span.kind is _CONSUMER else "request",
            span.start_time or 0, span.end_time or 0, status.status_code is StatusCode.ERROR,
            dict(span.attributes or {}))


def _lean_record_submitter(submit: Callable[[tuple[Any, ...]], None]) -> Callable[[Span], None]:
    """``span -> submit(record)`` for the agent's own spans, read through their fields (no property calls)."""

    def submit_record(span: Span) -> None:
        ctx, parent, status = span._context, span._parent, span._status  # type: ignore[attr-defined]
        submit((span._name, ctx[0], ctx[1], parent[1] if parent is not None else None,  # type: ignore[attr-defined]
                parent is not None and parent[2], "job" if span._kind is _CONSUMER else "request",  # type: ignore[attr-defined]
                span._start_time, span._end_time,  # type: ignore[attr-defined]
                status is not _UNSET and status.status_code is StatusCode.ERROR,
                span._attributes))  # type: ignore[attr-defined]

    return submit_record


class EcsSpanProcessor(SpanProcessor):
    """Stamps the LTX when a span starts; writes it as an ECS JSON line, in batches, when it ends.

    The thread that ends a span only appends its record (a plain tuple) to a queue; the lines are
    made every ``interval`` seconds while spans come, by the line encoder process or, where there
    is none, on the writer's thread (see :mod:`agents.app.writer`).
    """

    on_start_skips_lean_spans = True  # the agent's tracer stamps its own spans

    def __init__(self, path: Path, service: ServiceInfo, interval: float = 0.1) -> None:
        self.writer = BatchLineWriter(path, LineFormat("spans", LineEncoder(service).prefix), interval=interval)
        # the agent's own spans are always sampled: LeanSpan.end hands them to this
        self.on_end_of_lean_span = _lean_record_submitter(self.writer.submit)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        _stamp_transaction_id(span)

    def on_end(self, span: ReadableSpan) -> None:
        if span.get_span_context()[3] & _SAMPLED:  # trace_flags, read as the tuple item it is
            self.writer.submit(span_record(span))

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
            lines = [span_line(span_record(span), self._encoder) for span in spans]
            self._file.write(b"\n".join(lines) + b"\n")
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
