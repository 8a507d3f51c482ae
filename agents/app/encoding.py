"""Cheap ECS JSON lines: byte templates for the fixed shape, orjson for free-form values.

Spans and log lines are encoded on a writer thread, but in the service's own process, so
every microsecond here is taken from request handling. A line's shape is fixed, so it is
written with one ``%`` format of a byte template (ids and numbers formatted in C); only the
values that need escaping (names, messages, labels) go through orjson, a compiled JSON
encoder, and names repeat so often that their encoding is kept. The ``service``/``host``/
``agent`` fields never change and are encoded once. Values JSON has no type for are written
as their ``str()``.
"""
from __future__ import annotations

import json
import time
from typing import Any

import orjson

from telemetry.ecs import ServiceInfo

_second_cache: tuple[int, bytes] = (-1, b"")
_NAME_CACHE_SIZE = 4096


def service_fields(service: ServiceInfo) -> dict[str, Any]:
    """The nested ``service``/``host``/``agent`` fields every document of ``service`` carries."""
    fields: dict[str, Any] = {"service": {"name": service.name, "version": service.version,
                                          "environment": service.environment},
                              "host": {"name": service.host_name}}
    if service.agent_id:
        fields["agent"] = {"id": service.agent_id}
    return fields


def json_value(value: Any) -> bytes:
    """``value`` as JSON (UTF-8); what JSON has no type for is written as its ``str()``."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:  # what orjson refuses (an int beyond 64 bits): the standard library's way
        return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False).encode()


def second_prefix(seconds: int) -> bytes:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) of ``seconds``; the last one is kept (lines come in order)."""
    global _second_cache
    cached_second, prefix = _second_cache
    if cached_second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode()
        _second_cache = (seconds, prefix)
    return prefix


class LineEncoder:
    """What one service's lines share: the encoded service fields, and the names seen so far."""

    def __init__(self, service: ServiceInfo) -> None:
        self.service = service
        self.fields = service_fields(service)
        self.prefix = orjson.dumps(self.fields)[:-1] + b","  # b'{"service":{...},"host":{...},'
        self._names: dict[str, bytes] = {}

    def name(self, text: str) -> bytes:
        """``text`` as a JSON string, kept for the next time (span names, levels, loggers repeat)."""
        encoded = self._names.get(text)
        if encoded is None:
            encoded = json_value(text)
            if len(self._names) < _NAME_CACHE_SIZE:
                self._names[text] = encoded
        return encoded
