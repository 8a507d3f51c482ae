"""The app factory: configuration, connections, security, one blueprint per area, error pages."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from elasticsearch import ApiError, TransportError
from flask import Flask, Response, abort, g, jsonify, render_template, request, send_file
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from cmdb import (
    CmdbError,
    InvalidKey,
    InvalidValue,
    KeyNotFound,
    PermissionDenied,
    SchemaViolation,
    Unreachable,
    VersionConflict,
)

from . import auth, ops, security
from .areas import AREAS
from .areas.common import check_page_args, quick_ranges, range_args
from .config import DashboardConfig
from .safe_json import MAX_BYTES, JsonRejected, SafeJSONProvider, scrub
from .services import Connections
from .timerange import BadTimeRange
from .users import UserError


class SafeResponse(Response):
    """A response whose text is always encodable: a lone surrogate that got this far becomes U+FFFD."""

    def set_data(self, value: bytes | str) -> None:
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                value = scrub(value)
        super().set_data(value)


_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))


def utf8_query(wsgi_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: a query string with raw bytes that are not UTF-8 is percent-encoded, so its
    parameters read as U+FFFD (and fail their own checks with a 400) instead of failing to decode."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raw = environ.get("QUERY_STRING", "").encode("latin-1", "replace")
        try:
            raw.decode()
        except UnicodeDecodeError:
            environ["QUERY_STRING"] = quote(raw, safe=_PRINTABLE)
        return wsgi_app(environ, start_response)
    return app


def create_app(config: DashboardConfig | None = None, **flask_config: Any) -> Flask:
    """A dashboard app; its connections are made on first use and closed by ``app.extensions`` teardown."""
    config = config or DashboardConfig()
    app = Flask(__name__)
    app.response_class = SafeResponse
    app.wsgi_app = utf8_query(app.wsgi_app)  # type: ignore[method-assign]
    app.json = SafeJSONProvider(app)
    app.config.update(
        SECRET_KEY=config.secret_key,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=config.session_minutes),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        MAX_CONTENT_LENGTH=MAX_BYTES,
        JSON_SORT_KEYS=False,
    )
    app.config.update(flask_config)
    app.extensions["oam.config"] = config
    app.extensions["oam.connections"] = Connections(config)
    security.install(app)
    auth.install(app)
    app.before_request(check_page_args)
    app.before_request(security.check_csrf)
    app.register_blueprint(auth.bp)
    for blueprint in AREAS:
        app.register_blueprint(blueprint)
    ops.install(app, config)
    _register_errors(app)

    @app.get("/vendor/chart.js")
    def chart_js() -> Any:
        path = config.chart_js_path()
        if path is None:
            abort(404, "the chart library is not installed (Debian package libjs-chart.js)")
        return send_file(path, mimetype="text/javascript", max_age=3600)

    @app.context_processor
    def common() -> dict[str, Any]:
        return {"user": g.get("user"), "time_from": request.args.get("from", "now-1h"),
                "time_to": request.args.get("to", "now"), "refresh": request.args.get("refresh", ""),
                "range_args": range_args(), "quick_ranges": quick_ranges}

    return app


def close_app(app: Flask) -> None:
    """Close the app's Elasticsearch client and CMDB session."""
    app.extensions["oam.connections"].close()


def _status_of(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, (BadTimeRange, InvalidKey, InvalidValue, JsonRejected, SchemaViolation, UserError)):
        return 400, str(exc)
    if isinstance(exc, KeyNotFound):
        return 404, str(exc)
    if isinstance(exc, VersionConflict):
        return 409, str(exc)
    if isinstance(exc, PermissionDenied):
        return 403, str(exc)
    if isinstance(exc, Unreachable):
        return 503, str(exc)
    if isinstance(exc, CmdbError):
        return 400, str(exc)
    if isinstance(exc, (ApiError, TransportError)):
        return 503, f"Elasticsearch did not answer the query: {type(exc).__name__}"
    return 500, "internal error"


def _answer(status: int, message: str) -> Any:
    if request.path.startswith("/api/"):
        return jsonify(error=message, status=status), status
    return render_template("error.html", status=status, message=message), status


def _register_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError) -> Any:
        return _answer(400, f"CSRF check failed: {exc.description}")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        messages = {401: "log in first (session cookie or HTTP basic auth)",
                    403: "your role does not allow this"}
        message = messages.get(exc.code or 500) if exc.description == type(exc).description else None
        response = _answer(exc.code or 500, message or exc.description or exc.name)
        if exc.code == 401 and request.path.startswith("/api/"):
            response[0].headers["WWW-Authenticate"] = 'Basic realm="oam"'
        if exc.code == 429 and getattr(exc, "retry_after", None) is not None:
            response[0].headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(Exception)
    def failure(exc: Exception) -> Any:
        status, message = _status_of(exc)
        if status == 500:
            app.logger.exception("unhandled error on %s", request.path)
        return _answer(status, message)
