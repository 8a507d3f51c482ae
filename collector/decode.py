"""Agent batches: gzip-compressed NDJSON, one ECS document per line, to index actions and line errors.

Each line is a JSON object: the document itself (nested ECS fields as :mod:`telemetry.ecs` builds
them, with ``@timestamp``; dotted keys from other senders are nested by :func:`telemetry.ecs.to_nested`)
plus two metadata fields that are removed before indexing:

* ``_kind`` (required): ``logs``, ``transactions``, ``spans``, ``metrics``, ``errors`` or ``changes``;
  with ``@timestamp`` it decides the index (``oam-<kind>-YYYY.MM.DD``).
* ``_id`` (recommended): the sender's deterministic id (agent id + source fingerprint + offset, or
  the span or error id). Without it, :func:`telemetry.ecs.document_id` derives one.

Every line is read within :mod:`collector.limits` (size, JSON depth, code points, timestamp window).
A bad line never takes the good lines down with it: it is reported by number and the rest go on.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from telemetry.ecs import KINDS, document_id, to_nested
from telemetry.origin import KEY as ORIGIN_KEY
from telemetry.origin import read_origin
from telemetry.templates import index_name

from .compression import GZIP_MAGIC, BodyError, decompress
from .limits import DEFAULT_LIMITS, Bounds

MAX_ID_LENGTH = 512


@dataclass(frozen=True)
class Action:
    """One document bound for one index under one ``_id`` (always written with op_type ``create``)."""

    index: str
    id: str
    source: dict[str, Any]

    def bulk(self) -> dict[str, Any]:
        """The action as ``elasticsearch.helpers`` takes it."""
        return {"_op_type": "create", "_index": self.index, "_id": self.id, "_source": self.source}

    def to_json(self) -> dict[str, Any]:
        return {"_index": self.index, "_id": self.id, "_source": self.source}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Action":
        return cls(data["_index"], data["_id"], data["_source"])


@dataclass(frozen=True)
class LineError:
    line: int
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.error}


def parse_timestamp(value: Any) -> datetime:
    """``@timestamp`` as ISO 8601 text or epoch milliseconds, to an aware UTC datetime."""
    if isinstance(value, bool):
        raise ValueError("@timestamp must be ISO 8601 text or epoch milliseconds")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000.0, timezone.utc)
    if isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    raise ValueError("@timestamp must be ISO 8601 text or epoch milliseconds")


def add_origin(doc: dict[str, Any]) -> None:
    """A transaction called by a service that told its name in ``tracestate`` (:mod:`telemetry.origin`)
    gets ``service.origin.name``; that entry leaves ``labels.tracestate`` (the label goes if nothing is left)."""
    labels = doc.get("labels")
    state = labels.get("tracestate") if isinstance(labels, dict) else None
    if not isinstance(state, str) or f"{ORIGIN_KEY}=" not in state:
        return
    parent = doc.get("parent")
    service, rest = read_origin(state, parent.get("id") if isinstance(parent, dict) else None)
    if rest:
        labels["tracestate"] = rest  # type: ignore[index]
    else:
        del labels["tracestate"]  # type: ignore[attr-defined]
        if not labels:
            del doc["labels"]
    if service is not None and isinstance(doc.get("service"), dict) and "origin" not in doc["service"]:
        doc["service"]["origin"] = {"name": service}


def document_action(doc: dict[str, Any], kind: str, doc_id: str | None = None, prefix: str = "oam",
                    bounds: Bounds | None = None) -> Action:
    """The index action for one ECS document of ``kind``; raises ValueError naming what is wrong
    (among it an ``@timestamp`` outside the window of ``bounds``, default: now and the default limits)."""
    if kind not in KINDS:
        raise ValueError(f"_kind {kind!r} is not one of {', '.join(KINDS)}")
    if any("." in key for key in doc):
        doc = to_nested(doc)
    if "@timestamp" not in doc:
        raise ValueError("missing @timestamp")
    try:
        moment = parse_timestamp(doc["@timestamp"])
    except (ValueError, OverflowError, OSError) as exc:
        raise ValueError(f"bad @timestamp {doc['@timestamp']!r}: {exc}") from None
    (bounds or DEFAULT_LIMITS.at()).check_time(moment, "@timestamp")
    if kind == "transactions":
        add_origin(doc)
    if doc_id is None:
        doc_id = document_id(kind, doc)  # type: ignore[arg-type]
    elif not isinstance(doc_id, str) or not doc_id or len(doc_id) > MAX_ID_LENGTH:
        raise ValueError(f"_id must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    return Action(index_name(kind, moment, prefix), doc_id, doc)


def decode_line(raw: bytes, prefix: str = "oam", bounds: Bounds | None = None) -> Action:
    """One NDJSON line to its action."""
    bounds = bounds or DEFAULT_LIMITS.at()
    doc = bounds.loads(raw, "line")
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    kind = doc.pop("_kind", None)
    if kind is None:
        raise ValueError("missing _kind")
    return document_action(doc, kind, doc.pop("_id", None), prefix, bounds)


def decode_ndjson(text: bytes, prefix: str = "oam", bounds: Bounds | None = None) -> tuple[list[Action], list[LineError]]:
    """Every line to an action or an error; blank lines are skipped; line numbers start at 1."""
    bounds = bounds or DEFAULT_LIMITS.at()
    actions: list[Action] = []
    errors: list[LineError] = []
    for number, raw in enumerate(text.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            actions.append(decode_line(raw, prefix, bounds))
        except ValueError as exc:
            errors.append(LineError(number, str(exc)))
    return actions, errors


def decode_batch(body: bytes, limit: int, prefix: str = "oam",
                 bounds: Bounds | None = None) -> tuple[list[Action], list[LineError]]:
    """A gzip NDJSON request body (at most ``limit`` bytes decompressed) to actions and per-line errors."""
    if not body.startswith(GZIP_MAGIC):
        raise BodyError(415, "body must be gzip-compressed NDJSON (Content-Encoding: gzip)")
    return decode_ndjson(decompress(body, "gzip", limit), prefix, bounds)
