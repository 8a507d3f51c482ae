"""Flask instrumentation: one transaction (LTX) per request under the caller's GTX.

The transaction is named after the route template (``GET /users/<user_id>``), records method,
status, duration and outcome, and the response carries the GTX in ``X-Trace-Id`` (and the W3C
``traceresponse`` header) so a user can quote it in a bug report.
"""
from __future__ import annotations

import time
from contextlib import ExitStack

from flask import Flask, Response, g, request
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from telemetry.context import transaction

from .metrics import AppMetrics

GTX_HEADER = "X-Trace-Id"


def _route() -> str:
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def instrument(app: Flask, metrics: AppMetrics, metrics_path: str = "/metrics") -> None:
    """Add transactions, metrics and the GTX header to every request of ``app``."""

    @app.before_request
    def _start_transaction() -> None:
        stack = ExitStack()
        ids = stack.enter_context(transaction(
            f"{request.method} {_route()}", headers=request.headers, kind=SpanKind.SERVER,
            attributes={"transaction.type": "request", "http.request.method": request.method,
                        "url.path": request.path}))
        g.oam_transaction = (stack, ids, time.perf_counter())
        metrics.in_flight.inc()

    @app.after_request
    def _finish_response(response: Response) -> Response:
        state = g.get("oam_transaction")
        if state is None:
            return response
        _, ids, began = state
        current = trace.get_current_span()
        outcome = "failure" if response.status_code >= 500 else "success"
        current.set_attributes({"http.response.status_code": response.status_code, "event.outcome": outcome})
        if outcome == "failure":
            current.set_status(StatusCode.ERROR, f"HTTP {response.status_code}")
        response.headers[GTX_HEADER] = ids.trace_id
        response.headers["traceresponse"] = f"00-{ids.trace_id}-{ids.transaction_id}-01"  # W3C trace-context
        route = _route()
        if request.path != metrics_path:
            metrics.requests.labels(route, request.method, str(response.status_code)).inc()
            metrics.latency.labels(route, request.method).observe(time.perf_counter() - began)
        return response

    @app.teardown_request
    def _end_transaction(error: BaseException | None) -> None:
        state = g.pop("oam_transaction", None)
        if state is None:
            return
        metrics.in_flight.dec()
        stack, _, _ = state
        if error is not None:
            current = trace.get_current_span()
            current.set_status(StatusCode.ERROR, type(error).__name__)
            current.set_attribute("event.outcome", "failure")
        stack.close()

    @app.get(metrics_path)
    def _metrics() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)
