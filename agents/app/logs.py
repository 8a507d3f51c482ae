"""ECS JSON log lines with ``trace.id``, ``transaction.id`` and ``span.id`` from the context."""
from __future__ import annotations

import json
import logging
import traceback
from datetime import datetime, timezone

from telemetry.ecs import ServiceInfo, log_document


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
                     "stack_trace": "".join(traceback.format_exception(exc_type, exc, tb))}
        doc = log_document(
            self.service, record.getMessage(), record.levelname, record.name,
            at=datetime.fromtimestamp(record.created, timezone.utc), error=error,
        )
        doc["_kind"] = "logs"
        return json.dumps(doc, separators=(",", ":"), default=str)
