"""Sentry error reporting pointed at the collector; every captured error carries the GTX.

sentry-sdk's default and auto-enabled integrations instrument every request (Flask), every
Redis command and outgoing HTTP call (breadcrumbs, spans) and every log record (breadcrumbs):
work the app agent already does through OpenTelemetry, paid again on each request. So the
agent enables only what error capture needs — deduplication, uncaught exceptions in the main
and other threads, flushing at exit, module and argv context — and captures unhandled Flask
errors itself (see :mod:`agents.app.flask`). ERROR log records become events through
sentry-sdk's ``EventHandler`` on the root logger, at level ERROR: the logging module skips it
for lower records, where the logging integration would run for every record.
"""
from __future__ import annotations

import logging
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.argv import ArgvIntegration
from sentry_sdk.integrations.atexit import AtexitIntegration
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.integrations.excepthook import ExcepthookIntegration
from sentry_sdk.integrations.logging import EventHandler
from sentry_sdk.integrations.modules import ModulesIntegration
from sentry_sdk.integrations.threading import ThreadingIntegration

from telemetry.context import current_ids
from telemetry.ecs import ServiceInfo


def add_trace_ids(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """``before_send`` hook: put the current GTX/LTX on the event (contexts.trace and tags)."""
    ids = current_ids()
    if ids is None:
        return event
    trace_ctx = event.setdefault("contexts", {}).setdefault("trace", {})
    trace_ctx.update({"trace_id": ids.trace_id, "span_id": ids.span_id})
    tags = event.setdefault("tags", {})
    tags["trace.id"] = ids.trace_id
    if ids.transaction_id:
        tags["transaction.id"] = ids.transaction_id
    return event


def error_integrations() -> list[Any]:
    """The sentry-sdk integrations error capture needs, and nothing that runs per request."""
    return [ArgvIntegration(), AtexitIntegration(), DedupeIntegration(), ExcepthookIntegration(),
            ModulesIntegration(), ThreadingIntegration()]


class _ErrorLogEvents(EventHandler):
    """sentry-sdk's handler, as :func:`init_sentry` installs it (so a second init replaces it)."""


def init_sentry(dsn: str, service: ServiceInfo, **options: Any) -> logging.Handler:
    """Initialise sentry-sdk for ``service``; events go to ``dsn`` (the collector's Sentry endpoint).

    Returns the handler that turns ERROR log records into events (on the root logger; remove
    it when done).
    """
    settings: dict[str, Any] = {"default_integrations": False, "auto_enabling_integrations": False,
                                "integrations": error_integrations()}
    settings.update(options)
    sentry_sdk.init(
        dsn=dsn,
        release=f"{service.name}@{service.version}",
        environment=service.environment,
        server_name=service.host_name,
        before_send=add_trace_ids,
        traces_sample_rate=0.0,  # traces go through OpenTelemetry, errors through Sentry
        **settings,
    )
    root = logging.getLogger()
    for stale in [h for h in root.handlers if isinstance(h, _ErrorLogEvents)]:
        root.removeHandler(stale)  # initialised again: one event per record, not one per init
    handler = _ErrorLogEvents(level=logging.ERROR)
    root.addHandler(handler)
    return handler


def capture_unhandled(error: BaseException) -> None:
    """Report an error no handler dealt with (no-op unless Sentry is initialised)."""
    if isinstance(error, Exception) and sentry_sdk.get_client().is_active():
        sentry_sdk.capture_exception(error)
