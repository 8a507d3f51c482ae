"""What every area's views share: the time range of the request and the app's connections."""
from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for
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


RANGE_ARGS = ("from", "to", "refresh")
QUICK_RANGES = (("5 m", "now-5m"), ("15 m", "now-15m"), ("1 h", "now-1h"), ("6 h", "now-6h"), ("24 h", "now-24h"),
                ("7 d", "now-7d"), ("today", "now/d"))


def range_args() -> dict[str, str]:
    """The request's ``from``, ``to`` and ``refresh``, for links that keep the range on another page."""
    return {name: request.args[name] for name in RANGE_ARGS if request.args.get(name)}


def quick_ranges() -> list[tuple[str, str, str]]:
    """(label, ``from``, URL of this page over that range up to now) for the picker's quick ranges."""
    if request.endpoint is None:
        return []
    others = {k: v for k, v in request.args.items() if k not in ("from", "to")}
    return [(label, start, url_for(request.endpoint, **(request.view_args or {}), **{**others, "from": start, "to": "now"}))
            for label, start in QUICK_RANGES]


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
