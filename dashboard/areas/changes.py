"""One change (a deploy or a CMDB edit) as the panel a chart marker opens: ``/api/changes/<id>``."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, url_for
from werkzeug.exceptions import NotFound

from cmdb import CmdbError
from deployer import Registry

from ..auth import require
from ..change_panel import UnknownChange, change_panel
from .common import config, connections, es, prefix

bp = Blueprint("changes", __name__)


@bp.get("/api/changes/<change_id>")
@require("viewer")
def api_change(change_id: str) -> Any:
    try:
        cmdb = connections().cmdb
        store, registry = cmdb.store, Registry(cmdb, config().environment)
    except CmdbError:  # the CMDB is away: the panel still has the event and the figures
        store = registry = None
    try:
        panel = change_panel(es(), prefix(), change_id, store, registry)
    except UnknownChange as exc:
        raise NotFound(str(exc)) from None
    if panel["kind"] == "deployment" and panel["service"]:
        anchor = f"deploy-{panel['deployment_id']}" if panel["deployment_id"] else None
        panel["record_url"] = url_for("deployments.page", service=panel["service"], _anchor=anchor)
    return jsonify(panel)
