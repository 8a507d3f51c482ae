"""Turn tailed lines into the collector's NDJSON lines (``_kind``, ``_id`` and nested ECS fields).

A JSON line with a ``_kind`` (the app agent's ECS output, the shape :mod:`telemetry.ecs` builds)
is passed on as it is, with its source position added (``log.file.path``/``fingerprint``,
``log.offset``, ``agent.id`` if it has none) and its ``log.level`` made canonical. Any other line
(plain text, or JSON that is not a document) becomes a log document of
:func:`telemetry.ecs.log_document`. Either way the ``_id`` comes from host, file id and offset,
so a resend is a no-op.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from telemetry.ecs import ServiceInfo, log_document, log_level, stable_id

from .tailer import Line


@dataclass
class Event:
    """One document's worth of lines: a single line, or a multi-line record (a stack trace)."""

    file_id: str
    path: str
    offset: int
    end: int
    text: str


class DocumentMaker:
    """Makes the collector's line for each tailed event, as the agent ``service`` reads them."""

    def __init__(self, service: ServiceInfo, dataset: str = "oam.log") -> None:
        self.service = service
        self.dataset = dataset

    def line_id(self, event: Event) -> str:
        return stable_id(self.service.agent_id, self.service.host_name, event.file_id, event.offset)

    def ndjson(self, event: Event) -> str:
        """One NDJSON line for the collector."""
        doc = self._json_document(event)
        if doc is None:
            doc = log_document(self.service, event.text, _level(event.text), file_path=event.path,
                               offset=event.offset, file_fingerprint=event.file_id, ids=None,
                               dataset=self.dataset)  # the agent's own thread is in no transaction
            doc["_kind"] = "logs"
        doc.setdefault("_id", self.line_id(event))
        return orjson.dumps(doc).decode()

    def _json_document(self, event: Event) -> dict[str, Any] | None:
        """The event's own document with its source position, if it is a JSON document line."""
        text = event.text.strip()
        if not (text.startswith("{") and '"_kind"' in text):
            return None
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if type(doc) is not dict or "_kind" not in doc:
            return None
        log = doc.setdefault("log", {})
        if type(log) is dict:
            if type(log.get("level")) is str:
                log["level"] = log_level(log["level"])
            log_file = log.setdefault("file", {})
            if type(log_file) is dict:
                log_file.update(path=event.path, fingerprint=event.file_id)
            log["offset"] = event.offset
        agent = doc.setdefault("agent", {}) if self.service.agent_id else None
        if type(agent) is dict:
            agent.setdefault("id", self.service.agent_id)
        return doc


_LEVEL = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL)\b")


def _level(text: str) -> str:
    """The first level name in a plain-text line's head, canonical (``WARN`` -> ``warning``); else info."""
    match = _LEVEL.search(text[:200])
    return log_level(match.group(1)) if match else "info"


class MultilineJoiner:
    """Joins continuation lines (those not matching ``start``) onto the line before them.

    The last event of a read is held back until the next start line arrives or ``flush`` is
    called (after a quiet spell), since its continuation may still be on its way.
    """

    def __init__(self, start: str | None) -> None:
        self.start = re.compile(start) if start else None
        self.pending: dict[str, Event] = {}

    def feed(self, lines: list[Line]) -> list[Event]:
        if self.start is None:
            return [Event(line.file_id, line.path, line.offset, line.end, line.text) for line in lines]
        done: list[Event] = []
        for line in lines:
            current = self.pending.get(line.file_id)
            if current is not None and not self.start.match(line.text):
                current.text += "\n" + line.text
                current.end = line.end
                continue
            if current is not None:
                done.append(current)
            self.pending[line.file_id] = Event(line.file_id, line.path, line.offset, line.end, line.text)
        return done

    def flush(self) -> list[Event]:
        events = list(self.pending.values())
        self.pending.clear()
        return events
