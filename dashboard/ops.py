"""The dashboard's operations endpoints: ``/health`` (liveness), ``/ready`` (readiness), ``/metrics``.

None needs a login: Prometheus and service managers ask them. ``/health`` and ``/ready`` name
only the dashboard's own dependencies; ``/metrics`` holds process and interpreter figures and
no user data. With ``metrics_token_file`` set, ``/metrics`` asks for that bearer token
(``Authorization: Bearer <token>``, Prometheus' ``authorization.credentials_file``).
"""
from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from foundation.elasticsearch import reachable
from foundation.health import Check, Readiness, liveness, readiness, register_runtime_collectors

from .config import DashboardConfig

bp = Blueprint("ops", __name__)
REGISTRY_KEY, TOKEN_KEY = "oam.metrics", "oam.metrics_token"


def install(app: Flask, config: DashboardConfig) -> None:
    """A metrics registry of the app's own (the process and platform collectors), and the token, if any."""
    app.extensions[REGISTRY_KEY] = register_runtime_collectors(CollectorRegistry())
    app.extensions[TOKEN_KEY] = config.metrics_token()
    app.register_blueprint(bp)


def _connections() -> Any:
    return current_app.extensions["oam.connections"]


def _cmdb_check() -> Check:
    state = _connections().cmdb.client.state
    return Check(state == "CONNECTED", f"ZooKeeper session {state.lower()}")


def dashboard_readiness() -> Readiness:
    """Ready while Elasticsearch answers (green or yellow) and the CMDB session is connected."""
    return readiness({"elasticsearch": lambda: reachable(_connections().es), "cmdb": _cmdb_check})


@bp.get("/health")
def health() -> Response:
    return jsonify(liveness())


@bp.get("/ready")
def ready() -> Response:
    report = dashboard_readiness()
    response = jsonify(report.as_dict())
    response.status_code = report.status_code
    return response


@bp.get("/metrics")
def metrics() -> Response:
    token = current_app.extensions[TOKEN_KEY]
    if token is not None:
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            return Response("/metrics needs the dashboard's metrics token (Authorization: Bearer <token>)\n", 401,
                            {"WWW-Authenticate": 'Bearer realm="oam-dashboard-metrics"'}, mimetype="text/plain")
    return Response(generate_latest(current_app.extensions[REGISTRY_KEY]), content_type=CONTENT_TYPE_LATEST)
