"""What every area's views share: the time range of the request and the app's connections."""
from __future__ import annotations

from typing import Any

from flask import current_app, request

from ..config import DashboardConfig
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


def time_range() -> TimeRange:
    """The request's ``from`` and ``to`` (default: the last hour); BadTimeRange (400) if unusable."""
    return TimeRange.parse(request.args.get("from"), request.args.get("to"))


def text_arg(name: str, limit: int = 200) -> str:
    value = request.args.get(name, "").strip()
    if len(value) > limit:
        from werkzeug.exceptions import BadRequest
        raise BadRequest(f"{name} is too long (at most {limit} characters)")
    return value
