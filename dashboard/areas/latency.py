"""A service's latency histogram, and a selection of its transactions compared with the rest of the range."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, jsonify, request, url_for
from werkzeug.exceptions import BadRequest

from ..auth import require
from ..latency_comparison import BadSelection, compare, latency_histogram, parse_range, parse_selection
from .common import es, prefix

bp = Blueprint("latency", __name__)
MAX_SERVICE = 200
T = TypeVar("T")


def _parsed(service: str, parse: Callable[..., T]) -> T:
    """The request's parameters as ``parse`` reads them; a 400 naming the problem if they cannot be used."""
    if len(service) > MAX_SERVICE:
        raise BadRequest(f"service is too long (at most {MAX_SERVICE} characters)")
    try:
        return parse(request.args.items(multi=True))
    except BadSelection as exc:
        raise BadRequest(str(exc)) from None


@bp.get("/api/services/<name>/latency-histogram")
@require("viewer")
def api_histogram(name: str) -> Any:
    return jsonify(latency_histogram(es(), prefix(), name, _parsed(name, parse_range)))


@bp.get("/api/services/<name>/comparison")
@require("viewer")
def api_comparison(name: str) -> Any:
    answer = compare(es(), prefix(), name, _parsed(name, parse_selection))
    for row in answer["rows"]:
        params = {"service": name, **(answer["search"] if row["selection"]["count"] else
                                         {k: answer["search"][k] for k in ("from", "to")})}
        row["traces"] = url_for("trace_search.page", **params, **row["filter"]) if row["filter"] else None
    return jsonify(answer)
