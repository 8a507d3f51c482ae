"""Services: request rate, errors, latency percentiles, cache, shard load and queue depth, with change markers."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template

from .. import queries
from ..auth import require
from .common import es, prefix, text_arg, time_range

bp = Blueprint("services", __name__)
CHARTS = ("requests_per_s", "error_rate", "latency", "cache_hit_ratio", "queue_depth")


@bp.get("/api/services")
@require("viewer")
def api_list() -> Any:
    return jsonify(services=queries.service_names(es(), prefix(), time_range()))


@bp.get("/api/services/<name>/metrics")
@require("viewer")
def api_metrics(name: str) -> Any:
    return jsonify(queries.service_charts(es(), prefix(), time_range(), name))


@bp.get("/api/changes")
@require("viewer")
def api_changes() -> Any:
    return jsonify(changes=queries.changes(es(), prefix(), time_range(), service=text_arg("service")))


@bp.get("/services")
@require("viewer")
def page() -> Any:
    return render_template("services.html", services=queries.service_names(es(), prefix(), time_range()))


@bp.get("/services/<name>")
@require("viewer")
def detail(name: str) -> Any:
    time_range()
    return render_template("service.html", service=name, charts=CHARTS)
