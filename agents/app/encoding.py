"""Cheap ECS JSON lines: orjson for the body, the fields a service's documents share encoded once.

Spans and log lines are encoded on a writer thread, but in the service's own process, so
every microsecond here is taken from request handling. The ``service``/``host``/``agent``
fields never change, so they are serialised once and spliced in front of each line; the rest
of a line is a small dict that orjson (a compiled JSON encoder) writes out, as UTF-8. Values
JSON has no type for are written as their ``str()``.
"""
from __future__ import annotations

import json
import time
from typing import Any

import orjson

from telemetry.ecs import ServiceInfo

_second_cache: tuple[int, str] = (-1, "")


def service_fields(service: ServiceInfo) -> dict[str, Any]:
    """The nested ``service``/``host``/``agent`` fields every document of ``service`` carries."""
    fields: dict[str, Any] = {"service": {"name": service.name, "version": service.version,
                                          "environment": service.environment},
                              "host": {"name": service.host_name}}
    if service.agent_id:
        fields["agent"] = {"id": service.agent_id}
    return fields


def iso_utc(seconds: int, micros: int) -> str:
    """ISO 8601 UTC with microseconds (as :func:`telemetry.ecs.timestamp` writes it)."""
    global _second_cache
    cached_second, prefix = _second_cache
    if cached_second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache = (seconds, prefix)
    return f"{prefix}.{micros:06d}Z"


def iso_utc_from_ns(epoch_ns: int) -> str:
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    return iso_utc(seconds, nanos // 1000)


def iso_utc_from_seconds(epoch_seconds: float) -> str:
    return iso_utc_from_ns(int(round(epoch_seconds * 1_000_000)) * 1000)


class LineEncoder:
    """Encodes one service's documents: its shared fields first, then the document's own."""

    def __init__(self, service: ServiceInfo) -> None:
        self.service = service
        self.fields = service_fields(service)
        self._prefix = orjson.dumps(self.fields)[:-1] + b","  # '{"service":{...},"host":{...},'

    def line(self, document: dict[str, Any]) -> bytes:
        """``document`` (non-empty) with the service's fields, as one JSON line without newline."""
        try:
            body = orjson.dumps(document, default=str)
        except TypeError:  # what orjson refuses (an int beyond 64 bits): the standard library's way
            body = json.dumps(document, default=str, separators=(",", ":"), ensure_ascii=False).encode()
        return self._prefix + body[1:]
