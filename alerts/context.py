"""What changed before an alert fired: the lines its notification carries.

When an alert starts firing the evaluator asks Elasticsearch, once, for what happened to the
alert's service or host in the window before (30 minutes by default): deploys and rollbacks
(service, from -> to version, who, result), CMDB edits (key, version, who, comment) and error
groups first seen in that window. The lines are kept in the alert's persisted state, so every
re-send and a standby that takes over send the same context. Links to the window's failed and
slowest traces go beside them.

Usage::

    lines = what_changed(client, "oam", fired_at, service="order-service", host="", environment="production")
    links = trace_links("http://127.0.0.1:8080", fired_at, service="order-service")
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from foundation.clock import utc_iso
from telemetry.ecs import is_deployment
from telemetry.templates import index_pattern

log = logging.getLogger("oam.alerts")

WINDOW = 1800.0
MAX_CHANGES = 10
MAX_GROUPS = 10
SEARCH_OPTIONS = {"ignore_unavailable": True, "allow_no_indices": True}
NOTHING = "no deploy, configuration change or new error group in the {minutes:g} minutes before"


def what_changed(es: Any, prefix: str, at: float, *, service: str = "", host: str = "", environment: str = "",
                 window: float = WINDOW) -> list[str]:
    """Deploys, CMDB edits and new error groups of ``service`` or ``host`` in ``window`` seconds before
    ``at``, oldest first; one line each. A failed query gives a line saying so, never an exception."""
    if not service and not host:
        return []
    try:
        lines = changes(es, prefix, at, service=service, host=host, environment=environment, window=window)
        lines += new_error_groups(es, prefix, at, service=service, host=host, window=window)
    except Exception as exc:  # noqa: BLE001 - the alert goes out with what is known, the reason beside it
        log.warning("alerts: what changed before the alert could not be read: %s", exc)
        return [f"what changed could not be read from Elasticsearch: {type(exc).__name__}"]
    return lines or [NOTHING.format(minutes=window / 60)]


def _window(at: float, window: float) -> dict[str, Any]:
    return {"range": {"@timestamp": {"gte": utc_iso(at - window, "milliseconds"), "lte": utc_iso(at, "milliseconds")}}}


def _about(service: str, host: str) -> dict[str, Any]:
    """A change of the service (its deploys, its CMDB keys) or of the host."""
    should: list[dict[str, Any]] = []
    if service:
        should += [{"term": {"service.name": service}}, {"term": {"change.target": service}},
                   {"wildcard": {"change.target": f"*/{service}/*"}}, {"term": {"labels.cmdb_service": service}}]
    if host:
        should += [{"term": {"host.name": host}}, {"wildcard": {"change.target": f"*/hosts/{host}/*"}}]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def changes(es: Any, prefix: str, at: float, *, service: str = "", host: str = "", environment: str = "",
            window: float = WINDOW) -> list[str]:
    """One line per deploy, rollback or CMDB edit in the window, oldest first."""
    filters = [_window(at, window), {"term": {"event.category": "configuration"}}, _about(service, host)]
    if environment:
        filters.append({"bool": {"should": [{"term": {"service.environment": environment}},
                                            {"prefix": {"change.target": f"{environment}/"}}],
                                 "minimum_should_match": 1}})
    response = es.search(index=index_pattern("changes", prefix), size=MAX_CHANGES, query={"bool": {"filter": filters}},
                         sort=[{"@timestamp": {"order": "desc", "unmapped_type": "date"}}], **SEARCH_OPTIONS)
    docs = [hit["_source"] for hit in response["hits"]["hits"]]
    return [change_line(doc) for doc in reversed(docs)]


def change_line(doc: dict[str, Any]) -> str:
    """``14:02Z deploy order-service 1.0.0 -> 2.0.0 by alice: succeeded on 3 host(s)`` or
    ``14:05Z cmdb-set production/order-service/faults v4 by bob: more failures``."""
    change, event = doc.get("change") or {}, doc.get("event") or {}
    action, who = event.get("action", "change"), (doc.get("user") or {}).get("name") or "someone"
    when = _clock(doc.get("@timestamp"))
    comment = change.get("comment") or ""
    if is_deployment(action):
        old, new = _plain(change.get("old")), _plain(change.get("new"))
        verb = "rollback" if action.startswith("rollback") else "deploy"
        versions = f"{old} -> {new}" if old else new
        text = f"{when} {verb} {change.get('target', '')} {versions} by {who}"
    else:
        version = ((doc.get("labels") or {}).get("cmdb_version"))
        text = f"{when} {action} {change.get('target', '')}" + (f" v{version}" if version else "") + f" by {who}"
    return text + (f": {comment}" if comment else "")


def new_error_groups(es: Any, prefix: str, at: float, *, service: str = "", host: str = "",
                     window: float = WINDOW) -> list[str]:
    """Error groups of the service or host seen in the window and never before it, oldest first."""
    indices = index_pattern("errors", prefix)
    about = [{"term": {"service.name": service}}] if service else []
    about += [{"term": {"host.name": host}}] if host else []
    seen = es.search(index=indices, size=0, query={"bool": {"filter": [_window(at, window), *about]}},
                     aggs={"groups": {"terms": {"field": "error.grouping_key", "size": MAX_GROUPS * 5}}},
                     **SEARCH_OPTIONS)
    keys = [b["key"] for b in (seen.get("aggregations") or {}).get("groups", {}).get("buckets", [])]
    if not keys:
        return []
    first = es.search(index=indices, size=0, query={"bool": {"filter": [{"terms": {"error.grouping_key": keys}},
                                                                         *about]}},
                      aggs={"groups": {"terms": {"field": "error.grouping_key", "size": len(keys)}, "aggs": {
                          "first": {"min": {"field": "@timestamp"}},
                          "example": {"top_hits": {"size": 1, "sort": [{"@timestamp": "asc"}],
                                                   "_source": ["error.type", "error.message", "service.version"]}}}}},
                      **SEARCH_OPTIONS)
    start_ms = (at - window) * 1000
    fresh = [b for b in first.get("aggregations", {}).get("groups", {}).get("buckets", [])
             if b["first"]["value"] is not None and b["first"]["value"] >= start_ms]
    fresh.sort(key=lambda b: b["first"]["value"])
    lines = []
    for bucket in fresh[:MAX_GROUPS]:
        source = bucket["example"]["hits"]["hits"][0]["_source"]
        error = source.get("error") or {}
        version = (source.get("service") or {}).get("version")
        when = _clock(bucket["first"]["value"] / 1000)
        lines.append(f"{when} new error group {bucket['key']}: {error.get('type', '')}: "
                     f"{_first_line(error.get('message', ''))} ({bucket['doc_count']}x"
                     + (f", first on {version}" if version else "") + ")")
    return lines


def trace_links(dashboard: str, at: float, *, service: str = "", window: float = WINDOW) -> dict[str, str]:
    """The dashboard's trace search for the window's failed and slowest traces of ``service``."""
    if not dashboard or not service:
        return {}
    base = {"service": service, "from": utc_iso(at - window, "seconds"), "to": utc_iso(at + 60, "seconds")}
    url = f"{dashboard.rstrip('/')}/traces/search?"
    return {"failed_traces": url + urlencode({**base, "outcome": "failure"}),
            "slowest_traces": url + urlencode({**base, "sort": "slowest"})}


def _plain(value: Any) -> str:
    """A change's ``old``/``new`` (JSON text) as a short word: ``2.0.0`` or ``1.0.0,1.1.0``."""
    if value in (None, ""):
        return ""
    try:
        decoded = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    if isinstance(decoded, list):
        return ",".join(str(v) for v in decoded)
    return str(decoded)


def _clock(value: Any) -> str:
    """``14:02Z`` of a timestamp (ISO text or POSIX seconds)."""
    try:
        moment = (datetime.fromtimestamp(value, timezone.utc) if isinstance(value, int | float)
                  else datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except (TypeError, ValueError):
        return str(value or "")
    return moment.astimezone(timezone.utc).strftime("%H:%MZ")


def _first_line(text: str, limit: int = 120) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
