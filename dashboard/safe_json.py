"""JSON in and out of the dashboard, bounded and always encodable.

Every JSON body the dashboard accepts goes through :func:`loads`: at most ``MAX_BYTES`` and
``MAX_DEPTH`` levels of nesting, and no lone surrogate (``"\\ud800"``) in any string, each refused
with :class:`JsonRejected` naming the problem (a 400). What comes back from Elasticsearch and
what the dashboard answers goes through :func:`scrub`, which puts U+FFFD where a lone
surrogate was, so one odd document cannot make a page unrenderable::

    from dashboard.safe_json import loads, scrub
    loads('{"a": [1, 2]}')            # {'a': [1, 2]}
    loads("[" * 100_000)              # JsonRejected: nested deeper than 64 levels
    scrub({"message": "a \\ud800 b"})  # {'message': 'a \\ufffd b'}
"""
from __future__ import annotations

import json
import re
from typing import Any

from elasticsearch.serializer import CompatibilityModeJsonSerializer, JsonSerializer
from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 64
MAX_BYTES = 1024 * 1024
REPLACEMENT = "\ufffd"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins valid pairs, so any left is lone


class JsonRejected(ValueError):
    """A JSON body the dashboard does not take; the message says why."""


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, list):
        return value
    return []


def check(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """``value`` if it nests at most ``max_depth`` levels and has no lone surrogate, else JsonRejected."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                raise JsonRejected("the JSON has a string with a lone surrogate (such as \\ud800): "
                                   "send valid Unicode")
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                raise JsonRejected(f"the JSON is nested deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in _children(item))
    return value


def loads(data: str | bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a JSON body within the limits, or raise :class:`JsonRejected` naming what is wrong."""
    if len(data) > max_bytes:
        raise JsonRejected(f"the JSON is {len(data)} bytes; at most {max_bytes}")
    try:
        value = json.loads(data)
    except RecursionError:
        raise JsonRejected(f"the JSON is nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError:
        raise JsonRejected("the JSON is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise JsonRejected(f"the body is not valid JSON: {exc.msg} at line {exc.lineno} "
                           f"column {exc.colno}") from None
    except ValueError as exc:  # a number past Python's limit of digits
        raise JsonRejected(f"the JSON has a value it cannot take: {str(exc).split(':')[0]}") from None
    return check(value, max_depth)


def scrub(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


def _decoded(data: bytes | str) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else data


class ScrubbingJsonSerializer(JsonSerializer):
    """Elasticsearch answers decoded leniently (bad UTF-8 and lone surrogates become U+FFFD)."""

    def loads(self, data: bytes) -> Any:
        text = _decoded(data)
        value = super().loads(text)  # type: ignore[arg-type]
        return scrub(value) if "\\u" in text else value  # a lone surrogate can only come as an escape


class ScrubbingCompatibilityJsonSerializer(CompatibilityModeJsonSerializer, ScrubbingJsonSerializer):
    """The same for the ``application/vnd.elasticsearch+json`` answers of compatibility mode."""


def es_serializers() -> dict[str, Any]:
    """The Elasticsearch client's ``serializers`` for JSON answers, scrubbing as above."""
    return {ScrubbingJsonSerializer.mimetype: ScrubbingJsonSerializer(),
            ScrubbingCompatibilityJsonSerializer.mimetype: ScrubbingCompatibilityJsonSerializer()}


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON with the limits of :func:`loads` on the way in and :func:`scrub` on the way out."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        text = super().dumps(obj, **kwargs)
        return super().dumps(scrub(obj), **kwargs) if "\\ud" in text.lower() else text
