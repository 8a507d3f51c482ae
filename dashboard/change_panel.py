"""What opens when a change marker is clicked: the change itself and the service around it.

A change is one document of ``<prefix>-changes-*`` found by its ``_id``. A deploy shows from and
to versions, hosts, result, who and its deployment record; a CMDB change the diff of its two
versions (from the CMDB's history), who and the comment. Both carry the service's figures for
:data:`dashboard.change_figures.WINDOW` before and after (see :mod:`dashboard.change_figures`),
split by ``service.version`` for a deploy. Usage::

    panel = change_panel(es, prefix, change_id, cmdb_store, registry)  # None: no such change
"""
from __future__ import annotations

import difflib
import json
import re
from datetime import datetime, timezone
from typing import Any

from cmdb import CmdbError
from cmdb.store import pretty
from deployer import RegistryError
from telemetry.ecs import lookup
from telemetry.templates import index_pattern

from .change_figures import figures_query, shape_figures
from .queries import SEARCH_OPTIONS, change_kind
from .users import USERS_PREFIX

CHANGE_ID = re.compile(r"^[0-9A-Za-z_-]{1,128}$")
RECORDS = 50


class UnknownChange(LookupError):
    """No change event with this id (the message says why)."""


def find_change(es: Any, prefix: str, change_id: str) -> dict[str, Any]:
    """The change event stored under ``change_id`` (its ``_source``); UnknownChange if there is none."""
    if not CHANGE_ID.match(change_id):
        raise UnknownChange(f"no change {change_id[:40]!r}: change ids are 1 to 128 letters, digits, '-' or '_'")
    response = es.search(index=index_pattern("changes", prefix), size=1,
                         query={"ids": {"values": [change_id]}}, **SEARCH_OPTIONS)
    hits = response["hits"]["hits"]
    if not hits:
        raise UnknownChange(f"no change {change_id!r} (no change event with this id is stored)")
    return hits[0]["_source"]


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _moment(doc: dict[str, Any]) -> datetime:
    moment = datetime.fromisoformat(str(doc["@timestamp"]).replace("Z", "+00:00"))
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def describe(change_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The change without its figures or anything from the CMDB: kind, who, when, the service, versions or key."""
    kind = change_kind(doc)
    base = {"id": change_id, "kind": kind, "timestamp": doc.get("@timestamp"), "action": lookup(doc, "event.action"),
            "user": lookup(doc, "user.name"), "comment": lookup(doc, "change.comment"),
            "message": doc.get("message"), "target": lookup(doc, "change.target")}
    if kind == "deployment":
        old = _json(lookup(doc, "change.old"))
        return {**base, "service": lookup(doc, "service.name"), "to_version": _json(lookup(doc, "change.new")),
                "from_versions": old if isinstance(old, list) else ([] if old is None else [old]),
                "result": lookup(doc, "labels.result") or lookup(doc, "event.outcome"),
                "rolled_back": lookup(doc, "labels.rolled_back"), "host_count": lookup(doc, "labels.hosts"),
                "deployment_id": lookup(doc, "labels.deployment_id") or None}
    key = str(base["target"] or "")
    return {**base, "key": key, "service": lookup(doc, "labels.cmdb_service") or (key.split("/") + [""])[1] or None,
            "version": lookup(doc, "labels.cmdb_version"), "old": _json(lookup(doc, "change.old")),
            "new": _json(lookup(doc, "change.new"))}


def _text(value: Any) -> list[str]:
    return [] if value is None else (pretty(value) + "\n").splitlines(keepends=True)


def cmdb_diff(store: Any, change: dict[str, Any]) -> tuple[str, str]:
    """(unified diff of the key's version before and the change's version, where it comes from).

    From the CMDB's history when it still has both versions, else from the values the event carries;
    a dashboard account's key shows no diff."""
    key, version = change["key"], change.get("version")
    if key == USERS_PREFIX or key.startswith(USERS_PREFIX + "/"):
        return "", "hidden (a dashboard account)"
    if isinstance(version, int) and version >= 1 and store is not None:
        try:
            return store.diff(key, version - 1, version), "cmdb"
        except CmdbError:
            pass  # trimmed from the history, or the CMDB is away: the event has the values
    return "".join(difflib.unified_diff(_text(change["old"]), _text(change["new"]), f"{key} before",
                                        f"{key} after")), "event"


def deployment_hosts(registry: Any, change: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Host, previous and target version, status per host of the change's deployment record; None if not found."""
    if registry is None or not change.get("deployment_id") or not change.get("service"):
        return None
    try:
        records = registry.list_deployments(change["service"], limit=RECORDS)
    except (RegistryError, CmdbError, ValueError):
        return None
    record = next((r for r in records if r.get("id") == change["deployment_id"]), None)
    if record is None:
        return None
    return [{"host": h.get("host"), "previous": h.get("previous"), "target": h.get("target"),
             "status": h.get("status")} for h in record.get("hosts", [])]


def change_panel(es: Any, prefix: str, change_id: str, store: Any = None, registry: Any = None) -> dict[str, Any]:
    """The change, its CMDB diff or deployment hosts, and the service's before/after figures; UnknownChange if none."""
    doc = find_change(es, prefix, change_id)
    change = describe(change_id, doc)
    if change["kind"] == "deployment":
        change["hosts"] = deployment_hosts(registry, change)
    else:
        change["diff"], change["diff_from"] = cmdb_diff(store, change)
    by_version = change["kind"] == "deployment"
    if change["service"]:
        response = es.search(index=index_pattern("transactions", prefix),
                             **figures_query(change["service"], _moment(doc), by_version=by_version), **SEARCH_OPTIONS)
        change["figures"] = shape_figures(response, by_version=by_version)
    else:
        change["figures"] = None
    return change
