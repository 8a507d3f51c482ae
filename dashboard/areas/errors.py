"""Errors: Sentry-style events grouped by ``error.grouping_key``."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template

from .. import queries
from ..auth import require
from .common import es, prefix, text_arg, time_range

bp = Blueprint("errors", __name__)


def _groups() -> list[dict[str, Any]]:
    return queries.error_groups(es(), prefix(), time_range(), service=text_arg("service"))


@bp.get("/api/errors")
@require("viewer")
def api() -> Any:
    return jsonify(groups=_groups())


@bp.get("/errors")
@require("viewer")
def page() -> Any:
    return render_template("errors.html", groups=_groups())
