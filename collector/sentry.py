"""Sentry events (envelopes and the legacy store endpoint) to ECS error documents.

Any unmodified Sentry SDK works: point its DSN at the collector,
``http://<token>@collector:4318/<project>``; the DSN's public key must be an issued collector
token. The GTX comes from the event's ``contexts.trace.trace_id``; the group key is the
exception type and its top in-app frames (module and function, not line numbers).
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Any

from telemetry.ecs import ServiceInfo, error_document, timestamp

from .decode import Action, document_action

IN_APP_FRAMES = 5
_AUTH_PAIR = re.compile(r"(sentry_\w+)\s*=\s*([^,\s]+)")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


class SentryError(ValueError):
    """The request is not a Sentry event the collector can read; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def sentry_key(auth_header: str | None, query_key: str | None) -> str | None:
    """The public key from ``X-Sentry-Auth`` (``Sentry sentry_key=...``) or the ``sentry_key`` parameter."""
    if auth_header:
        pairs = dict(_AUTH_PAIR.findall(auth_header))
        if pairs.get("sentry_key"):
            return pairs["sentry_key"]
    return query_key or None


def parse_envelope(data: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """An envelope to its header and ``(item header, payload)`` pairs."""
    position = 0

    def next_line() -> bytes:
        nonlocal position
        end = data.find(b"\n", position)
        end = len(data) if end < 0 else end
        line = data[position:end]
        position = end + 1
        return line

    try:
        header = json.loads(next_line() or b"{}")
    except ValueError as exc:
        raise SentryError(400, f"envelope header is not JSON: {exc}") from None
    items = []
    while position < len(data):
        raw = next_line()
        if not raw.strip():
            continue
        try:
            item_header = json.loads(raw)
        except ValueError as exc:
            raise SentryError(400, f"envelope item header is not JSON: {exc}") from None
        length = item_header.get("length") if isinstance(item_header, dict) else None
        if isinstance(length, int) and length >= 0:
            payload = data[position:position + length]
            if len(payload) < length:
                raise SentryError(400, "envelope item is shorter than its length")
            position += length
            if data[position:position + 1] == b"\n":
                position += 1
        else:
            payload = next_line()
        items.append((item_header, payload))
    return header, items


def _frames(exception: dict[str, Any]) -> list[dict[str, Any]]:
    stack = exception.get("stacktrace") or {}
    return [frame for frame in stack.get("frames") or [] if isinstance(frame, dict)]


def grouping_key(error_type: str, frames: list[dict[str, Any]]) -> str:
    """Exception type plus the innermost in-app frames (module/file and function)."""
    in_app = [frame for frame in frames if frame.get("in_app")] or frames
    top = in_app[-IN_APP_FRAMES:]
    parts = [error_type] + [f"{frame.get('module') or frame.get('filename') or '?'}:{frame.get('function') or '?'}"
                            for frame in top]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def _stack_trace(error_type: str, message: str, frames: list[dict[str, Any]]) -> str:
    lines = ["Traceback (most recent call last):"]
    for frame in frames:
        lines.append(f'  File "{frame.get("abs_path") or frame.get("filename") or "?"}", '
                     f'line {frame.get("lineno", "?")}, in {frame.get("function") or "?"}')
        if frame.get("context_line"):
            lines.append(f"    {str(frame['context_line']).strip()}")
    lines.append(f"{error_type}: {message}")
    return "\n".join(lines)


def _event_time(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timestamp(datetime.fromtimestamp(value, timezone.utc))
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return timestamp()
        return timestamp(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
    return timestamp()


def event_document(event: dict[str, Any], project: str) -> dict[str, Any]:
    """One Sentry event as an ECS error document carrying its GTX."""
    if not isinstance(event, dict):
        raise SentryError(400, "event is not a JSON object")
    values = (event.get("exception") or {}).get("values") if isinstance(event.get("exception"), dict) else None
    if values:
        last = values[-1]
        error_type = str(last.get("type") or "Error")
        message = str(last.get("value") or "")
        frames = _frames(last)
    else:
        logentry = event.get("logentry") or {}
        error_type = "Message"
        message = str(event.get("message") or logentry.get("formatted") or logentry.get("message") or "")
        frames = []
    release = str(event.get("release") or "")
    name, _, version = release.partition("@")
    service = ServiceInfo(name=name or str(event.get("server_name") or f"sentry-{project}"),
                          version=version or "unknown", environment=str(event.get("environment") or "production"),
                          host_name=str(event.get("server_name") or "unknown"))
    trace_ctx = (event.get("contexts") or {}).get("trace") or {}
    tags = event.get("tags") or {}
    if isinstance(tags, list):
        tags = {pair[0]: pair[1] for pair in tags if isinstance(pair, (list, tuple)) and len(pair) == 2}
    trace_id = str(trace_ctx.get("trace_id") or tags.get("trace.id") or "")
    span_id = str(trace_ctx.get("span_id") or "")
    event_id = str(event.get("event_id") or "").replace("-", "")
    doc = error_document(service, error_type, message, _stack_trace(error_type, message, frames) if frames else "",
                         error_id=event_id or None, group=grouping_key(error_type, frames),
                         at=_event_time(event.get("timestamp")), ids=None,
                         labels={"sentry_project": project, "sentry_level": str(event.get("level") or "error")},
                         dataset="sentry.event")
    if _HEX32.match(trace_id):
        doc["trace"] = {"id": trace_id}
        if _HEX16.match(span_id):
            doc["span"] = {"id": span_id}
        transaction_id = str(tags.get("transaction.id") or "")
        if _HEX16.match(transaction_id):
            doc["transaction"] = {"id": transaction_id}
    if event.get("logger"):
        doc.setdefault("log", {})["logger"] = str(event["logger"])
    return doc


def envelope_actions(data: bytes, project: str, prefix: str = "oam") -> tuple[list[Action], str | None]:
    """The error documents of an envelope's ``event`` items, and the envelope's event id."""
    header, items = parse_envelope(data)
    actions = []
    for item_header, payload in items:
        if not isinstance(item_header, dict) or item_header.get("type") != "event":
            continue  # sessions, client reports, attachments, transactions: not stored
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise SentryError(400, f"event item is not JSON: {exc}") from None
        actions.append(_action(event_document(event, project), prefix))
    event_id = header.get("event_id") if isinstance(header, dict) else None
    return actions, event_id


def store_action(data: bytes, project: str, prefix: str = "oam") -> tuple[Action, str | None]:
    """The legacy ``/store/`` body (one JSON event) to its action."""
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise SentryError(400, f"event is not JSON: {exc}") from None
    action = _action(event_document(event, project), prefix)
    return action, event.get("event_id") if isinstance(event, dict) else None


def _action(doc: dict[str, Any], prefix: str) -> Action:
    try:
        return document_action(doc, "errors", None, prefix)
    except ValueError as exc:
        raise SentryError(400, str(exc)) from None
