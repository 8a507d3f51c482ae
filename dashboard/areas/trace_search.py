"""Trace search: traces by service, operation, duration, outcome, labels, log text, error group and time."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request
from werkzeug.exceptions import BadRequest

from ..auth import require
from ..trace_query import DURATION_OF, OUTCOMES, SORTS, BadTraceQuery, TraceQuery, parse_query
from ..trace_search import search_traces
from .common import es, prefix

bp = Blueprint("trace_search", __name__)


def _query() -> TraceQuery:
    try:
        return parse_query(request.args.items(multi=True))
    except BadTraceQuery as exc:
        raise BadRequest(str(exc)) from None


@bp.get("/api/traces/search")
@require("viewer")
def api() -> Any:
    return jsonify(search_traces(es(), prefix(), _query()))


@bp.get("/traces/search")
@require("viewer")
def page() -> Any:
    result = search_traces(es(), prefix(), _query()) if request.args else None
    labels = [(name[len("labels."):], value) for name, value in request.args.items(multi=True)
              if name.startswith("labels.") and value]
    return render_template("trace_search.html", result=result, labels=labels, sorts=SORTS,
                           duration_of=DURATION_OF, outcomes=OUTCOMES)
