"""JSON error responses: 4xx for the client's mistakes, 500 only for ours (with the GTX)."""
from __future__ import annotations

import logging

import sentry_sdk
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from telemetry.context import current_ids

from .validation import InvalidInput

log = logging.getLogger("order_service.errors")


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(InvalidInput)
    def _invalid(error: InvalidInput):
        return jsonify(error=str(error)), 400

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        return jsonify(error=error.description or error.name), error.code or 500

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        ids = current_ids()
        log.exception("unhandled error: %s", error)
        sentry_sdk.capture_exception(error)  # a handled exception never reaches Sentry's own hook
        return jsonify(error="internal error", trace_id=ids.trace_id if ids else None), 500
