"""The app agent's set-up: span and log files, metrics, Sentry — one object per service."""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import NoOpTracerProvider

from telemetry import context
from telemetry.ecs import ServiceInfo

from . import flask as flask_instrumentation
from .errors import init_sentry
from .logs import EcsLogHandler, skip_unused_record_fields
from .metrics import AppMetrics
from .spans import EcsSpanProcessor
from .tracer import LeanTracerProvider


class AppAgent:
    """Instruments one service: ``<telemetry_dir>/<service>.spans.jsonl`` and ``.log.jsonl``."""

    def __init__(self, service: ServiceInfo, telemetry_dir: Path, sentry_dsn: str | None = None,
                 log_level: int = logging.INFO, enabled: bool = True) -> None:
        self.service = service
        self.enabled = enabled
        self.telemetry_dir = Path(telemetry_dir)
        self.sentry_dsn = sentry_dsn
        self.log_level = log_level
        self.metrics = AppMetrics()
        self.provider: LeanTracerProvider | None = None
        self._log_handler: EcsLogHandler | None = None
        self._sentry_handler: logging.Handler | None = None
        self._undo_log_settings: Callable[[], None] | None = None

    @property
    def span_file(self) -> Path:
        return self.telemetry_dir / f"{self.service.name}.spans.jsonl"

    @property
    def log_file(self) -> Path:
        return self.telemetry_dir / f"{self.service.name}.log.jsonl"

    def start(self) -> "AppAgent":
        """Install the span pipeline, the ECS log handler and (with a DSN) Sentry.

        A disabled agent records nothing (spans go to a no-op tracer): the service runs as if
        uninstrumented, which is what the overhead benchmark compares against.
        """
        if not self.enabled:
            context.use_tracer_provider(NoOpTracerProvider())
            return self
        resource = Resource.create({"service.name": self.service.name, "service.version": self.service.version})
        self.provider = LeanTracerProvider(resource=resource, sampler=ALWAYS_ON)
        self.provider.add_span_processor(EcsSpanProcessor(self.span_file, self.service))
        context.use_tracer_provider(self.provider)
        self.telemetry_dir.mkdir(parents=True, exist_ok=True)
        # The logging thread only notes the record and its ids; encoding and the file write
        # happen in batches on the writer's thread (see logs.py and writer.py).
        handler = EcsLogHandler(self.log_file, self.service)
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(min(root.level or logging.WARNING, self.log_level))
        self._log_handler = handler
        self._undo_log_settings = skip_unused_record_fields()
        if self.sentry_dsn:
            self._sentry_handler = init_sentry(self.sentry_dsn, self.service)
        return self

    def instrument_flask(self, app: Flask) -> Flask:
        if self.enabled:
            flask_instrumentation.instrument(app, self.metrics)
        return app

    def flush(self) -> None:
        """Write out every finished span and log line now (tests, shutdown)."""
        if self.provider is not None:
            self.provider.force_flush()
        if self._log_handler is not None:
            self._log_handler.flush()

    def shutdown(self) -> None:
        self.flush()
        if self.provider is not None:
            self.provider.shutdown()
        context.use_tracer_provider(None)
        root = logging.getLogger()
        if self._log_handler is not None:
            root.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
        if self._sentry_handler is not None:
            root.removeHandler(self._sentry_handler)
            self._sentry_handler = None
        if self._undo_log_settings is not None:
            self._undo_log_settings()
            self._undo_log_settings = None
