"""Turn tailed lines into the collector's NDJSON lines (``_kind``, ``_id`` and the ECS fields).

JSON-lines files (the app agent's ECS output) are not parsed: the source position is spliced
into the object as dotted fields, which keeps tailing cheap. Plain-text lines become log
documents. Either way the ``_id`` comes from host, file id and offset, so a resend is a no-op.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from telemetry.ecs import ServiceInfo, log_document, stable_id

from .tailer import Line


@dataclass
class Event:
    """One document's worth of lines: a single line, or a multi-line record (a stack trace)."""

    file_id: str
    path: str
    offset: int
    end: int
    text: str


def _json_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


class DocumentMaker:
    def __init__(self, service: ServiceInfo, dataset: str = "oam.log") -> None:
        self.service = service
        self.dataset = dataset

    def line_id(self, event: Event) -> str:
        return stable_id(self.service.agent_id, self.service.host_name, event.file_id, event.offset)

    def ndjson(self, event: Event) -> str:
        """One NDJSON line for the collector."""
        text = event.text.strip()
        doc_id = self.line_id(event)
        if text.startswith("{") and text.endswith("}") and '"_kind"' in text:
            extra = (f'"_id":{_json_string(doc_id)},"log.file.path":{_json_string(event.path)},'
                     f'"log.file.fingerprint":{_json_string(event.file_id)},"log.offset":{event.offset},'
                     f'"agent.id":{_json_string(self.service.agent_id)},')
            if text[1:].lstrip().startswith("}"):
                return "{" + extra.rstrip(",") + "}"
            return "{" + extra + text[1:]
        doc = log_document(self.service, event.text, _level(event.text), file_path=event.path, offset=event.offset,
                           dataset=self.dataset)  # the agent's own thread is in no transaction: no trace ids
        doc["log"]["file"]["fingerprint"] = event.file_id
        doc["_kind"], doc["_id"] = "logs", doc_id
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


_LEVEL = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL)\b")


def _level(text: str) -> str:
    match = _LEVEL.search(text[:200])
    return (match.group(1).lower() if match else "info").replace("warning", "warn")


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
