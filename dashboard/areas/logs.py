"""Logs: search by text, level, service, host and time range; each line links to its trace."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template

from foundation.log_levels import LEVELS, log_level

from .. import queries
from ..auth import require
from .common import config, es, prefix, text_arg, time_range

bp = Blueprint("logs", __name__)


def _search() -> dict[str, Any]:
    level = text_arg("level", 20)
    level = log_level(level) if level else ""  # "WARN" and "warning" both mean warning
    if level and level not in LEVELS:
        from werkzeug.exceptions import BadRequest
        raise BadRequest(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    return queries.search_logs(es(), prefix(), time_range(), text=text_arg("q"), level=level,
                               service=text_arg("service"), host=text_arg("host"), size=config().search_size)


@bp.get("/api/logs")
@require("viewer")
def api() -> Any:
    return jsonify(_search())


@bp.get("/logs")
@require("viewer")
def page() -> Any:
    return render_template("logs.html", result=_search(), levels=LEVELS)
