"""Flask instrumentation: one transaction (LTX) per request under the caller's GTX.

The transaction is named after the route template (``GET /users/<user_id>``), records method,
status, duration and outcome, and the response carries the GTX in ``X-Trace-Id`` (and the W3C
``traceresponse`` header) so a user can quote it in a bug report.

This runs on every request (every request that enters through the app's WSGI entry, as a
server's and the test client's do), so it does the least it can: the transaction starts when Flask
dispatches the request (the route is known) and ends when Flask tears the request down; the
status and the GTX headers are taken and added where the response starts (a thin WSGI
wrapper), so no Response object is touched; the request's state is a context variable set by
that wrapper (set and read in C), and the request object is the one Werkzeug files in the WSGI
environ, where ``flask.request``'s proxy would take a few Python calls per attribute.
"""
from __future__ import annotations

import contextvars
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import flask
from flask import Flask, Response
from opentelemetry.trace import SpanKind, StatusCode

from telemetry.context import begin_transaction

from .errors import capture_unhandled
from .metrics import AppMetrics

GTX_HEADER = "X-Trace-Id"
# the request in progress in this context, set by the app's WSGI entry:
# [OpenTransaction or None, route, method, began, status, WSGI environ]
_request_state: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("oam_request", default=None)
_current_state = _request_state.get
_REQUEST_KEY = "werkzeug.request"  # where Werkzeug's Request puts itself in the environ (populate_request)
# the same state in the WSGI environ, for a teardown that runs after the WSGI entry returned: a
# streamed body is torn down when the server closes it, and Flask before 3.1 does not run that
# teardown in the entry's context
_STATE_KEY = "oam.request_state"


def _add_gtx_headers(app: Flask) -> None:
    """Wrap the app's WSGI entry: the request's state for its whole life, the GTX headers on its response."""
    wsgi_app = app.wsgi_app

    def traced_wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        state: list[Any] = [None, None, None, 0.0, None, environ]
        environ[_STATE_KEY] = state

        def start_with_gtx(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            opened = state[0]
            if opened is not None:
                state[4] = int(status[:3])
                headers.append((GTX_HEADER, opened.trace_id))
                flags = "01" if opened.span.get_span_context().trace_flags & 1 else "00"  # sampled, or not
                headers.append(("traceresponse", f"00-{opened.trace_id}-{opened.transaction_id}-{flags}"))  # W3C
            return start_response(status, headers, exc_info)

        token = _request_state.set(state)
        try:
            return wsgi_app(environ, start_with_gtx)
        finally:
            _request_state.reset(token)

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
        state = _current_state()
        if state is None or state[0] is not None:  # not entered through the app's WSGI entry: not traced
            return full_dispatch_request()
        environ = state[5]
        # the request object itself (Werkzeug's documented environ key), else flask.request's proxy
        current = environ.get(_REQUEST_KEY)
        if not isinstance(current, flask.Request):
            current = flask.request
        method, rule = current.method, current.url_rule
        route = rule.rule if rule is not None else "unmatched"
        state[0] = begin_transaction(f"{method} {route}", environ.get("HTTP_TRACEPARENT"), SpanKind.SERVER,
                                     {"http.request.method": method, "url.path": current.path},
                                     environ.get("HTTP_TRACESTATE"), environ.get("HTTP_BAGGAGE"))
        state[1], state[2], state[3] = route, method, time.perf_counter()
        metrics.request_started(None)
        return full_dispatch_request()

    def traced_do_teardown_request(*args: Any) -> None:
        try:
            do_teardown_request(*args)
        finally:
            state = _current_state()
            if state is None and flask.has_request_context():
                state = flask.request.environ.get(_STATE_KEY)
            if state is not None and state[0] is not None:
                _end_transaction(state, args[0] if args else sys.exc_info()[1])

    def _end_transaction(state: list[Any], error: BaseException | None) -> None:
        opened, route, method, began, status, environ = state
        state[0] = None  # ended once, even if Flask tears the request down again
        environ.pop(_STATE_KEY, None)  # no environ -> state -> environ cycle left for the garbage collector
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
