"""Index management: the templates installed at start, the dead-letter index, and retention.

Documents go to daily indices per kind (``oam-<kind>-YYYY.MM.DD``, see
:func:`telemetry.templates.index_name`), so retention deletes whole indices older than N days,
N per kind. Documents Elasticsearch refused for good go to ``oam-deadletter-YYYY.MM.DD`` with the
reason and the original document (kept as text, so it cannot conflict with any mapping).
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from foundation.clock import utc_now_iso
from telemetry.ecs import STORED_KINDS, stable_id
from telemetry.templates import TEMPLATE_VERSION, install_templates

from .decode import Action

DEAD_LETTER = "deadletter"
_DAILY = re.compile(r"^(?P<prefix>.+)-(?P<kind>[a-z]+)-(?P<day>\d{4}\.\d{2}\.\d{2})$")

DEAD_LETTER_MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "@timestamp": {"type": "date"},
        "error": {"properties": {"type": {"type": "keyword"}, "reason": {"type": "text"}}},
        "event": {"properties": {"original": {"type": "keyword", "index": False, "doc_values": False}}},
        "oam": {"properties": {"index": {"type": "keyword"}, "id": {"type": "keyword"}}},
        "collector": {"properties": {"token": {"type": "keyword"}}},
    },
}


def dead_letter_index(moment: datetime | None = None, prefix: str = "oam") -> str:
    moment = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{prefix}-{DEAD_LETTER}-{moment:%Y.%m.%d}"


def dead_letter_action(action: Action, reason: str, prefix: str = "oam") -> Action:
    """The dead-letter record of an action Elasticsearch refused; replays of it do not duplicate it."""
    error_type = reason.split(":", 1)[0] if ":" in reason else "rejected"
    source = {
        "@timestamp": utc_now_iso("milliseconds"),
        "error": {"type": error_type, "reason": reason},
        "event": {"original": json.dumps(action.source, sort_keys=True, default=str)},
        "oam": {"index": action.index, "id": action.id},
    }
    return Action(dead_letter_index(prefix=prefix), stable_id(action.index, action.id), source)


def install(client: Any, prefix: str = "oam", replicas: int = 0) -> list[str]:
    """Install the per-kind templates and the dead-letter template (idempotent), ``replicas`` per index."""
    names = install_templates(client, replicas=replicas, prefix=prefix)
    client.indices.put_index_template(
        name=f"{prefix}-{DEAD_LETTER}", index_patterns=[f"{prefix}-{DEAD_LETTER}-*"], priority=200,
        version=TEMPLATE_VERSION, meta={"managed_by": "oam", "kind": DEAD_LETTER},
        template={"settings": {"index": {"number_of_shards": 1, "number_of_replicas": replicas}},
                  "mappings": DEAD_LETTER_MAPPINGS},
    )
    return [*names, f"{prefix}-{DEAD_LETTER}"]


def expired_indices(names: list[str], retention_days: dict[str, int], today: date, prefix: str = "oam") -> list[str]:
    """Daily indices whose day is more than ``retention_days[kind]`` days before ``today``."""
    expired = []
    for name in names:
        match = _DAILY.match(name)
        if not match or match["prefix"] != prefix:
            continue
        days = retention_days.get(match["kind"])
        if days is None:
            continue
        try:
            day = datetime.strptime(match["day"], "%Y.%m.%d").date()
        except ValueError:
            continue
        if day < today - timedelta(days=days):
            expired.append(name)
    return sorted(expired)


def apply_retention(client: Any, retention_days: dict[str, int], prefix: str = "oam",
                    today: date | None = None) -> list[str]:
    """Delete the expired daily indices of every kind with a retention; returns their names."""
    kinds = [kind for kind in retention_days if kind in STORED_KINDS or kind == DEAD_LETTER]
    if not kinds:
        return []
    pattern = ",".join(f"{prefix}-{kind}-*" for kind in kinds)
    names = list(client.indices.get(index=pattern, expand_wildcards="open,closed", allow_no_indices=True).body)
    expired = expired_indices(names, retention_days, today or datetime.now(timezone.utc).date(), prefix)
    for name in expired:
        client.indices.delete(index=name, ignore_unavailable=True)
    return expired
