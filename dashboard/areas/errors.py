"""Errors: Sentry-style events grouped by ``error.grouping_key``, and one group's page."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request
from werkzeug.exceptions import BadRequest, NotFound

from .. import queries
from ..auth import require
from ..error_group import BadGroupingKey, BadQuiet, error_group, parse_quiet
from .common import es, prefix, text_arg, time_range

bp = Blueprint("errors", __name__)


def _groups() -> list[dict[str, Any]]:
    return queries.error_groups(es(), prefix(), time_range(), service=text_arg("service"))


def _group(key: str) -> dict[str, Any]:
    """The group of ``key`` (``quiet``: the quiet period before a comeback that marks it regressed, e.g. 24h or
    2d); a 400 if it cannot be a grouping key or quiet period, a 404 if no error of it is stored."""
    try:
        group = error_group(es(), prefix(), key, time_range(), parse_quiet(request.args.get("quiet")))
    except (BadGroupingKey, BadQuiet) as exc:
        raise BadRequest(str(exc)) from None
    if group is None:
        raise NotFound(f"no error group {key!r} (no error with this grouping key is stored)")
    return group


@bp.get("/api/errors")
@require("viewer")
def api() -> Any:
    return jsonify(groups=_groups())


@bp.get("/api/errors/<key>")
@require("viewer")
def api_group(key: str) -> Any:
    return jsonify(_group(key))


@bp.get("/errors")
@require("viewer")
def page() -> Any:
    return render_template("errors.html", groups=_groups())


@bp.get("/errors/<key>")
@require("viewer")
def group_page(key: str) -> Any:
    return render_template("error_group.html", group=_group(key))
