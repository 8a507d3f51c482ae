"""Overview: health of Elasticsearch and ZooKeeper, hosts live and down, error rate, latency, today's changes,
and, on a suite run by ``oam up``, each of its pieces with its restart count."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from elasticsearch import ApiError, TransportError
from flask import Blueprint, jsonify, render_template

from .. import queries
from ..auth import require
from ..timerange import TimeRange
from .alerts import firing_count
from .common import config, connections, es, prefix, time_range
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
            today_changes = queries.changes(es(), prefix(), today, size=50, alerts=False)
        except (ApiError, TransportError) as exc:  # answering, but not searches yet (shards recovering)
            health["elasticsearch"] = {"ok": False, "detail": f"answers, but not searches yet ({type(exc).__name__})"}
    return {"health": health, "hosts_live": sum(h["live"] for h in hosts),
            "hosts_down": [h["name"] for h in hosts if not h["live"]], "figures": figures,
            "changes_today": today_changes, "pieces": suite_pieces(), "alerts_firing": _firing()}


def _firing() -> int | None:
    """Alerts firing now; None if the CMDB cannot be read."""
    try:
        return firing_count()
    except Exception:  # noqa: BLE001 - ZooKeeper down: health says so already
        return None


def suite_pieces() -> list[dict[str, Any]]:
    """The pieces ``oam up`` supervises (name, state, restarts, last exit and restart), [] without a suite."""
    path = config().suite_state_file
    if path is None:
        return []
    try:
        services = json.loads(path.read_text()).get("services", {})
    except (OSError, ValueError, AttributeError):
        return []
    return [{"name": name, "state": record.get("state", "running"), "restarts": record.get("restarts", 0),
             "last_exit": record.get("last_exit"),
             "last_restart": (datetime.fromtimestamp(record["last_restart"], timezone.utc).isoformat(timespec="seconds")
                              if record.get("last_restart") else None)}
            for name, record in services.items() if isinstance(record, dict)]


@bp.get("/api/overview")
@require("viewer")
def api() -> Any:
    return jsonify(_overview())


@bp.get("/")
@require("viewer")
def page() -> Any:
    return render_template("overview.html", **_overview())
