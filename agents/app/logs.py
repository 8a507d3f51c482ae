"""ECS JSON log lines with ``trace.id``, ``transaction.id`` and ``span.id`` from the context.

:class:`EcsLogHandler` runs on the thread that logs: it notes the message, the level and the
ids of the current span (no formatting, no I/O) and hands them to a
:class:`~agents.app.writer.BatchLineWriter`, which writes them out with :func:`log_line` on its
own thread. :class:`EcsJsonFormatter` gives the same line for any other handler. The line has
the fields :func:`telemetry.ecs.log_document` gives, plus ``_kind``.
"""
from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import NamedTuple

from opentelemetry import trace

from telemetry.context import current_ids, current_transaction_id
from telemetry.ecs import ServiceInfo

from .encoding import LineEncoder, encode_value, iso_utc_from_seconds, quote
from .writer import BatchLineWriter


class LogEntry(NamedTuple):
    """What a record leaves behind on the logging thread; encoded later."""

    created: float
    message: str
    level: str
    logger: str
    trace_id: int | None
    span_id: int | None
    transaction_id: str | None
    error: dict[str, str] | None


def _error_fields(record: logging.LogRecord) -> dict[str, str] | None:
    if not record.exc_info or record.exc_info[0] is None:
        return None
    exc_type, exc, tb = record.exc_info
    stack = record.exc_text or "".join(traceback.format_exception(exc_type, exc, tb))
    return {"type": exc_type.__name__, "message": str(exc), "stack_trace": stack}


def entry_of(record: logging.LogRecord) -> LogEntry:
    """The entry for ``record``, with the ids of the span current on this thread."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return LogEntry(record.created, record.getMessage(), record.levelname, record.name, context.trace_id,
                        context.span_id, current_transaction_id(), _error_fields(record))
    return LogEntry(record.created, record.getMessage(), record.levelname, record.name, None, None, None,
                    _error_fields(record))


def log_line(entry: LogEntry, encoder: LineEncoder) -> str:
    """One JSON line, written out field by field (this runs for every record)."""
    parts = [encoder.prefix, '"@timestamp":"', iso_utc_from_seconds(entry.created),
             '","event":{"dataset":"oam.log","kind":"event"}']
    if entry.trace_id is not None:
        parts += [',"trace":{"id":"', "%032x" % entry.trace_id, '"},"span":{"id":"', "%016x" % entry.span_id, '"}']
        if entry.transaction_id:
            parts += [',"transaction":{"id":', quote(entry.transaction_id), "}"]
    parts += [',"message":', quote(entry.message), ',"log":{"level":', quote(entry.level.lower())]
    if entry.logger:
        parts += [',"logger":', quote(entry.logger)]
    parts.append("}")
    if entry.error:
        parts += [',"error":', encode_value({key: value for key, value in entry.error.items() if value is not None})]
    parts.append(',"_kind":"logs"}')
    return "".join(parts)


class EcsLogHandler(logging.Handler):
    """Hands each record (with the current ids) to a background writer of ECS JSON lines."""

    def __init__(self, path: Path, service: ServiceInfo, level: int = logging.NOTSET, interval: float = 0.25) -> None:
        super().__init__(level)
        encoder = LineEncoder(service)
        self.writer = BatchLineWriter(path, lambda entry: log_line(entry, encoder), interval=interval,
                                      name="oam-log-writer")

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        # No handler lock: the writer's queue is safe to append to from any thread.
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.submit(entry_of(record))
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
        super().close()


class EcsJsonFormatter(logging.Formatter):
    """Formats a record as one ECS JSON line; the ids come from the current transaction."""

    def __init__(self, service: ServiceInfo) -> None:
        super().__init__()
        self.service = service
        self._encoder = LineEncoder(service)

    def format(self, record: logging.LogRecord) -> str:
        ids = current_ids()
        entry = LogEntry(record.created, record.getMessage(), record.levelname, record.name,
                         int(ids.trace_id, 16) if ids else None, int(ids.span_id, 16) if ids else None,
                         ids.transaction_id if ids else None, _error_fields(record))
        return log_line(entry, self._encoder)
