"""Sentry error reporting pointed at the collector; every captured error carries the GTX."""
from __future__ import annotations

from typing import Any

import sentry_sdk

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


def init_sentry(dsn: str, service: ServiceInfo, **options: Any) -> None:
    """Initialise sentry-sdk for ``service``; events go to ``dsn`` (the collector's Sentry endpoint)."""
    sentry_sdk.init(
        dsn=dsn,
        release=f"{service.name}@{service.version}",
        environment=service.environment,
        server_name=service.host_name,
        before_send=add_trace_ids,
        traces_sample_rate=0.0,  # traces go through OpenTelemetry, errors through Sentry
        **options,
    )
