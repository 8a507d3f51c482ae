"""Spans to ECS JSON lines in a local file: transactions and spans.

A span with no parent, or whose parent came from another process, is a *transaction* (an LTX:
its span id is the ``transaction.id``); any other span is a *span* of the transaction it ran in.
The ``transaction.id`` is stamped on each span when it starts (by :mod:`telemetry.tracer`),
because encoding happens later on a background thread that no longer sees the context.

:class:`EcsSpanProcessor` is what the app agent installs on its :class:`telemetry.tracer.Provider`:
it hands each finished span's record to a batch writer (see :mod:`agents.app.writer`). For a
service on the OpenTelemetry SDK, :mod:`agents.app.sdk_export` writes the same lines.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind, StatusCode

from telemetry.ecs import ServiceInfo
from telemetry.tracer import UNSET_STATUS, RecordedSpan, SpanProcessor

from .encoding import LineEncoder
from .lines import LineFormat
from .writer import BatchLineWriter

_CONSUMER = SpanKind.CONSUMER
_ERROR = StatusCode.ERROR


def span_record(span: Any) -> tuple[Any, ...]:
    """What :func:`~agents.app.lines.span_line` needs of a finished span, as a plain tuple (see :mod:`.lines`).

    ``span`` is a :class:`~telemetry.tracer.RecordedSpan` or an OpenTelemetry SDK ``ReadableSpan``:
    both have these fields.
    """
    ctx, parent, status = span.get_span_context(), span.parent, span.status
    return (span.name, ctx[0], ctx[1], parent[1] if parent is not None else None,
            parent is not None and parent[2], "job" if span.kind is _CONSUMER else "request",
            span.start_time or 0, span.end_time or 0, status.status_code is _ERROR,
            dict(span.attributes or {}))


class EcsSpanProcessor(SpanProcessor):
    """Writes each finished span as an ECS JSON line, in batches.

    The thread that ends a span only appends its record (a plain tuple) to a queue; the lines are
    made every ``interval`` seconds while spans come, by the line encoder process or, where there
    is none, on the writer's thread (see :mod:`agents.app.writer`).
    """

    def __init__(self, path: Path, service: ServiceInfo, interval: float = 0.1) -> None:
        self.writer = BatchLineWriter(path, LineFormat("spans", LineEncoder(service).prefix), interval=interval)
        self._submit = self.writer.submit

    def on_end(self, span: RecordedSpan) -> None:
        # read through the span's own fields: this runs for every span of every request
        ctx, parent, status = span.context, span.parent, span.status
        self._submit((span.name, ctx[0], ctx[1], parent[1] if parent is not None else None,
                      parent is not None and parent[2], "job" if span.kind is _CONSUMER else "request",
                      span.start_time, span.end_time, status is not UNSET_STATUS and status.status_code is _ERROR,
                      span.attributes))

    def shutdown(self) -> None:
        self.writer.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.writer.flush()
        return True
