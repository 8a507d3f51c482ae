"""The one builder of the documents the suite stores: nested Elastic Common Schema, six kinds.

Every document carries ``@timestamp``, ``ecs.version``, ``service.name|version|environment``,
``host.name``, ``agent.id`` and ``event.dataset`` (and, from a :class:`ServiceInfo` made by
:meth:`ServiceInfo.local`, ``host.ip``, ``host.os.*``, ``host.architecture``, ``agent.type|version``
and ``process.pid``); those emitted inside a transaction also carry ``trace.id``,
``transaction.id`` and ``span.id`` from :mod:`telemetry.context` without the caller passing them.
Builders return nested dicts, ready to index::

    {"@timestamp": "...Z", "service": {"name": ...}, "event": {"dataset": "oam.log", ...},
     "log": {"level": "warning", "logger": "orders"}, "labels": {"shard.id": "2"}, ...}

Fields left None are left out. ``labels`` are one level deep, as ECS keeps them (a label named
``shard.id`` stays one key). ``log.level`` is always one of :data:`foundation.log_levels.LEVELS` (see :func:`log_level`).
Senders of dotted fields (``{"log.level": ...}``) are read with :func:`to_nested`.
"""
from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import os
import platform
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, NamedTuple

import psutil

from foundation.clock import utc_iso, utc_now
from foundation.log_levels import log_level

from .context import TraceIds, current_ids

KINDS = ("logs", "transactions", "spans", "metrics", "errors", "changes")
Kind = Literal["logs", "transactions", "spans", "metrics", "errors", "changes"]
STORED_KINDS = (*KINDS, "alerts")
"""Every kind with an index template: the shipped ones, and ``alerts`` (alert transitions, written by
the alert evaluator itself, never through the collector; see alerts.history)."""
_LINE_NUMBER = re.compile(r", line \d+")
Outcome = Literal["success", "failure", "unknown"]
ECS_VERSION = "8.11.0"
"""The Elastic Common Schema version the documents follow (``ecs.version``, a required ECS field)."""
CHANGE_CATEGORY = "configuration"
"""``event.category`` of every change event (ECS allows ``configuration`` with ``event.type: change``)."""
DEPLOYMENT_ACTIONS = ("deployment-finished", "rollback-finished")
"""``event.action`` of the change events a deploy or a rollback writes (the dashboard calls them deploys)."""


@dataclass(frozen=True)
class ServiceInfo:
    """Who emits a document: the service, its version and environment, the host, agent and process.

    ``host`` holds the ECS ``host.*`` fields besides the name (``ip``, ``os``, ``architecture``),
    as :func:`local_host` finds them; ``agent_type``/``agent_version`` name the program that wrote
    the document; ``pid`` is the emitting process. Left empty, they are left out.
    """

    name: str
    version: str = "unknown"
    environment: str = "development"
    host_name: str = field(default_factory=socket.gethostname)
    agent_id: str = ""
    agent_type: str = ""
    agent_version: str = ""
    host: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    pid: int | None = None

    @classmethod
    def local(cls, name: str, version: str = "unknown", environment: str = "development", *, agent_id: str = "",
              agent_type: str = "", agent_version: str = "", host_name: str | None = None) -> "ServiceInfo":
        """A service running in this process on this host: ``host.*`` and ``process.pid`` filled in."""
        return cls(name, version, environment, host_name or socket.gethostname(), agent_id, agent_type,
                   agent_version, local_host(), os.getpid())

    def with_local_details(self, agent_type: str, agent_version: str) -> "ServiceInfo":
        """This service as running here: this host's details, this process's pid, and the agent that writes."""
        return replace(self, host=self.host if self.host is not None else local_host(), pid=self.pid or os.getpid(),
                       agent_type=self.agent_type or agent_type, agent_version=self.agent_version or agent_version)

    def fields(self) -> dict[str, Any]:
        """The nested ``ecs``/``service``/``host`` (and ``agent``, ``process``) fields every document carries."""
        out: dict[str, Any] = {"ecs": {"version": ECS_VERSION},
                               "service": {"name": self.name, "version": self.version,
                                           "environment": self.environment},
                               "host": {**_copied(self.host), "name": self.host_name}}
        agent = {key: value for key, value in (("id", self.agent_id), ("type", self.agent_type),
                                               ("version", self.agent_version)) if value}
        if agent:
            out["agent"] = agent
        if self.pid:
            out["process"] = {"pid": self.pid}
        return out


def _copied(fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy two levels deep (``host.os``, ``host.ip``), so a document's edits never reach the shared one."""
    return {key: list(value) if isinstance(value, (list, tuple)) else dict(value) if isinstance(value, Mapping)
            else value for key, value in (fields or {}).items()}


@functools.lru_cache(maxsize=1)
def local_host() -> dict[str, Any]:
    """This host's ECS ``host.ip`` (its addresses but loopback), ``host.os.*`` and ``host.architecture``."""
    addresses: list[str] = []
    for interface in psutil.net_if_addrs().values():
        for address in interface:
            if address.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = ipaddress.ip_address(address.address.split("%", 1)[0])
            if not (ip.is_loopback or ip.is_link_local) and str(ip) not in addresses:
                addresses.append(str(ip))
    system = platform.system()
    os_fields: dict[str, Any] = {"type": system.lower(), "kernel": platform.release()}
    try:
        release = platform.freedesktop_os_release()
    except OSError:  # no /etc/os-release (not a Linux distribution)
        release = {}
    os_fields.update({key: value for key, value in (
        ("name", release.get("NAME") or system), ("version", release.get("VERSION_ID") or platform.version()),
        ("platform", release.get("ID") or system.lower()),
        ("family", (release.get("ID_LIKE") or release.get("ID") or "").split(" ")[0] or None),
        ("full", release.get("PRETTY_NAME"))) if value})
    return {"ip": addresses, "os": os_fields, "architecture": platform.machine()}


def timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with microseconds, as Elasticsearch's ``date`` type reads it."""
    return utc_iso(moment or utc_now(), "microseconds")


def to_nested(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys to nested objects: ``{"a.b": 1, "labels.x.y": 2}`` -> ``{"a": {"b": 1}, "labels": {"x.y": 2}}``.

    Nested input is merged as it is (its keys may be dotted too); ``labels`` stay one level;
    None values are left out; a key that is both a value and an object raises ValueError.
    """
    out: dict[str, Any] = {}
    for key, value in fields.items():
        _put(out, _path(key), value, key)
    return out


def _path(key: str) -> list[str]:
    return ["labels", key[7:]] if key.startswith("labels.") else key.split(".")


def _put(out: dict[str, Any], path: list[str], value: Any, key: str) -> None:
    if value is None:
        return
    if isinstance(value, Mapping) and value and path != ["labels"]:
        for inner, inner_value in value.items():
            _put(out, [*path, *str(inner).split(".")], inner_value, f"{key}.{inner}")
        return
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if type(node) is not dict:
            raise ValueError(f"field {key!r} conflicts with a value at {part!r}")
    leaf = path[-1]
    existing = node.get(leaf)
    if path == ["labels"]:  # {"labels": {...}}: one level, whatever its keys
        if not isinstance(value, Mapping):
            raise ValueError(f"field {key!r} must be an object of labels")
        if existing is not None and type(existing) is not dict:
            raise ValueError(f"field {key!r} conflicts with a value of the same name")
        node.setdefault(leaf, {}).update({name: label for name, label in value.items() if label is not None})
    elif isinstance(value, Mapping):  # an empty object
        if existing is None:
            node[leaf] = {}
        elif type(existing) is not dict:
            raise ValueError(f"field {key!r} conflicts with a value of the same name")
    elif type(existing) is dict:
        raise ValueError(f"field {key!r} conflicts with an object of the same name")
    else:
        node[leaf] = value


def lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    """The value at ``dotted`` (``"log.level"``, ``"labels.shard.id"``) in a nested document, or None."""
    node: Any = doc
    for part in _path(dotted):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The inverse of :func:`to_nested`: nested dicts to dotted keys."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _document(service: ServiceInfo, dataset: str, at: datetime | str | None, ids: TraceIds | None,
              kind: str, fields: Mapping[str, Any], labels: Mapping[str, Any] | None) -> dict[str, Any]:
    """The common fields, ``fields`` (dotted or nested) merged in, then ``labels`` (one level)."""
    doc: dict[str, Any] = {"@timestamp": at if isinstance(at, str) else timestamp(at), **service.fields(),
                           "event": {"dataset": dataset, "kind": kind}}
    if ids is not None:
        doc["trace"] = {"id": ids.trace_id}
        doc["span"] = {"id": ids.span_id}
        if ids.transaction_id:
            doc["transaction"] = {"id": ids.transaction_id}
        if ids.parent_id:
            doc["parent"] = {"id": ids.parent_id}
    for key, value in fields.items():
        _put(doc, _path(key), value, key)
    if labels:
        _put(doc, ["labels"], labels, "labels")
    return doc


def _prefixed(prefix: str, fields: Mapping[str, Any] | None) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in (fields or {}).items()}


class LogOrigin(NamedTuple):
    """Where a log record was made: ``log.origin.file.name|line``, ``log.origin.function``, ``process.thread.*``."""

    file_name: str
    line: int
    function: str
    thread_id: int | None = None
    thread_name: str | None = None

    def fields(self) -> dict[str, Any]:
        return {"log.origin.file.name": self.file_name, "log.origin.file.line": self.line,
                "log.origin.function": self.function, "process.thread.id": self.thread_id,
                "process.thread.name": self.thread_name}


def log_document(service: ServiceInfo, message: str, level: str | int = "info", logger: str = "", *,
                 at: datetime | str | None = None, file_path: str | None = None, offset: int | None = None,
                 file_fingerprint: str | None = None, error: Mapping[str, Any] | None = None,
                 ids: TraceIds | None = None, labels: Mapping[str, Any] | None = None,
                 origin: LogOrigin | None = None, dataset: str = "oam.log") -> dict[str, Any]:
    """A log line; ``level`` goes through :func:`log_level`; ``error`` takes ECS ``error.*`` fields
    without the prefix (``type``, ``message``...); ``file_*`` and ``offset`` give its source position
    in a shipped file; ``origin`` the code and thread that logged it (``log.origin.*``, ``process.thread.*``)."""
    fields = {"message": message, "log.level": log_level(level), "log.logger": logger or None,
              "log.file.path": file_path, "log.file.fingerprint": file_fingerprint, "log.offset": offset,
              **_prefixed("error", error), **(origin.fields() if origin is not None else {})}
    return _document(service, dataset, at, ids if ids is not None else current_ids(), "event", fields, labels)


def transaction_document(service: ServiceInfo, name: str, type_: str, ids: TraceIds, *, duration_ns: int,
                         outcome: Outcome = "success", at: datetime | str | None = None,
                         http: Mapping[str, Any] | None = None, url: Mapping[str, Any] | None = None,
                         labels: Mapping[str, Any] | None = None,
                         dataset: str = "oam.transaction") -> dict[str, Any]:
    """One request or job handled by one service (an LTX), with its duration and outcome."""
    fields = {"transaction.name": name, "transaction.type": type_, "event.duration": duration_ns,
              "event.outcome": outcome, **_prefixed("http", http), **_prefixed("url", url)}
    return _document(service, dataset, at, ids, "event", fields, labels)


def span_document(service: ServiceInfo, name: str, type_: str, ids: TraceIds, *, duration_ns: int,
                  outcome: Outcome = "success", at: datetime | str | None = None,
                  labels: Mapping[str, Any] | None = None, dataset: str = "oam.span") -> dict[str, Any]:
    """An operation inside a transaction: cache, database shard, queue, outgoing HTTP call."""
    fields = {"span.name": name, "span.type": type_, "event.duration": duration_ns, "event.outcome": outcome}
    return _document(service, dataset, at, ids, "event", fields, labels)


def metric_document(service: ServiceInfo, metrics: Mapping[str, Any], *, at: datetime | str | None = None,
                    labels: Mapping[str, Any] | None = None, dataset: str = "oam.metric") -> dict[str, Any]:
    """Metric samples under their own dotted names (``system.cpu.total.pct``, ``prometheus.metrics.up``...)."""
    return _document(service, dataset, at, None, "metric", metrics, labels)


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
              "error.grouping_key": group or grouping_key(error_type, stack_trace)}
    return _document(service, dataset, when, ids if ids is not None else current_ids(), "event", fields, labels)


def change_event(service: ServiceInfo, action: str, user_name: str, *,
                 target: str, old: Any = None, new: Any = None, comment: str = "",
                 at: datetime | str | None = None, labels: Mapping[str, Any] | None = None,
                 dataset: str = "oam.change") -> dict[str, Any]:
    """A deploy or a configuration edit (``event.category: configuration``, ``event.type: change``).

    ``action`` says which (``deployment-finished``, ``config-changed``...: see
    :data:`DEPLOYMENT_ACTIONS`); ``old`` and ``new`` are kept as JSON text.
    """
    if not action:
        raise ValueError("a change event needs an action")
    fields = {"event.category": CHANGE_CATEGORY, "event.type": "change", "event.action": action,
              "user.name": user_name,
              "change.target": target, "change.comment": comment or None,
              "change.old": None if old is None else json.dumps(old, sort_keys=True),
              "change.new": None if new is None else json.dumps(new, sort_keys=True),
              "message": f"{user_name} {action} {target}" + (f": {comment}" if comment else "")}
    return _document(service, dataset, at, None, "event", fields, labels)


def is_deployment(action: str | None) -> bool:
    """Whether a change event's ``event.action`` is a deploy or rollback (else a configuration edit)."""
    return action in DEPLOYMENT_ACTIONS


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
