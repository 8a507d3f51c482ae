"""Overview: health of Elasticsearch and ZooKeeper, hosts live and down, error rate, latency, today's changes."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from elasticsearch import ApiError, TransportError
from flask import Blueprint, jsonify, render_template

from .. import queries
from ..auth import require
from ..timerange import TimeRange
from .common import connections, es, prefix, time_range
from .hosts import host_list

bp = Blueprint("overview", __name__)


def _overview() -> dict[str, Any]:
    window = time_range()
    now = datetime.now(timezone.utc)
    today = TimeRange(now.replace(hour=0, minute=0, second=0, microsecond=0), now)
    health = connections().health()
    try:
        hosts = host_list()
    except Exception as exc:  # noqa: BLE001 - ZooKeeper down: the overview says so instead of failing
        hosts, health["zookeeper"] = [], {"ok": False, "detail": str(exc)}
    figures: dict[str, Any] = {}
    today_changes: list[dict[str, Any]] = []
    if health["elasticsearch"]["ok"]:
        try:
            figures = queries.overview_figures(es(), prefix(), window)
            today_changes = queries.changes(es(), prefix(), today, size=50)
        except (ApiError, TransportError) as exc:  # answering, but not searches yet (shards recovering)
            health["elasticsearch"] = {"ok": False, "detail": f"answers, but not searches yet ({type(exc).__name__})"}
    return {"health": health, "hosts_live": sum(h["live"] for h in hosts),
            "hosts_down": [h["name"] for h in hosts if not h["live"]], "figures": figures,
            "changes_today": today_changes}


@bp.get("/api/overview")
@require("viewer")
def api() -> Any:
    return jsonify(_overview())


@bp.get("/")
@require("viewer")
def page() -> Any:
    return render_template("overview.html", **_overview())
