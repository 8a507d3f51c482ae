"""Elasticsearch index templates: one per kind of document, over daily indices.

Indices are named ``oam-<kind>-YYYY.MM.DD`` (see :func:`index_name`), so retention deletes whole
indices. A component template holds the ECS fields every kind shares; each kind's index
template adds its own. Install them with :func:`install_templates` (idempotent).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .ecs import STORED_KINDS

PREFIX = "oam"
TEMPLATE_VERSION = 3
COMMON_COMPONENT = f"{PREFIX}-ecs-common"

_KEYWORD = {"type": "keyword", "ignore_above": 1024}
_TEXT = {"type": "text"}
_LONG = {"type": "long"}
_IP = {"type": "ip", "ignore_malformed": True}  # a sender's bad address never costs its document


def _props(**fields: dict[str, Any]) -> dict[str, Any]:
    return {"properties": fields}


COMMON_MAPPINGS: dict[str, Any] = {
    "dynamic_templates": [
        {"labels_as_keyword": {"path_match": "labels.*", "match_mapping_type": "string", "mapping": _KEYWORD}},
        {"numeric_labels_as_double": {"path_match": "numeric_labels.*", "mapping": {"type": "double"}}},
        {"strings_as_keyword": {"match_mapping_type": "string", "mapping": _KEYWORD}},
    ],
    "properties": {
        "@timestamp": {"type": "date"},
        "message": _TEXT,
        "ecs": _props(version=_KEYWORD),
        "service": _props(name=_KEYWORD, version=_KEYWORD, environment=_KEYWORD, origin=_props(name=_KEYWORD)),
        "host": _props(name=_KEYWORD, ip=_IP, architecture=_KEYWORD,
                       os=_props(type=_KEYWORD, name=_KEYWORD, version=_KEYWORD, kernel=_KEYWORD,
                                 platform=_KEYWORD, family=_KEYWORD, full=_KEYWORD)),
        "agent": _props(id=_KEYWORD, type=_KEYWORD, version=_KEYWORD, name=_KEYWORD),
        "process": _props(pid=_LONG, thread=_props(id=_LONG, name=_KEYWORD)),
        "event": _props(dataset=_KEYWORD, kind=_KEYWORD, category=_KEYWORD, type=_KEYWORD, action=_KEYWORD,
                        outcome=_KEYWORD, duration=_LONG),
        "trace": _props(id=_KEYWORD),
        "transaction": _props(id=_KEYWORD, name=_KEYWORD, type=_KEYWORD),
        "span": _props(id=_KEYWORD, name=_KEYWORD, type=_KEYWORD,
                       links=_props(trace=_props(id=_KEYWORD), span=_props(id=_KEYWORD))),
        "parent": _props(id=_KEYWORD),
        "log": _props(level=_KEYWORD, logger=_KEYWORD, offset=_LONG,
                      file=_props(path=_KEYWORD, fingerprint=_KEYWORD),
                      origin=_props(function=_KEYWORD, file=_props(name=_KEYWORD, line=_LONG))),
        "error": _props(id=_KEYWORD, type=_KEYWORD, message=_TEXT, stack_trace=_TEXT, grouping_key=_KEYWORD,
                        stack_frames={"type": "object", "enabled": False}),  # kept, not indexed
        "http": _props(request=_props(method=_KEYWORD, body=_props(bytes=_LONG)),
                       response=_props(status_code=_LONG, body=_props(bytes=_LONG)), route=_KEYWORD, version=_KEYWORD),
        "url": _props(path=_KEYWORD, full=_KEYWORD, domain=_KEYWORD, query=_KEYWORD, scheme=_KEYWORD),
        "server": _props(address=_KEYWORD, port=_LONG),
        "client": _props(address=_KEYWORD, port=_LONG, ip=_IP),
        "user_agent": _props(original=_KEYWORD),
        "db": _props(system=_KEYWORD, name=_KEYWORD, operation=_KEYWORD, statement=_TEXT, collection=_KEYWORD,
                     user=_KEYWORD),
        "user": _props(name=_KEYWORD),
        "labels": {"type": "object", "dynamic": True},
        "numeric_labels": {"type": "object", "dynamic": True},
    },
}

# Per kind: extra mappings and settings. Metric values are doubles even when the first sample
# looks integral, so a later fractional value is not truncated.
KIND_MAPPINGS: dict[str, dict[str, Any]] = {
    "metrics": {
        "dynamic_templates": [{"numbers_as_double": {"match_mapping_type": "long", "mapping": {"type": "double"}}}],
    },
    "changes": {"properties": {"change": _props(target=_KEYWORD, comment=_TEXT,
                                                old={"type": "keyword", "index": False, "doc_values": False},
                                                new={"type": "keyword", "index": False, "doc_values": False})}},
    "alerts": {"properties": {"rule": _props(name=_KEYWORD, reference=_KEYWORD),
                              "oam": _props(alert=_props(value={"type": "double"}, threshold={"type": "double"},
                                                         previous=_KEYWORD, severity=_KEYWORD))}},
}


def index_name(kind: str, moment: datetime | None = None, prefix: str = PREFIX) -> str:
    """The daily index a document of ``kind`` written at ``moment`` (UTC) goes to."""
    if kind not in STORED_KINDS:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(STORED_KINDS)}")
    moment = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{prefix}-{kind}-{moment:%Y.%m.%d}"


def index_pattern(kind: str | None = None, prefix: str = PREFIX) -> str:
    """``oam-logs-*`` for one kind, ``oam-*`` for all."""
    return f"{prefix}-{kind}-*" if kind else f"{prefix}-*"


def index_template(kind: str, shards: int = 1, replicas: int = 0, prefix: str = PREFIX) -> dict[str, Any]:
    """The body of the composable index template for ``kind``."""
    if kind not in STORED_KINDS:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(STORED_KINDS)}")
    settings: dict[str, Any] = {"number_of_shards": shards, "number_of_replicas": replicas}
    if kind == "metrics":
        settings["mapping.total_fields.limit"] = 5000
    return {
        "index_patterns": [index_pattern(kind, prefix)],
        "composed_of": [f"{prefix}-ecs-common"],
        "priority": 200,
        "version": TEMPLATE_VERSION,
        "_meta": {"managed_by": "oam", "kind": kind},
        "template": {"settings": {"index": settings}, "mappings": KIND_MAPPINGS.get(kind, {})},
    }


def install_templates(client: Any, shards: int = 1, replicas: int = 0, prefix: str = PREFIX) -> list[str]:
    """Install (or update) the common component template and one index template per kind.

    ``client`` is an ``elasticsearch.Elasticsearch``. Returns the names of the index templates.
    """
    client.cluster.put_component_template(
        name=f"{prefix}-ecs-common", template={"mappings": COMMON_MAPPINGS}, version=TEMPLATE_VERSION,
        meta={"managed_by": "oam"},
    )
    names = []
    for kind in STORED_KINDS:
        body = index_template(kind, shards, replicas, prefix)
        name = f"{prefix}-{kind}"
        client.indices.put_index_template(
            name=name, index_patterns=body["index_patterns"], composed_of=body["composed_of"],
            priority=body["priority"], version=body["version"], meta=body["_meta"], template=body["template"],
        )
        names.append(name)
    return names
