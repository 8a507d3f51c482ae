"""Sentry events (envelopes and the legacy store endpoint) to ECS error documents, and
envelopes' ``transaction`` items to transactions and spans (:mod:`collector.sentry_transaction`).

Any unmodified Sentry SDK works: point its DSN at the collector,
``http://<token>@collector:4318/<project>``; the DSN's public key must be an issued collector
token. The GTX comes from the event's ``contexts.trace.trace_id``; the group key is the
exception type and its top in-app frames (module and function, not line numbers). The frames
are kept as the SDK sent them (``error.stack_frames``) and rendered as the event's platform
prints a stack (``error.stack_trace``: Python's ``Traceback`` layout for ``python``,
``at fn (file:line:col)`` lines for ``javascript``, ``node`` and the others).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telemetry.ecs import ServiceInfo, error_document, timestamp

from .decode import Action, document_action
from .limits import DEFAULT_LIMITS, Bounds, LimitError
from .sentry_event import SentryError, SentryEvent, TraceContext, read_event
from .sentry_transaction import transaction_actions

__all__ = ["SentryError", "SentryResult", "envelope_actions", "event_document", "parse_envelope", "sentry_key",
           "store_action"]

IN_APP_FRAMES = 5
_AUTH_PAIR = re.compile(r"(sentry_\w+)\s*=\s*([^,\s]+)")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


def sentry_key(auth_header: str | None, query_key: str | None) -> str | None:
    """The public key from ``X-Sentry-Auth`` (``Sentry sentry_key=...``) or the ``sentry_key`` parameter."""
    if auth_header:
        pairs = dict(_AUTH_PAIR.findall(auth_header))
        if pairs.get("sentry_key"):
            return pairs["sentry_key"]
    return query_key or None


def _envelope_json(raw: bytes, what: str, bounds: Bounds) -> Any:
    try:
        return bounds.loads(raw, what)
    except LimitError as exc:
        raise SentryError(400, f"{what}: {exc}") from None


def parse_envelope(data: bytes, bounds: Bounds | None = None) -> tuple[dict[str, Any], list[tuple[Any, bytes]]]:
    """An envelope to its header and ``(item header, payload)`` pairs; SentryError(400) if it is unreadable."""
    bounds = bounds or DEFAULT_LIMITS.at()
    position = 0

    def next_line() -> bytes:
        nonlocal position
        end = data.find(b"\n", position)
        end = len(data) if end < 0 else end
        line = data[position:end]
        position = end + 1
        return line

    header = _envelope_json(next_line() or b"{}", "envelope header", bounds)
    if not isinstance(header, dict):
        raise SentryError(400, "envelope header is not a JSON object")
    items = []
    while position < len(data):
        raw = next_line()
        if not raw.strip():
            continue
        item_header = _envelope_json(raw, "envelope item header", bounds)
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


def grouping_key(error_type: str, frames: list[dict[str, Any]]) -> str:
    """Exception type plus the innermost in-app frames (module/file and function)."""
    in_app = [frame for frame in frames if frame.get("in_app")] or frames
    top = in_app[-IN_APP_FRAMES:]
    parts = [error_type] + [f"{frame.get('module') or frame.get('filename') or '?'}:{frame.get('function') or '?'}"
                            for frame in top]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def _stack_trace(error_type: str, message: str, frames: list[dict[str, Any]], platform: str | None = None) -> str:
    """The frames as the platform prints a stack: Python's ``Traceback`` layout, else JavaScript's
    ``at fn (file:line:col)`` lines, innermost first (Sentry sends the frames outermost first)."""
    if platform and platform != "python":
        lines = [f"{error_type}: {message}"]
        for frame in reversed(frames):
            where = ":".join(str(part) for part in (frame.get("abs_path") or frame.get("filename") or "?",
                                                     frame.get("lineno"), frame.get("colno")) if part is not None)
            lines.append(f"    at {frame.get('function')} ({where})" if frame.get("function") else f"    at {where}")
        return "\n".join(lines)
    lines = ["Traceback (most recent call last):"]
    for frame in frames:
        lines.append(f'  File "{frame.get("abs_path") or frame.get("filename") or "?"}", '
                     f'line {frame.get("lineno") or "?"}, in {frame.get("function") or "?"}')
        if frame.get("context_line"):
            lines.append(f"    {str(frame['context_line']).strip()}")
    lines.append(f"{error_type}: {message}")
    return "\n".join(lines)


def event_document(event: SentryEvent, project: str, at: datetime | None = None) -> dict[str, Any]:
    """One checked Sentry event as an ECS error document carrying its GTX (``at``: its time, default now)."""
    values = event.exception.values if event.exception else None
    if values:
        last = values[-1]
        error_type = last.type or "Error"
        message = last.value or ""
        frames = [frame.model_dump() for frame in (last.stacktrace.frames or [])] if last.stacktrace else []
    else:
        entry = event.logentry or event.message
        error_type = "Message"
        message = (entry.formatted or entry.message or "") if entry else ""
        frames = []
    name, _, version = (event.release or "").partition("@")
    service = ServiceInfo(name=name or event.server_name or f"sentry-{project}",
                          version=version or "unknown", environment=event.environment or "production",
                          host_name=event.server_name or "unknown")
    trace_ctx = event.contexts.trace if event.contexts and event.contexts.trace else TraceContext()
    tags = event.tags or {}
    trace_id = trace_ctx.trace_id or tags.get("trace.id") or ""
    span_id = trace_ctx.span_id or ""
    stack = _stack_trace(error_type, message, frames, event.platform) if frames else ""
    doc = error_document(service, error_type, message, stack,
                         error_id=event.event_id, group=grouping_key(error_type, frames),
                         at=timestamp(at), ids=None,
                         labels={"sentry_project": project, "sentry_level": event.level or "error"},
                         dataset="sentry.event")
    if _HEX32.match(trace_id):
        doc["trace"] = {"id": trace_id}
        if _HEX16.match(span_id):
            doc["span"] = {"id": span_id}
        transaction_id = tags.get("transaction.id") or ""
        if _HEX16.match(transaction_id):
            doc["transaction"] = {"id": transaction_id}
    if event.logger:
        doc.setdefault("log", {})["logger"] = event.logger
    if frames:  # the SDK's own frame structure, outermost first, beside the rendered stack
        doc["error"]["stack_frames"] = [{key: value for key, value in frame.items() if value is not None}
                                        for frame in frames]
    if event.platform:
        doc.setdefault("labels", {})["sentry_platform"] = event.platform
    return doc


@dataclass
class SentryResult:
    """What one request held: the actions to index, the event id, refused items and dropped fields."""

    actions: list[Action] = field(default_factory=list)
    event_id: str | None = None
    failed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def _event_action(payload: bytes, project: str, prefix: str, bounds: Bounds, result: SentryResult) -> None:
    """Check one event and add its action (and what was dropped from it) to ``result``; SentryError if refused."""
    try:
        data = bounds.loads(payload, "event")
    except LimitError as exc:
        raise SentryError(400, str(exc)) from None
    event, dropped = read_event(data)
    doc = event_document(event, project, event.moment(bounds))
    if dropped:
        doc["labels"]["sentry_dropped"] = "; ".join(dropped)
    try:
        result.actions.append(document_action(doc, "errors", None, prefix, bounds))
    except ValueError as exc:
        raise SentryError(400, str(exc)) from None
    result.dropped += dropped


def _transaction_item(payload: bytes, project: str, prefix: str, bounds: Bounds, result: SentryResult) -> None:
    """A ``transaction`` item's transaction and spans (:mod:`collector.sentry_transaction`); SentryError if refused."""
    try:
        data = bounds.loads(payload, "transaction")
    except LimitError as exc:
        raise SentryError(400, str(exc)) from None
    try:
        actions, skipped = transaction_actions(data, project, prefix, bounds)
    except ValueError as exc:  # SentryError included
        raise SentryError(400, str(exc)) from None
    result.actions += actions
    result.dropped += skipped


def envelope_actions(data: bytes, project: str, prefix: str = "oam", bounds: Bounds | None = None) -> SentryResult:
    """The documents of an envelope's ``event`` items (errors) and ``transaction`` items (a transaction
    and its spans); a refused item is named, the others kept."""
    bounds = bounds or DEFAULT_LIMITS.at()
    header, items = parse_envelope(data, bounds)
    result = SentryResult(event_id=str(header["event_id"]) if isinstance(header.get("event_id"), str) else None)
    for number, (item_header, payload) in enumerate(items, start=1):
        kind = item_header.get("type") if isinstance(item_header, dict) else None
        if kind not in ("event", "transaction"):
            continue  # sessions, client reports, attachments, profiles: not stored
        try:
            if kind == "event":
                _event_action(payload, project, prefix, bounds, result)
            else:
                _transaction_item(payload, project, prefix, bounds, result)
        except SentryError as exc:
            result.failed.append(f"item {number}: {exc}")
    return result


def store_action(data: bytes, project: str, prefix: str = "oam", bounds: Bounds | None = None) -> SentryResult:
    """The legacy ``/store/`` body (one JSON event) to its action; SentryError(400) if it is refused."""
    result = SentryResult()
    _event_action(data, project, prefix, bounds or DEFAULT_LIMITS.at(), result)
    result.event_id = result.actions[0].source["error"]["id"]
    return result
