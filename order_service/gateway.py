"""The gateway: the public API, calling the backend over HTTP with the GTX attached."""
from __future__ import annotations

import logging

import requests
from flask import Flask, Response, request

from agents.app import AppAgent, TracedSession

from .errors import install_error_handlers
from .validation import check_order_id

log = logging.getLogger("order_service.gateway")
PASSED_HEADERS = ("Content-Type",)


def create_gateway(agent: AppAgent, backend_url: str, timeout: float = 10.0) -> Flask:
    app = Flask("order_service.gateway")
    session = TracedSession()
    agent.instrument_flask(app)
    install_error_handlers(app)

    def relay(method: str, path: str) -> Response:
        headers = {name: request.headers[name] for name in PASSED_HEADERS if name in request.headers}
        try:
            upstream = session.request(method, backend_url.rstrip("/") + path, data=request.get_data(),
                                       headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            log.error("backend unreachable: %s", exc)
            return Response('{"error": "backend unavailable"}', status=502, content_type="application/json")
        return Response(upstream.content, status=upstream.status_code,
                        content_type=upstream.headers.get("Content-Type", "application/json"))

    @app.get("/health")
    def health():
        return {"status": "ok", "service": agent.service.name, "version": agent.service.version}

    @app.route("/api/orders/<order_id>", methods=["GET", "PUT"])
    def orders(order_id: str):
        check_order_id(order_id)
        return relay(request.method, f"/orders/{order_id}")

    @app.get("/api/slow")
    def slow():
        return relay("GET", "/slow")

    @app.get("/api/fail")
    def fail():
        return relay("GET", "/fail")

    return app
