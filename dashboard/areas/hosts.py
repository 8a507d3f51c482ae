"""Hosts: live and known hosts from the CMDB; per host, CPU, memory, disk and network charts."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template
from werkzeug.exceptions import NotFound

from .. import queries
from ..auth import require
from .common import connections, es, prefix, time_range

bp = Blueprint("hosts", __name__)


def host_list() -> list[dict[str, Any]]:
    return [{"name": s.facts.name, "live": s.live, "since": s.since, "role": s.facts.role,
             "environment": s.facts.environment, "addresses": s.facts.addresses, "services": s.facts.services}
            for s in connections().cmdb.inventory.hosts()]


def _known(name: str) -> dict[str, Any]:
    for host in host_list():
        if host["name"] == name:
            return host
    raise NotFound(f"unknown host {name[:100]!r}: the CMDB has no such host")


@bp.get("/api/hosts")
@require("viewer")
def api_list() -> Any:
    return jsonify(hosts=host_list())


@bp.get("/api/hosts/<name>/metrics")
@require("viewer")
def api_metrics(name: str) -> Any:
    _known(name)
    return jsonify(queries.host_charts(es(), prefix(), time_range(), name))


@bp.get("/hosts")
@require("viewer")
def page() -> Any:
    return render_template("hosts.html", hosts=host_list())


@bp.get("/hosts/<name>")
@require("viewer")
def detail(name: str) -> Any:
    host = _known(name)
    time_range()  # a bad range is a friendly 400 page before any chart is drawn
    return render_template("host.html", host=host, charts=list(queries.HOST_METRICS))
