"""What every collector door accepts: JSON size, depth and code points, and a window for timestamps.

Usage::

    limits = InputLimits()                     # or CollectorConfig.limits, from [limits] in the TOML
    bounds = limits.at()                       # the window is measured from now, once per request
    doc = bounds.loads(raw, "line")            # LimitError names what is wrong
    bounds.check_time(moment, "@timestamp")    # LimitError if outside [now - max_age, now + max_ahead]

The agent lines, Sentry events and OTLP JSON bodies are all read through :meth:`Bounds.loads`:

* over ``max_document_bytes``: refused;
* nested deeper than ``max_json_depth`` (arrays and objects): refused, before anything recursive
  (orjson parses without Python recursion and stops by itself past 1024 levels);
* a lone UTF-16 surrogate written as an escape (``"\\ud800"``, valid JSON but not encodable as
  UTF-8): replaced by U+FFFD, so the document is kept and every string reaching Elasticsearch
  is valid UTF-8. Raw bytes that are not UTF-8 are not JSON text at all: refused.

Each refusal is a :class:`LimitError` (a ``ValueError``) for one document; the decoders report it
for that document and keep its neighbours.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import Field

from foundation.clock import utc_iso, utc_now
from foundation.settings import PositiveFloat, PositiveInt, SettingsModel

ORJSON_MAX_DEPTH = 1024  # orjson refuses deeper documents itself
# An escaped backslash, a valid surrogate pair, or a lone surrogate escape, scanned left to right.
_ESCAPES = re.compile(rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|(\\u[dD][89a-fA-F][0-9a-fA-F]{2})")
_REPLACEMENT = rb"\ufffd"


class LimitError(ValueError):
    """One document is over a limit or not readable; the message names the limit."""


class InputLimits(SettingsModel):
    """The ``[limits]`` table of the collector's settings."""

    max_json_depth: PositiveInt = Field(64, le=ORJSON_MAX_DEPTH)
    max_document_bytes: PositiveInt = 1 << 20
    max_age_days: PositiveFloat = 7.0
    max_ahead_seconds: PositiveFloat = 3600.0

    def at(self, now: datetime | None = None) -> Bounds:
        """These limits with the timestamp window measured from ``now`` (default: the current time)."""
        now = now or utc_now()
        return Bounds(self, now - timedelta(days=self.max_age_days), now + timedelta(seconds=self.max_ahead_seconds))


def _escape_lone_surrogate(match: re.Match[bytes]) -> bytes:
    return _REPLACEMENT if match.group(1) else match.group(0)


def replace_lone_surrogates(raw: bytes) -> bytes:
    r"""JSON text with every lone ``\uD800``-``\uDFFF`` escape made ``\uFFFD`` (pairs and ``\\u...`` kept)."""
    return _ESCAPES.sub(_escape_lone_surrogate, raw)


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed value (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


@dataclass(frozen=True)
class Bounds:
    """:class:`InputLimits` with the timestamp window fixed at one moment (one request)."""

    limits: InputLimits
    earliest: datetime
    latest: datetime

    def check_size(self, size: int, what: str) -> None:
        limit = self.limits.max_document_bytes
        if size > limit:
            raise LimitError(f"{what} of {size} bytes is over the limit of {limit} bytes (max_document_bytes)")

    def check_depth(self, value: Any, what: str) -> None:
        limit = self.limits.max_json_depth
        if json_depth(value) > limit:
            raise LimitError(f"{what} is nested deeper than {limit} levels (max_json_depth)")

    def loads(self, raw: bytes, what: str = "document") -> Any:
        """One JSON document within the limits (see the module's docstring)."""
        self.check_size(len(raw), what)
        value = parse_json(raw, what, self.limits.max_json_depth)
        # A document with fewer brackets than the limit cannot nest deeper: most skip the walk.
        if raw.count(b"[") + raw.count(b"{") > self.limits.max_json_depth:
            self.check_depth(value, what)
        return value

    def check_time(self, moment: datetime, field: str) -> None:
        """Refuse a moment outside the window, naming the field, the moment and the window."""
        if not self.earliest <= moment <= self.latest:
            raise LimitError(f"{field} {utc_iso(moment)} is outside the accepted window "
                             f"{utc_iso(self.earliest)} .. {utc_iso(self.latest)} (max_age_days, max_ahead_seconds)")


def parse_json(raw: bytes, what: str = "document", depth_limit: int = ORJSON_MAX_DEPTH) -> Any:
    """JSON text with lone surrogate escapes replaced, nested at most 1024 deep; LimitError if unreadable.

    For a body whose parts are checked one by one (an OTLP export); :meth:`Bounds.loads` for a document.
    ``depth_limit`` is the limit a too-deep document is said to be over.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "surrogate" not in str(exc):
            raise LimitError(_json_problem(exc, what, depth_limit)) from None
    try:
        return orjson.loads(replace_lone_surrogates(raw))
    except orjson.JSONDecodeError as exc:
        raise LimitError(_json_problem(exc, what, depth_limit)) from None


def _json_problem(exc: orjson.JSONDecodeError, what: str, depth_limit: int) -> str:
    if "depth limit" in str(exc) or "recursion" in str(exc):
        return f"{what} is nested deeper than {depth_limit} levels (max_json_depth)"
    return f"invalid JSON: {exc}"


DEFAULT_LIMITS = InputLimits()
