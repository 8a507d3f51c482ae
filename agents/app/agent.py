"""The app agent's set-up: span and log files, metrics, Sentry — one object per service."""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from telemetry import context
from telemetry.ecs import ServiceInfo

from . import flask as flask_instrumentation
from .errors import init_sentry
from .logs import EcsJsonFormatter
from .metrics import AppMetrics
from .spans import EcsFileSpanExporter, TransactionIdProcessor


class AppAgent:
    """Instruments one service: ``<telemetry_dir>/<service>.spans.jsonl`` and ``.log.jsonl``."""

    def __init__(self, service: ServiceInfo, telemetry_dir: Path, sentry_dsn: str | None = None,
                 log_level: int = logging.INFO) -> None:
        self.service = service
        self.telemetry_dir = Path(telemetry_dir)
        self.sentry_dsn = sentry_dsn
        self.log_level = log_level
        self.metrics = AppMetrics()
        self.provider: TracerProvider | None = None
        self._log_handler: logging.Handler | None = None

    @property
    def span_file(self) -> Path:
        return self.telemetry_dir / f"{self.service.name}.spans.jsonl"

    @property
    def log_file(self) -> Path:
        return self.telemetry_dir / f"{self.service.name}.log.jsonl"

    def start(self) -> "AppAgent":
        """Install the span pipeline, the ECS log handler and (with a DSN) Sentry."""
        resource = Resource.create({"service.name": self.service.name, "service.version": self.service.version})
        self.provider = TracerProvider(resource=resource, sampler=ALWAYS_ON)
        self.provider.add_span_processor(TransactionIdProcessor())
        self.provider.add_span_processor(BatchSpanProcessor(EcsFileSpanExporter(self.span_file, self.service),
                                                            schedule_delay_millis=500))
        context.use_tracer_provider(self.provider)
        self.telemetry_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.log_file, encoding="utf-8")
        handler.setFormatter(EcsJsonFormatter(self.service))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(min(root.level or logging.WARNING, self.log_level))
        self._log_handler = handler
        if self.sentry_dsn:
            init_sentry(self.sentry_dsn, self.service)
        return self

    def instrument_flask(self, app: Flask) -> Flask:
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
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
