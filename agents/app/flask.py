"""Flask instrumentation: one transaction (LTX) per request under the caller's GTX.

The transaction is named after the route template (``GET /users/<user_id>``), records method,
status, duration and outcome, and the response carries the GTX in ``X-Trace-Id`` (and the W3C
``traceresponse`` header) so a user can quote it in a bug report.

This runs on every request, so it does the least it can: the transaction starts when Flask
dispatches the request (the route is known) and ends when Flask tears the request down; the
status and the GTX headers are taken and added where the response starts (a thin WSGI
wrapper), so no Response object is touched; the request's state is a context variable (set
and read in C, where the request proxy would take a few Python calls).
"""
from __future__ import annotations

import contextvars
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, globals as flask_globals
from opentelemetry.trace import SpanKind, StatusCode

from telemetry.context import begin_transaction

from .errors import capture_unhandled
from .metrics import AppMetrics

GTX_HEADER = "X-Trace-Id"
# the request in progress on this thread: [OpenTransaction, route, method, began, status, token]
_request_state: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("oam_request", default=None)
_current_state = _request_state.get
# the request context Flask pushed for this request: its context variable's get (a C call), where
# flask.request's proxy takes several Python calls; the proxy's way for a Flask without one
_request_context: Callable[[], Any] = getattr(getattr(flask_globals, "_cv_request", None), "get", None) \
    or flask_globals.request_ctx._get_current_object  # type: ignore[attr-defined]


def _add_gtx_headers(app: Flask) -> None:
    wsgi_app = app.wsgi_app

    def traced_wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start_with_gtx(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            state = _current_state()
            if state is not None:
                opened = state[0]
                state[4] = int(status[:3])
                headers.append((GTX_HEADER, opened.trace_id))
                headers.append(("traceresponse", f"00-{opened.trace_id}-{opened.transaction_id}-01"))  # W3C
            return start_response(status, headers, exc_info)

        return wsgi_app(environ, start_with_gtx)

    app.wsgi_app = traced_wsgi_app  # type: ignore[method-assign]


def instrument(app: Flask, metrics: AppMetrics, metrics_path: str = "/metrics") -> None:
    """Add transactions, metrics and the GTX header to every request of ``app``."""
    _add_gtx_headers(app)
    full_dispatch_request, do_teardown_request = app.full_dispatch_request, app.do_teardown_request

    # Flask runs these two once per request on the app itself: the transaction starts once the
    # route is matched and ends after the app's own teardown functions, so everything the
    # request logs, Flask's own error log included, carries its GTX/LTX. (Wrapping them costs
    # less than before/teardown_request hooks, which Flask checks for coroutines on each call.)
    def traced_full_dispatch_request() -> Response:
        current = _request_context().request  # flask.request without its proxy's Python calls
        environ, method, rule = current.environ, current.method, current.url_rule
        route = rule.rule if rule is not None else "unmatched"
        opened = begin_transaction(f"{method} {route}", environ.get("HTTP_TRACEPARENT"), SpanKind.SERVER,
                                   {"http.request.method": method, "url.path": current.path})
        state = [opened, route, method, time.perf_counter(), None, None]
        state[5] = _request_state.set(state)
        metrics.request_started(None)
        return full_dispatch_request()

    def traced_do_teardown_request(*args: Any) -> None:
        try:
            do_teardown_request(*args)
        finally:
            state = _current_state()
            if state is not None:
                try:
                    _request_state.reset(state[5])
                except ValueError:  # torn down in another context than it began in
                    _request_state.set(None)
                _end_transaction(state, args[0] if args else sys.exc_info()[1])

    def _end_transaction(state: list[Any], error: BaseException | None) -> None:
        opened, route, method, began, status, _ = state
        metrics.request_finished()
        if status is None and error is not None:
            status = 500
        span = opened.span
        if status is not None:
            if route != metrics_path:
                metrics.observe_request(route, method, status, time.perf_counter() - began)
            span.set_attribute("http.response.status_code", status)
        # the outcome follows the span's status: ERROR for an exception or a 5xx, else success
        if error is not None:
            span.set_status(StatusCode.ERROR, type(error).__name__)
            capture_unhandled(error)  # under the GTX: the transaction is still current
        elif status is not None and status >= 500:
            span.set_status(StatusCode.ERROR, f"HTTP {status}")
        opened.end()

    app.full_dispatch_request = traced_full_dispatch_request  # type: ignore[method-assign]
    app.do_teardown_request = traced_do_teardown_request  # type: ignore[method-assign]

    @app.get(metrics_path)
    def _metrics() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)
