"""ECS JSON log lines with ``trace.id``, ``transaction.id`` and ``span.id`` from the context.

:class:`EcsLogHandler` runs on the thread that logs: it notes the message, the level and the
ids of the current span (no I/O) as a record and hands it to a
:class:`~agents.app.writer.BatchLineWriter`, whose lines :func:`~agents.app.lines.log_line`
makes in the line encoder process (or on the writer's thread). :class:`EcsJsonFormatter` gives the same line for any other handler. The line has
the fields :func:`telemetry.ecs.log_document` gives, plus ``_kind``.
"""
from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from telemetry.context import current_ids, current_transaction_id
from telemetry.ecs import ServiceInfo
from telemetry.runtime_context import SPAN_KEY, get_current

from .encoding import LineEncoder
from .lines import LineFormat, log_line
from .log_records import UNKNOWN_FILE, UNKNOWN_FUNCTION, install_lean_records
from .writer import BatchLineWriter


class LogEntry(NamedTuple):
    """What a record leaves behind on the logging thread, encoded later (the log record of :mod:`.lines`).

    The handler makes these as plain tuples in this order: the line encoder process takes only those.
    """

    created: float
    message: str
    level: str
    logger: str
    trace_id: int | None
    span_id: int | None
    transaction_id: str | None
    error: dict[str, str] | None
    origin: tuple[str, int, str, int | None, str | None] | None  # telemetry.ecs.LogOrigin's fields


def _error_fields(record: logging.LogRecord) -> dict[str, str] | None:
    if not record.exc_info or record.exc_info[0] is None:
        return None
    exc_type, exc, tb = record.exc_info
    stack = record.exc_text or "".join(traceback.format_exception(exc_type, exc, tb))
    return {"type": exc_type.__name__, "message": str(exc), "stack_trace": stack}


_find_caller = logging.Logger.findCaller


def _unknown_caller(self: logging.Logger, stack_info: bool = False, stacklevel: int = 1) -> tuple[Any, ...]:
    """``Logger.findCaller`` without the stack walk: what logging gives when it does not look (stacks still shown)."""
    if stack_info:
        return _find_caller(self, stack_info, stacklevel + 1)
    return UNKNOWN_FILE, 0, UNKNOWN_FUNCTION, None


def _origin(record: logging.LogRecord) -> tuple[str, int, str, int | None, str | None]:
    """The record's ``log.origin.*`` and ``process.thread.*`` (thread None when logging did not look)."""
    return (record.filename, record.lineno, record.funcName or "", record.thread,
            record.threadName if record.thread is not None else None)


def skip_unused_record_fields(keep_origin: bool = True) -> Callable[[], None]:
    """Stop ``logging`` looking up what the agent's lines never carry; returns the undo.

    With ``keep_origin`` (the default) the lines carry the caller's file, line and function and
    the thread (``log.origin.*``, ``process.thread.*``), so logging looks them up as it does by
    default and nothing is switched off. Without it, every lookup below is off:

    Each record otherwise walks the stack for the caller's file and line and asks for the
    thread and process names: a third of a record's cost. The thread and process lookups are
    the module's documented switches (``logThreads``, ``logProcesses``, ``logMultiprocessing``,
    the logging HOWTO's "Optimization" section); the caller is found by ``Logger.findCaller``,
    a documented method, which is replaced on ``logging.Logger`` by one that returns what
    logging records when it does not look (a record asked for ``stack_info`` still gets the
    real caller and stack). This applies to the whole process, so a formatter that prints
    ``%(threadName)s`` or ``%(lineno)d`` shows none while the agent runs. Records are then made
    as :class:`~agents.app.log_records.LeanLogRecord` objects.
    """
    if keep_origin:
        return lambda: None
    saved = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    replaced = logging.Logger.findCaller
    logging.Logger.findCaller = _unknown_caller  # type: ignore[method-assign,assignment]
    undo_records = install_lean_records()  # the fields these switches leave the same on every record

    def undo() -> None:
        undo_records()
        if logging.Logger.findCaller is _unknown_caller:  # unless someone replaced it since
            logging.Logger.findCaller = replaced  # type: ignore[method-assign]
        logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved

    return undo


class EcsLogHandler(logging.Handler):
    """Hands each record (with the current ids) to a background writer of ECS JSON lines."""

    def __init__(self, path: Path, service: ServiceInfo, level: int = logging.NOTSET, interval: float = 0.1,
                 origin: bool = True) -> None:
        """``origin``: write each record's ``log.origin.*`` and thread (see :func:`skip_unused_record_fields`)."""
        super().__init__(level)
        self.origin = origin
        self.writer = BatchLineWriter(path, LineFormat("logs", LineEncoder(service).prefix), interval=interval)
        self._submit = self.writer.submit

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        # No handler lock: the writer's queue is safe to append to from any thread.
        if self.filters and not self.filter(record):
            return False
        try:  # what the record leaves behind, with the ids of the span current on this thread
            span = get_current().get(SPAN_KEY)
            error = _error_fields(record) if record.exc_info else None
            context = span.get_span_context() if span is not None else None
            if context is not None and context[5]:  # is_valid
                trace_id, span_id, ltx = context[0], context[1], current_transaction_id()
            else:
                trace_id = span_id = ltx = None
            self._submit((record.created, record.getMessage(), record.levelname, record.name,  # a LogEntry's fields
                          trace_id, span_id, ltx, error, _origin(record) if self.origin else None))
        except Exception:  # noqa: BLE001 - as logging.Handler.emit does
            self.handleError(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)

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
                         ids.transaction_id if ids else None, _error_fields(record), _origin(record))
        return log_line(entry, self._encoder).decode()
