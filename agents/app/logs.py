"""ECS JSON log lines with ``trace.id``, ``transaction.id`` and ``span.id`` from the context."""
from __future__ import annotations

import json
import logging
import traceback
from datetime import datetime, timezone

from logging.handlers import QueueHandler

from telemetry.context import current_ids
from telemetry.ecs import ServiceInfo, log_document


IDS_ATTRIBUTE = "oam_trace_ids"


class ContextQueueHandler(QueueHandler):
    """Queues records for a background writer, stamped with the ids of the current context."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        setattr(record, IDS_ATTRIBUTE, current_ids())
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info))
        record.message = record.getMessage()
        record.msg, record.args = record.message, None
        return record


class EcsJsonFormatter(logging.Formatter):
    """Formats a record as one ECS JSON line; the ids come from the current transaction."""

    def __init__(self, service: ServiceInfo) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        error = None
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, tb = record.exc_info
            error = {"type": exc_type.__name__, "message": str(exc),
                     "stack_trace": record.exc_text or "".join(traceback.format_exception(exc_type, exc, tb))}
        doc = log_document(
            self.service, record.getMessage(), record.levelname, record.name,
            at=datetime.fromtimestamp(record.created, timezone.utc), error=error,
            ids=getattr(record, IDS_ATTRIBUTE, None) or current_ids(),
        )
        doc["_kind"] = "logs"
        return json.dumps(doc, separators=(",", ":"), default=str)
