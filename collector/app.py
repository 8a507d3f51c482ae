"""The collector's HTTP API: a Flask app factory with one blueprint per area.

* ``POST /v1/ingest``                     agent batches (gzip NDJSON, bearer token of scope ingest)
* ``POST /api/<project>/envelope/``       Sentry envelopes; ``/api/<project>/store/`` legacy events (DSN key: ingest)
* ``POST /v1/traces``, ``POST /v1/logs``, ``POST /v1/metrics``  OTLP/HTTP, protobuf or JSON (bearer token
  of scope ingest)
* ``GET /api/traces/<gtx>``               every document of one GTX as a tree (bearer token of scope read)
* ``GET /health``, ``GET /ready``         liveness (the process answers), readiness (Elasticsearch reachable,
  spool below its limit; 503 if not)
* ``GET /metrics``                        Prometheus metrics (the collector's, ``process_*``, ``python_*``)
"""
from __future__ import annotations

import logging
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from foundation.health import liveness

from .auth import INGEST, READ, bearer_token
from .compression import BodyError, decompress
from .decode import Action, decode_batch
from .limits import Bounds
from .otlp import Export, OtlpError, log_request_actions, trace_request_actions
from .otlp_metrics import metric_request_actions
from .sentry import SentryError, SentryResult, envelope_actions, sentry_key, store_action
from .service import Collector
from .spool import SpoolFull
from .traces import TraceNotFound, fetch_trace, valid_gtx

log = logging.getLogger(__name__)
EXTENSION = "oam_collector"


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def collector() -> Collector:
    return current_app.extensions[EXTENSION]


def _error(status: int, message: str, **extra: Any) -> Response:
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def check_scope(token: str, scope: str, what: str) -> str:
    """The name of ``token`` if it has ``scope``; 401 if unknown or revoked, 403 if of the other scope."""
    found = collector().tokens.lookup(token)
    if found is None:
        raise HttpError(401, f"invalid or revoked {what}", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    name, has = found
    if has != scope:
        raise HttpError(403, f"{what} {name!r} has scope {has}; {request.method} {request.path} needs a token "
                             f"of scope {scope}", {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'})
    g.token_name = name
    return name


def authenticate(scope: str) -> str:
    """The bearer token's name if it has ``scope``, or a 401/403 naming what is wrong."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise HttpError(401, "missing bearer token (Authorization: Bearer <token>)",
                        {"WWW-Authenticate": 'Bearer realm="oam-collector"'})
    return check_scope(token, scope, "token")


def bounds() -> Bounds:
    """This request's input limits, its timestamp window measured from now."""
    return collector().config.limits.at()


def read_body() -> bytes:
    """The raw request body, or 413 above ``max_body_bytes``."""
    limit = collector().config.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise HttpError(413, f"body of {request.content_length} bytes is over the limit of {limit} bytes")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise HttpError(413, f"body is over the limit of {limit} bytes")
    return data


def deliver(actions: list[Action]) -> None:
    """Durable or 503: the sender must retry the batch (its ids keep the retry single)."""
    app_collector = collector()
    try:
        app_collector.sink.deliver(actions)
    except SpoolFull:
        seconds = app_collector.config.retry_after_seconds
        raise HttpError(503, "Elasticsearch is unavailable and the spool is full; retry later",
                        {"Retry-After": str(seconds)}) from None


# -- agent ingest ---------------------------------------------------------------------------
ingest = Blueprint("ingest", __name__)


@ingest.post("/v1/ingest")
def ingest_batch() -> Response:
    authenticate(INGEST)
    app_collector = collector()
    body = read_body()
    try:
        actions, errors = decode_batch(body, app_collector.config.max_decompressed_bytes,
                                       app_collector.config.index_prefix, bounds())
    except BodyError as exc:
        raise HttpError(exc.status, str(exc)) from None
    app_collector.metrics.received.labels("agent").inc(len(actions) + len(errors))
    if errors:
        app_collector.metrics.rejected.labels("agent").inc(len(errors))
    deliver(actions)
    failed = [error.as_dict() for error in errors]
    if errors:
        first = errors[0]
        return _error(400, f"line {first.line}: {first.error}", accepted=len(actions), failed=failed)
    return jsonify({"accepted": len(actions), "failed": []})


# -- Sentry ---------------------------------------------------------------------------------
sentry = Blueprint("sentry", __name__)


def _sentry_body(project: str) -> bytes:
    app_collector = collector()
    key = sentry_key(request.headers.get("X-Sentry-Auth"), request.args.get("sentry_key"))
    if key is None:
        raise HttpError(401, "missing Sentry key (X-Sentry-Auth: Sentry sentry_key=...)")
    if app_collector.tokens.lookup(key) is None:
        raise HttpError(401, "unknown or revoked Sentry key (the DSN's public key must be a collector token)")
    check_scope(key, INGEST, "Sentry key")
    if not project.isalnum():
        raise HttpError(400, f"invalid project id {project!r}")
    try:
        return decompress(read_body(), request.headers.get("Content-Encoding"),
                          app_collector.config.max_decompressed_bytes)
    except BodyError as exc:
        raise HttpError(exc.status, str(exc)) from None


def _sentry(project: str, convert: Any) -> Response:
    """Check and decode a Sentry request with ``convert`` (-> :class:`SentryResult`); index what is good.

    An event with a malformed descriptive field is kept without it (``dropped`` names it); a refused
    event is a 400 naming it, after its good neighbours in the envelope are indexed."""
    data = _sentry_body(project)
    metrics = collector().metrics
    try:
        result: SentryResult = convert(data, project, collector().config.index_prefix, bounds())
    except SentryError as exc:
        metrics.rejected.labels("sentry").inc()
        raise HttpError(exc.status, str(exc)) from None
    metrics.received.labels("sentry").inc(len(result.actions) + len(result.failed))
    if result.failed:
        metrics.rejected.labels("sentry").inc(len(result.failed))
    deliver(result.actions)
    extra: dict[str, Any] = {"dropped": result.dropped} if result.dropped else {}
    if result.failed:
        return _error(400, result.failed[0], id=result.event_id, accepted=len(result.actions),
                      failed=result.failed, **extra)
    return jsonify({"id": result.event_id, **extra})


@sentry.post("/api/<project>/envelope/")
def sentry_envelope(project: str) -> Response:
    return _sentry(project, envelope_actions)


@sentry.post("/api/<project>/store/")
def sentry_store(project: str) -> Response:
    return _sentry(project, store_action)


# -- OTLP/HTTP ------------------------------------------------------------------------------
otlp = Blueprint("otlp", __name__)


def _otlp(convert: Any, response_type: type, rejected_field: str, rejected_json: str) -> Response:
    """Check and decode an export with ``convert`` (-> :class:`Export`); index what is good and answer
    OTLP partial success (``rejected_field``, an error message) for the spans or records refused."""
    authenticate(INGEST)
    app_collector = collector()
    try:
        data = decompress(read_body(), request.headers.get("Content-Encoding"),
                          app_collector.config.max_decompressed_bytes)
        export: Export = convert(data, request.headers.get("Content-Type"), app_collector.config.index_prefix,
                                 bounds())
    except (BodyError, OtlpError) as exc:
        app_collector.metrics.rejected.labels("otlp").inc()
        raise HttpError(exc.status, str(exc)) from None
    app_collector.metrics.received.labels("otlp").inc(len(export.actions) + len(export.rejected))
    if export.rejected:
        app_collector.metrics.rejected.labels("otlp").inc(len(export.rejected))
    deliver(export.actions)
    message = partial_success_message(export.rejected)
    media = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media == "application/json":
        if not export.rejected:
            return jsonify({})
        return jsonify({"partialSuccess": {rejected_json: len(export.rejected), "errorMessage": message}})
    answer = response_type()
    if export.rejected:
        setattr(answer.partial_success, rejected_field, len(export.rejected))
        answer.partial_success.error_message = message
    return Response(answer.SerializeToString(), status=200, content_type="application/x-protobuf")


def partial_success_message(rejected: list[str], shown: int = 5) -> str:
    """The first few reasons, and how many more there were."""
    more = len(rejected) - shown
    return "; ".join(rejected[:shown]) + (f"; and {more} more" if more > 0 else "")


@otlp.post("/v1/traces")
def otlp_traces() -> Response:
    return _otlp(trace_request_actions, ExportTraceServiceResponse, "rejected_spans", "rejectedSpans")


@otlp.post("/v1/metrics")
def otlp_metrics() -> Response:
    return _otlp(metric_request_actions, ExportMetricsServiceResponse, "rejected_data_points", "rejectedDataPoints")


@otlp.post("/v1/logs")
def otlp_logs() -> Response:
    return _otlp(log_request_actions, ExportLogsServiceResponse, "rejected_log_records", "rejectedLogRecords")


# -- query ----------------------------------------------------------------------------------
query = Blueprint("query", __name__)


@query.get("/api/traces/<gtx>")
def get_trace(gtx: str) -> Response:
    authenticate(READ)
    if not valid_gtx(gtx):
        raise HttpError(400, f"malformed GTX {gtx!r}: expected 32 lowercase hex digits (a W3C trace id)")
    try:
        return jsonify(fetch_trace(collector().client, gtx, collector().config.index_prefix))
    except TraceNotFound:
        raise HttpError(404, f"no transaction, span, log or error with GTX {gtx}") from None
    except (ApiError, TransportError) as exc:
        raise HttpError(503, f"Elasticsearch query failed: {exc}") from None


# -- operations -----------------------------------------------------------------------------
ops = Blueprint("ops", __name__)


@ops.get("/health")
def health() -> Response:
    """Liveness: this process answers. Whether Elasticsearch does is ``/ready``'s to say."""
    app_collector = collector()
    return jsonify(liveness(spool={"bytes": app_collector.spool.bytes, "segments": app_collector.spooled_segments()},
                            last_error=app_collector.sink.last_error or None))


@ops.get("/ready")
def ready() -> Response:
    report = collector().readiness()
    response = jsonify(report.as_dict())
    response.status_code = report.status_code
    return response


@ops.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(collector().metrics.registry), content_type=CONTENT_TYPE_LATEST)


def create_app(app_collector: Collector) -> Flask:
    """The WSGI app around a started (or startable) :class:`Collector`."""
    app = Flask(__name__)
    app.extensions[EXTENSION] = app_collector
    for blueprint in (ingest, sentry, otlp, query, ops):
        app.register_blueprint(blueprint)

    @app.errorhandler(HttpError)
    def http_error(exc: HttpError) -> Response:
        response = _error(exc.status, str(exc))
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> Response:
        return _error(404, f"no such endpoint: {request.method} {request.path}")

    @app.errorhandler(405)
    def not_allowed(_exc: Exception) -> Response:
        return _error(405, f"method {request.method} not allowed on {request.path}")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.code:
            return _error(exc.code, exc.description or str(exc))
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(500, f"internal error: {type(exc).__name__}")

    return app
