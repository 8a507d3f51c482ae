"""The app agent's set-up: span and log files, metrics, Sentry — one object per service."""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from opentelemetry.trace import NoOpTracerProvider

from foundation.version import __version__
from telemetry import context
from telemetry.ecs import ServiceInfo
from telemetry.tracer import Provider

from . import flask as flask_instrumentation
from .errors import init_sentry
from .logs import EcsLogHandler, skip_unused_record_fields
from .metrics import AppMetrics
from .spans import EcsSpanProcessor

AGENT_TYPE = "oam-app-agent"
"""``agent.type`` of the documents the app agent writes."""
PLAIN_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""How a service without the agent writes its log lines (to stderr)."""


class AppAgent:
    """Instruments one service: ``<telemetry_dir>/<service>.spans.jsonl`` and ``.log.jsonl``."""

    def __init__(self, service: ServiceInfo, telemetry_dir: Path, sentry_dsn: str | None = None,
                 log_level: int = logging.INFO, enabled: bool = True, log_origin: bool = True,
                 sample_ratio: float = 1.0) -> None:
        """``log_origin``: log lines carry the caller's file, line, function and thread (a stack
        lookup per record; off, a record costs a third less). ``sample_ratio``: the share of new
        traces recorded (parent-based: a caller's sampled or not-sampled flag is always followed)."""
        self.sample_ratio = sample_ratio
        self.service = service.with_local_details(AGENT_TYPE, __version__)
        self.log_origin = log_origin
        self.enabled = enabled
        self.telemetry_dir = Path(telemetry_dir)
        self.sentry_dsn = sentry_dsn
        self.log_level = log_level
        self.metrics = AppMetrics()
        self.provider: Provider | None = None
        self._log_handler: logging.Handler | None = None  # ECS lines, or plain ones when disabled
        self._root_level = self._set_root_level = logging.NOTSET
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

        A disabled agent records no spans (they go to a no-op tracer), no ECS lines and nothing
        for Sentry: the service runs as it would uninstrumented, writing its log records at
        ``log_level`` as plain text lines to stderr (:data:`PLAIN_LOG_FORMAT`), which is what
        the overhead benchmark compares against.
        """
        if not self.enabled:
            context.use_tracer_provider(NoOpTracerProvider())
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter(PLAIN_LOG_FORMAT))
            self._add_log_handler(handler)
            return self
        # the suite's OpenTelemetry API implementation; every span carries the LTX in progress
        self.provider = Provider(transaction_id=context.current_transaction_id, sample_ratio=self.sample_ratio)
        self.provider.add_span_processor(EcsSpanProcessor(self.span_file, self.service))
        context.use_tracer_provider(self.provider, service=self.service.name)
        self.telemetry_dir.mkdir(parents=True, exist_ok=True)
        # The logging thread only notes the record and its ids; the lines are made and written
        # in batches by the line encoder process, or on the writer's thread (see writer.py).
        self._add_log_handler(EcsLogHandler(self.log_file, self.service, origin=self.log_origin))
        self._undo_log_settings = skip_unused_record_fields(keep_origin=self.log_origin)
        if self.sentry_dsn:
            self._sentry_handler = init_sentry(self.sentry_dsn, self.service)
        return self

    def _add_log_handler(self, handler: logging.Handler) -> None:
        """Write the records of ``log_level`` and above with ``handler`` (the root logger lets them through)."""
        handler.setLevel(self.log_level)
        root = logging.getLogger()
        root.addHandler(handler)
        self._root_level = root.level
        root.setLevel(min(root.level or logging.WARNING, self.log_level))
        self._set_root_level = root.level
        self._log_handler = handler

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
            if root.level == self._set_root_level:  # unless someone changed it since
                root.setLevel(self._root_level)
        if self._sentry_handler is not None:
            root.removeHandler(self._sentry_handler)
            self._sentry_handler = None
        if self._undo_log_settings is not None:
            self._undo_log_settings()
            self._undo_log_settings = None
