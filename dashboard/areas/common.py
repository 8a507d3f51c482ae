"""What every area's views share: the time range of the request and the app's connections."""
from __future__ import annotations

from typing import Any

from flask import current_app, request
from werkzeug.exceptions import BadRequest

from ..config import DashboardConfig
from ..safe_json import JsonRejected, loads
from ..services import Connections
from ..timerange import TimeRange


def config() -> DashboardConfig:
    return current_app.extensions["oam.config"]


def connections() -> Connections:
    return current_app.extensions["oam.connections"]


def es() -> Any:
    return connections().es


def prefix() -> str:
    return config().index_prefix


REFRESH_SECONDS = ("", "10", "30", "60")


def check_page_args() -> None:
    """Before each request: the arguments every page shares are usable (``from``/``to`` are checked
    where a page reads them); else a 400 naming the argument."""
    refresh = request.args.get("refresh")
    if refresh is not None and refresh not in REFRESH_SECONDS:
        raise BadRequest(f"refresh must be one of off (empty), {', '.join(REFRESH_SECONDS[1:])} seconds, "
                         f"not {refresh[:20]!r}")


def time_range() -> TimeRange:
    """The request's ``from`` and ``to`` (default: the last hour); BadTimeRange (400) if unusable."""
    return TimeRange.parse(request.args.get("from"), request.args.get("to"))


def text_arg(name: str, limit: int = 200) -> str:
    value = request.args.get(name, "").strip()
    if len(value) > limit:
        raise BadRequest(f"{name} is too long (at most {limit} characters)")
    return value


def json_object() -> dict[str, Any]:
    """The request's JSON object body, within the limits of :mod:`dashboard.safe_json`; else a 400 saying why."""
    if not request.is_json:
        raise BadRequest("expected a JSON object body (Content-Type: application/json)")
    try:
        body = loads(request.get_data(cache=True))
    except JsonRejected as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object body")
    return body
