"""The service map: services and the calls between them, with rate, error rate and p95 per call."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template

from ..auth import require
from ..service_map import NODE_HEIGHT, NODE_WIDTH, layout, service_map
from .common import es, prefix, time_range

bp = Blueprint("service_map", __name__)


@bp.get("/api/service-map")
@require("viewer")
def api() -> Any:
    return jsonify(service_map(es(), prefix(), time_range()))


@bp.get("/service-map")
@require("viewer")
def page() -> Any:
    found = service_map(es(), prefix(), time_range())
    return render_template("service_map.html", map=found, drawing=layout(found), node_width=NODE_WIDTH,
                           node_height=NODE_HEIGHT)
