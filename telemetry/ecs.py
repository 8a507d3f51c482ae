"""Builders for the six kinds of document the suite stores, with Elastic Common Schema names.

Every document carries ``@timestamp``, ``service.name|version|environment``, ``host.name``,
``agent.id`` and ``event.dataset``; those emitted inside a transaction also carry ``trace.id``,
``transaction.id`` and ``span.id`` from :mod:`telemetry.context` without the caller passing them.
Builders return nested dicts, ready to index.
"""
from __future__ import annotations

import hashlib
import json
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from .context import TraceIds, current_ids

KINDS = ("logs", "transactions", "spans", "metrics", "errors", "changes")
Kind = Literal["logs", "transactions", "spans", "metrics", "errors", "changes"]
_LINE_NUMBER = re.compile(r", line \d+")
ChangeCategory = Literal["configuration", "deployment"]
Outcome = Literal["success", "failure", "unknown"]


@dataclass(frozen=True)
class ServiceInfo:
    """Who emits a document: the service, its version and environment, the host and agent."""

    name: str
    version: str = "unknown"
    environment: str = "development"
    host_name: str = field(default_factory=socket.gethostname)
    agent_id: str = ""

    def fields(self) -> dict[str, str]:
        out = {"service.name": self.name, "service.version": self.version,
               "service.environment": self.environment, "host.name": self.host_name}
        if self.agent_id:
            out["agent.id"] = self.agent_id
        return out


def timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with microseconds, as Elasticsearch's ``date`` type reads it."""
    moment = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``; a key that is both a value and an object raises."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if type(node) is not dict:
                raise ValueError(f"field {dotted!r} conflicts with a value at {part!r}")
        existing = node.get(leaf)
        if isinstance(value, dict):
            if existing is None:
                node[leaf] = to_nested(value)
            elif type(existing) is dict:
                existing.update(to_nested(value))
            else:
                raise ValueError(f"field {dotted!r} conflicts with a value of the same name")
        elif type(existing) is dict:
            raise ValueError(f"field {dotted!r} conflicts with an object of the same name")
        else:
            node[leaf] = value
    return out


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The inverse of :func:`to_nested`: nested dicts to dotted keys."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _document(service: ServiceInfo, dataset: str, at: datetime | str | None,
              ids: TraceIds | None, fields: Mapping[str, Any], labels: Mapping[str, Any] | None) -> dict[str, Any]:
    flat: dict[str, Any] = {"@timestamp": at if isinstance(at, str) else timestamp(at)}
    flat.update(service.fields())
    flat["event.dataset"] = dataset
    if ids is not None:
        flat.update(ids.as_fields())
    flat.update(fields)
    if labels:
        flat.update({f"labels.{key}": value for key, value in labels.items()})
    return to_nested(flat)


def log_document(service: ServiceInfo, message: str, level: str = "info", logger: str = "", *,
                 at: datetime | str | None = None, file_path: str | None = None, offset: int | None = None,
                 error: Mapping[str, Any] | None = None, ids: TraceIds | None = None,
                 labels: Mapping[str, Any] | None = None, dataset: str = "oam.log") -> dict[str, Any]:
    """A log line; ``error`` takes ECS ``error.*`` fields without the prefix (``type``, ``message``...)."""
    fields = {"message": message, "log.level": level.lower(), "log.logger": logger or None,
              "log.file.path": file_path, "log.offset": offset, "event.kind": "event"}
    fields.update({f"error.{key}": value for key, value in (error or {}).items()})
    return _document(service, dataset, at, ids if ids is not None else current_ids(), fields, labels)


def transaction_document(service: ServiceInfo, name: str, type_: str, ids: TraceIds, *, duration_ns: int,
                         outcome: Outcome = "success", at: datetime | str | None = None,
                         http: Mapping[str, Any] | None = None, url: Mapping[str, Any] | None = None,
                         labels: Mapping[str, Any] | None = None,
                         dataset: str = "oam.transaction") -> dict[str, Any]:
    """One request or job handled by one service (an LTX), with its duration and outcome."""
    fields: dict[str, Any] = {"transaction.name": name, "transaction.type": type_, "event.duration": duration_ns,
                              "event.outcome": outcome, "event.kind": "event"}
    fields.update({f"http.{key}": value for key, value in (http or {}).items()})
    fields.update({f"url.{key}": value for key, value in (url or {}).items()})
    return _document(service, dataset, at, ids, fields, labels)


def span_document(service: ServiceInfo, name: str, type_: str, ids: TraceIds, *, duration_ns: int,
                  outcome: Outcome = "success", at: datetime | str | None = None,
                  labels: Mapping[str, Any] | None = None, dataset: str = "oam.span") -> dict[str, Any]:
    """An operation inside a transaction: cache, database shard, queue, outgoing HTTP call."""
    fields = {"span.name": name, "span.type": type_, "event.duration": duration_ns, "event.outcome": outcome,
              "event.kind": "event"}
    return _document(service, dataset, at, ids, fields, labels)


def metric_document(service: ServiceInfo, metrics: Mapping[str, float], *, at: datetime | str | None = None,
                    labels: Mapping[str, Any] | None = None, dataset: str = "oam.metric") -> dict[str, Any]:
    """Metric samples under their own names (``system.cpu.total.pct``, a Prometheus name, ...)."""
    fields: dict[str, Any] = {"event.kind": "metric"}
    fields.update(metrics)
    return _document(service, dataset, at, None, fields, labels)


def grouping_key(error_type: str, stack_trace: str) -> str:
    """Errors of the same type raised through the same frames (line numbers aside) share a group."""
    frames = [_LINE_NUMBER.sub("", line.strip()) for line in stack_trace.splitlines()
              if line.strip().startswith("File ")]
    return hashlib.sha1("\n".join([error_type, *frames]).encode()).hexdigest()


def error_document(service: ServiceInfo, error_type: str, message: str, stack_trace: str = "", *,
                   error_id: str | None = None, group: str | None = None, at: datetime | str | None = None,
                   ids: TraceIds | None = None, labels: Mapping[str, Any] | None = None,
                   dataset: str = "oam.error") -> dict[str, Any]:
    """A captured exception, grouped by ``error.grouping_key``."""
    when = at if isinstance(at, str) else timestamp(at)
    fields = {"error.id": error_id or stable_id(service.name, error_type, message, when),
              "error.type": error_type, "error.message": message, "error.stack_trace": stack_trace or None,
              "error.grouping_key": group or grouping_key(error_type, stack_trace), "event.kind": "event"}
    return _document(service, dataset, when, ids if ids is not None else current_ids(), fields, labels)


def change_event(service: ServiceInfo, category: ChangeCategory, action: str, user_name: str, *,
                 target: str, old: Any = None, new: Any = None, comment: str = "",
                 at: datetime | str | None = None, labels: Mapping[str, Any] | None = None,
                 dataset: str = "oam.change") -> dict[str, Any]:
    """A deploy or a configuration edit; ``old`` and ``new`` are kept as JSON text."""
    if category not in ("configuration", "deployment"):
        raise ValueError(f"change category must be 'configuration' or 'deployment', not {category!r}")
    fields = {"event.kind": "event", "event.category": category, "event.action": action, "user.name": user_name,
              "change.target": target, "change.comment": comment or None,
              "change.old": None if old is None else json.dumps(old, sort_keys=True),
              "change.new": None if new is None else json.dumps(new, sort_keys=True),
              "message": f"{user_name} {action} {target}" + (f": {comment}" if comment else "")}
    return _document(service, dataset, at, None, fields, labels)


def shipping_line(kind: Kind, doc: Mapping[str, Any]) -> str:
    """One JSON line for a file the host agent ships: the document with its ``_kind`` (no newline)."""
    return json.dumps({"_kind": kind, **doc}, sort_keys=True, separators=(",", ":"), default=str)


def read_shipping_line(line: str) -> dict[str, Any]:
    """The document of a :func:`shipping_line` (its ``_kind`` removed)."""
    doc = json.loads(line)
    doc.pop("_kind", None)
    return doc


def stable_id(*parts: Any) -> str:
    """A deterministic document ``_id`` from its parts, so a retried send never duplicates."""
    return hashlib.sha1("\x1f".join(str(part) for part in parts).encode()).hexdigest()


def document_id(kind: Kind, doc: Mapping[str, Any]) -> str:
    """The deterministic ``_id`` of a document: its span, transaction or error id, else its source position."""
    flat = flatten(doc)
    own = {"spans": "span.id", "transactions": "transaction.id", "errors": "error.id"}.get(kind)
    if own and flat.get(own):
        return str(flat[own])
    if kind == "logs" and flat.get("log.offset") is not None:
        return stable_id(flat.get("agent.id"), flat.get("host.name"),
                         flat.get("log.file.fingerprint") or flat.get("log.file.path"), flat["log.offset"])
    return stable_id(kind, json.dumps(doc, sort_keys=True, default=str))
