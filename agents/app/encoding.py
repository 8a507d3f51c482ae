"""Cheap ECS JSON lines: byte templates for the fixed shape, orjson for free-form values.

Spans and log lines are encoded in batches, by the line encoder process (or, without one, on a
writer thread of the service, where every microsecond is taken from request handling). A
line's shape is fixed, so it is
written with one ``%`` format of a byte template (ids and numbers formatted in C); only the
values that need escaping (names, messages, labels) go through orjson, a compiled JSON
encoder, and names repeat so often that their encoding is kept. The ``ecs``/``service``/``host``/
``agent``/``process`` fields never change and are encoded once. Values JSON has no type for are written
as their ``str()``.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from foundation.log_levels import log_level

if TYPE_CHECKING:  # the line encoder process imports this module without the telemetry contract's OpenTelemetry
    from telemetry.ecs import ServiceInfo

log = logging.getLogger(__name__)
_second_cache: tuple[int, bytes] = (-1, b"")
_NAME_CACHE_SIZE = 4096
_PROCESS_PID = b'"process":{"pid":'


def json_value(value: Any) -> bytes:
    """``value`` as JSON (UTF-8); what JSON has no type for is written as its ``str()``."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:  # what orjson refuses (an int beyond 64 bits): the standard library's way
        return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False).encode()


def id_value(text: Any) -> bytes:
    """An id (``transaction.id``) as JSON; one of letters and digits, as the agent makes them, needs no encoder."""
    if type(text) is str and text.isalnum():
        return b'"%s"' % text.encode()
    return json_value(text if type(text) is str else str(text))


def second_prefix(seconds: int) -> bytes:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) of ``seconds``; the last one is kept (lines come in order)."""
    global _second_cache
    cached_second, prefix = _second_cache
    if cached_second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode()
        _second_cache = (seconds, prefix)
    return prefix


class _FieldLayout:
    """The nested fields one set of attribute keys makes, filled in place for each line.

    Spans of one kind carry the same attribute keys, so the nesting (``http.request.method``
    -> ``{"http": {"request": {"method": ...}}}``) is worked out once per key set; a line only
    puts its values into the kept dicts (``slots``: dict, field name, attribute key; see
    :meth:`LineEncoder.attribute_fields`). A key that is both a value and an object (``a.b``
    next to ``a.b.c``) is left out, with a warning once per key set. Not for two threads at
    once (see :class:`LineEncoder`).
    """

    def __init__(self, keys: tuple[str, ...], prefixes: tuple[str, ...]) -> None:
        self.fields: dict[str, Any] = {}
        self.slots: list[tuple[dict[str, Any], str, str]] = []  # (dict, field name, attribute key)
        for key in keys:
            if not key.startswith(prefixes):
                continue
            if key.startswith("labels."):  # ECS labels are one level: "labels.a.b" -> labels["a.b"]
                path = ["labels", key[7:]]
            else:
                path = key.split(".")
            node: Any = self.fields
            for part in path[:-1]:
                node = node.setdefault(part, {})
                if type(node) is not dict:
                    break
            if type(node) is not dict or path[-1] in node:
                # "a.b" next to "a.b.c": JSON cannot hold both; the first one keeps its place
                log.warning("attribute %r left out of the lines: it clashes with another attribute", key)
                continue
            node[path[-1]] = None
            self.slots.append((node, path[-1], key))


class LineEncoder:
    """What one service's lines share: the encoded service fields, and the names seen so far.

    One thread at a time: a writer encodes its batches under its lock.
    """

    def __init__(self, service: ServiceInfo | None = None, prefix: bytes | None = None) -> None:
        """An encoder for ``service``'s lines, or for lines that begin with ``prefix`` (see :meth:`with_prefix`)."""
        if prefix is None:
            if service is None:
                raise TypeError("LineEncoder needs a service or a prefix")
            prefix = orjson.dumps(service.fields())[:-1] + b","  # b'{"service":{...},"host":{...},'
        self.prefix = prefix
        # The service's fields end with its process.pid, if it has one: a log line with its thread
        # writes ``process`` itself (process.pid beside process.thread.*).
        self.prefix_without_process, self.pid_field = prefix, b""
        at = prefix.rfind(_PROCESS_PID)
        if at >= 0 and prefix.endswith(b"},") and prefix[at + len(_PROCESS_PID):-2].isdigit():
            self.prefix_without_process = prefix[:at]
            self.pid_field = b'"pid":%s,' % prefix[at + len(_PROCESS_PID):-2]
        self._names: dict[str, bytes] = {}
        self._names_and_types: dict[tuple[str, str], bytes] = {}
        self._levels: dict[str, bytes] = {}
        self._layouts: dict[tuple[tuple[str, ...], tuple[str, ...]], _FieldLayout] = {}

    @classmethod
    def with_prefix(cls, prefix: bytes) -> "LineEncoder":
        """An encoder whose lines begin with ``prefix`` (another encoder's ``prefix``: the same service)."""
        return cls(prefix=prefix)

    def name(self, text: str) -> bytes:
        """``text`` as a JSON string, kept for the next time (span names, levels, loggers repeat)."""
        encoded = self._names.get(text)
        if encoded is None:
            encoded = json_value(text)
            if len(self._names) < _NAME_CACHE_SIZE:
                self._names[text] = encoded
        return encoded

    def level(self, level_name: str) -> bytes:
        """A logging level name as ECS writes it (:func:`foundation.log_levels.log_level`): ``"WARN"`` -> ``b'"warning"'``."""
        encoded = self._levels.get(level_name)
        if encoded is None:
            encoded = json_value(log_level(level_name))
            if len(self._levels) < _NAME_CACHE_SIZE:
                self._levels[level_name] = encoded
        return encoded

    def name_and_type(self, name: str, kind: str) -> bytes:
        """``"name":...,"type":...`` (no braces), kept for the next time, as :meth:`name`."""
        key = (name, kind)
        encoded = self._names_and_types.get(key)
        if encoded is None:
            encoded = b'"name":%s,"type":%s' % (json_value(str(name)), json_value(str(kind)))
            if len(self._names_and_types) < _NAME_CACHE_SIZE:
                self._names_and_types[key] = encoded
        return encoded

    def attribute_fields(self, attributes: Mapping[str, Any], prefixes: tuple[str, ...]) -> bytes:
        """The attributes whose keys start with one of ``prefixes`` as nested JSON fields.

        ``,"http":{"request":{"method":"GET"}},"labels":{"shard":"2"}`` (a leading comma, no
        braces); ``labels.*`` stay one level deep. Of two keys that clash (``a.b`` and
        ``a.b.c``) the first is kept.
        """
        key = (tuple(attributes), prefixes)
        layout = self._layouts.get(key)
        if layout is None:
            layout = _FieldLayout(key[0], prefixes)
            if len(self._layouts) < _NAME_CACHE_SIZE:
                self._layouts[key] = layout
        if not layout.slots:
            return b""
        for node, name, attribute in layout.slots:  # _FieldLayout.encode, inline: this runs for every line
            node[name] = attributes[attribute]
        return b"," + json_value(layout.fields)[1:-1]
