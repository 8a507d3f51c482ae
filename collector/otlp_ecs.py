"""OpenTelemetry attributes onto ECS fields, as Elastic's APM Server maps them.

Attributes with a semantic-convention name land in their ECS field (``http.response.status_code``,
``url.path``, ``db.system``, ``server.address``, ``user_agent.original``...), older spellings of
the conventions included (``http.status_code``, ``http.target``, ``net.peer.name``); every other
attribute becomes a label: ``labels.*`` for strings and booleans, ``numeric_labels.*`` for
numbers, its dots made underscores (as APM Server does, so no label clashes with an object)::

    fields, labels, numeric = span_fields({"http.request.method": "GET", "http.route": "/orders/{id}",
                                           "tenant": "acme", "retries": 2})
    # fields == {"http.request.method": "GET", "http.route": "/orders/{id}"}
    # labels == {"tenant": "acme"}; numeric == {"retries": 2}

Resource attributes are mapped the same way (:func:`resource_fields`): ``service.*``,
``host.*``, ``os.*``, ``process.*``, ``container.*``, ``telemetry.sdk.*`` (``agent.name`` and
``agent.version``), the rest to labels.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

# Span attributes: semantic-convention name (current and older spellings) -> ECS field.
SPAN_FIELDS: dict[str, str] = {
    "http.request.method": "http.request.method", "http.method": "http.request.method",
    "http.response.status_code": "http.response.status_code", "http.status_code": "http.response.status_code",
    "http.route": "http.route",
    "http.request.body.size": "http.request.body.bytes", "http.response.body.size": "http.response.body.bytes",
    "network.protocol.version": "http.version", "http.flavor": "http.version",
    "url.full": "url.full", "http.url": "url.full", "url.path": "url.path", "url.query": "url.query",
    "url.scheme": "url.scheme", "http.scheme": "url.scheme", "url.fragment": "url.fragment",
    "server.address": "server.address", "net.peer.name": "server.address", "net.host.name": "server.address",
    "server.port": "server.port", "net.peer.port": "server.port", "net.host.port": "server.port",
    "client.address": "client.address", "net.sock.peer.addr": "client.address", "http.client_ip": "client.ip",
    "client.port": "client.port",
    "user_agent.original": "user_agent.original", "http.user_agent": "user_agent.original",
    "db.system": "db.system", "db.name": "db.name", "db.namespace": "db.name",
    "db.statement": "db.statement", "db.query.text": "db.statement",
    "db.operation": "db.operation", "db.operation.name": "db.operation", "db.user": "db.user",
    "db.collection.name": "db.collection", "db.sql.table": "db.collection",
    "messaging.system": "messaging.system", "messaging.destination.name": "messaging.destination.name",
    "messaging.operation": "messaging.operation",
    "rpc.system": "rpc.system", "rpc.service": "rpc.service", "rpc.method": "rpc.method",
    "code.function": "code.function", "code.filepath": "code.filepath", "code.lineno": "code.lineno",
    "exception.type": "error.type", "exception.message": "error.message", "exception.stacktrace": "error.stack_trace",
    "enduser.id": "user.id",
}

# Resource attributes -> ECS field.
RESOURCE_FIELDS: dict[str, str] = {
    "service.name": "service.name", "service.version": "service.version",
    "deployment.environment.name": "service.environment", "deployment.environment": "service.environment",
    "service.namespace": "service.namespace", "service.instance.id": "service.node.name",
    "host.name": "host.name", "host.id": "host.id", "host.arch": "host.architecture", "host.type": "host.type",
    "host.ip": "host.ip", "host.hostname": "host.hostname",
    "os.type": "host.os.type", "os.description": "host.os.full", "os.name": "host.os.name",
    "os.version": "host.os.version",
    "process.pid": "process.pid", "process.parent_pid": "process.parent.pid",
    "process.executable.name": "process.name", "process.executable.path": "process.executable",
    "process.command_line": "process.command_line",
    "process.runtime.name": "service.runtime.name", "process.runtime.version": "service.runtime.version",
    "container.id": "container.id", "container.name": "container.name",
    "container.image.name": "container.image.name",
    "k8s.namespace.name": "kubernetes.namespace", "k8s.pod.name": "kubernetes.pod.name",
    "k8s.pod.uid": "kubernetes.pod.uid", "k8s.node.name": "kubernetes.node.name",
    "cloud.provider": "cloud.provider", "cloud.region": "cloud.region",
    "cloud.availability_zone": "cloud.availability_zone", "cloud.account.id": "cloud.account.id",
    "telemetry.sdk.version": "agent.version",
}
_SDK = ("telemetry.sdk.name", "telemetry.sdk.language")  # agent.name = "<sdk name>/<language>"
_INTEGER_FIELDS = frozenset({"http.response.status_code", "server.port", "client.port", "process.pid",
                             "process.parent.pid", "http.request.body.bytes", "http.response.body.bytes",
                             "code.lineno"})


def label_key(key: str) -> str:
    """A label's name: the attribute's, dots made underscores (``http.retry.count`` -> ``http_retry_count``)."""
    return key.replace(".", "_")


def _field_value(field: str, value: Any) -> Any:
    """The value as its ECS field holds it (a number for the numeric ones), or None if it cannot be."""
    if field in _INTEGER_FIELDS:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return None
    if field == "host.ip":
        return [str(item) for item in value] if isinstance(value, list) else str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return value if isinstance(value, str) else str(value)


def _label(value: Any) -> tuple[bool, Any]:
    """(numeric?, value) of an attribute as a label: numbers apart, lists and maps as JSON text."""
    if isinstance(value, bool) or value is None:
        return False, value
    if isinstance(value, (int, float)):
        return True, value
    if isinstance(value, str):
        return False, value
    return False, json.dumps(value, sort_keys=True, default=str)


def map_attributes(attrs: Mapping[str, Any], known: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any],
                                                                                  dict[str, Any]]:
    """``(fields, labels, numeric_labels)``: dotted ECS fields of the known names, the rest as labels.

    Of two spellings of one field (``http.status_code`` and ``http.response.status_code``) the
    current one wins; a value its field cannot hold (a status code that is no number) is a label.
    """
    fields: dict[str, Any] = {}
    current: set[str] = set()  # fields set from their own (current) spelling
    labels: dict[str, Any] = {}
    numeric: dict[str, Any] = {}
    for key, value in attrs.items():
        field = known.get(key)
        mapped = _field_value(field, value) if field is not None and value is not None else None
        if mapped is None:
            is_number, label = _label(value)
            (numeric if is_number else labels)[label_key(key)] = label
        elif field not in current:
            fields[field] = mapped
            if key == field:
                current.add(field)
    return fields, labels, numeric


def span_fields(attrs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A span's (or log record's) attributes as ECS fields and labels (see :func:`map_attributes`).

    A ``url.full`` without ``url.path`` gives its path (and ``http.target`` its path and query).
    """
    fields, labels, numeric = map_attributes(attrs, SPAN_FIELDS)
    target = attrs.get("http.target")
    if isinstance(target, str) and "url.path" not in fields:
        path, _, query = target.partition("?")
        fields["url.path"] = path
        if query and "url.query" not in fields:
            fields["url.query"] = query
        labels.pop("http_target", None)
    full = fields.get("url.full")
    if isinstance(full, str) and "url.path" not in fields:
        try:
            parts = urlsplit(full)
        except ValueError:
            parts = None
        if parts is not None and parts.path:
            fields["url.path"] = parts.path
            if parts.scheme and "url.scheme" not in fields:
                fields["url.scheme"] = parts.scheme
            if parts.hostname and "url.domain" not in fields:
                fields["url.domain"] = parts.hostname
    return fields, labels, numeric


def resource_fields(attrs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Resource attributes as ECS fields and labels; ``telemetry.sdk.*`` names the agent."""
    fields, labels, numeric = map_attributes({k: v for k, v in attrs.items() if k not in _SDK}, RESOURCE_FIELDS)
    name, language = (attrs.get(key) for key in _SDK)
    if name or language:
        fields["agent.name"] = "/".join(str(part) for part in (name, language) if part)
    return fields, labels, numeric
