"""The in-process app agent: what a Flask/WSGI service adds with a couple of lines.

    from agents.app import AppAgent
    agent = AppAgent(ServiceInfo("backend", "1.0"), telemetry_dir="/var/log/backend")
    agent.instrument_flask(app)          # GTX/LTX per request, transactions, /metrics, GTX header
    agent.start()                        # ECS JSON log + span files, Sentry if a DSN is given

Everything it records goes to local files (ECS JSON lines) that the host agent ships; nothing
in the request path makes a network call.

The names below are imported when first used, so the line encoder process
(:mod:`agents.app.encoder_process`) starts without Flask, OpenTelemetry or Sentry.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AppAgent": ".agent", "TracedSession": ".http", "enqueue": ".jobs", "run_job": ".jobs",
    "EcsJsonFormatter": ".logs", "EcsLogHandler": ".logs", "AppMetrics": ".metrics",
    "EcsFileSpanExporter": ".sdk_export", "EcsSpanProcessor": ".spans", "SdkSpanExport": ".sdk_export",
    "TransactionIdProcessor": ".sdk_export",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .agent import AppAgent
    from .http import TracedSession
    from .jobs import enqueue, run_job
    from .logs import EcsJsonFormatter, EcsLogHandler
    from .metrics import AppMetrics
    from .sdk_export import EcsFileSpanExporter, SdkSpanExport, TransactionIdProcessor
    from .spans import EcsSpanProcessor


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
