"""Alert history: every transition as an ECS document in the daily index ``<prefix>-alerts-YYYY.MM.DD``.

Usage::

    doc = transition_document(rule, state, "firing", previous="pending", at=now)
    writer = HistoryWriter(es, "oam")
    writer.add(doc); writer.flush()     # never raises: Elasticsearch refusing is logged, kept, retried
    search_history(es, "oam", rule="order-errors", since=now - 86400, states=["firing"])

``event.action`` is the new state (``pending``, ``firing``, ``resolved``, ``flapping``,
``no_data``, ``error``), ``oam.alert.previous`` the old one.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from foundation.clock import utc_iso
from telemetry.ecs import ECS_VERSION, lookup
from telemetry.templates import index_name, index_pattern

from .notify import annotations_of
from .rules import Rule
from .state import AlertState

log = logging.getLogger("alerts.history")

ACTIONS = ("pending", "firing", "resolved", "flapping", "no_data", "error")
DATASET = "oam.alerts"
MAX_BACKLOG = 1000  # documents kept for a retry while Elasticsearch refuses them
RETRY_AFTER = 10.0  # seconds between attempts while it refuses


def transition_document(rule: Rule, state: AlertState | None, action: str, previous: str, at: float,
                        error: str = "") -> dict[str, Any]:
    """The ECS document of one transition of ``rule``'s alert ``state`` (None: the rule as a whole)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown alert transition {action!r}; expected one of {', '.join(ACTIONS)}")
    state = state or AlertState()
    group = state.labels
    summary = f"{rule.name}: {error}" if action == "error" else annotations_of(rule, state)["summary"]
    doc: dict[str, Any] = {
        "@timestamp": utc_iso(at, "milliseconds"), "ecs": {"version": ECS_VERSION},
        "event": {"kind": "alert", "dataset": DATASET, "action": action},
        "rule": {"name": rule.name}, "labels": {**rule.labels, **group}, "message": summary,
        "oam": {"alert": {"value": state.value, "threshold": rule.threshold, "previous": previous,
                          "severity": rule.severity}},
    }
    if rule.runbook_url:
        doc["rule"]["reference"] = rule.runbook_url
    service = group.get("service") or rule.service
    if service:
        doc["service"] = {"name": service, "environment": rule.environment}
    if group.get("host"):
        doc["host"] = {"name": group["host"]}
    if action == "error":
        doc["error"] = {"message": error}
    return doc


class HistoryWriter:
    """Writes transition documents in bulk; a refusal is logged and the documents are kept for later."""

    def __init__(self, es: Any, prefix: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.es, self.prefix, self.clock = es, prefix, clock
        self.backlog: list[dict[str, Any]] = []
        self._failed_at = float("-inf")

    def add(self, doc: dict[str, Any]) -> None:
        self.backlog = [*self.backlog, doc][-MAX_BACKLOG:]

    def flush(self) -> bool:
        """Write what is kept; True when nothing is left. Never raises."""
        if not self.backlog or self.clock() - self._failed_at < RETRY_AFTER:
            return not self.backlog
        operations: list[dict[str, Any]] = []
        for doc in self.backlog:
            moment = datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")).astimezone(timezone.utc)
            operations += [{"create": {"_index": index_name("alerts", moment, self.prefix)}}, doc]
        try:
            response = self.es.bulk(operations=operations)
        except Exception as exc:  # noqa: BLE001 - any failure of Elasticsearch must not stop the evaluation
            return self._refused(f"{type(exc).__name__}: {exc}"[:300])
        items = response.get("items", [])
        refused = [(doc, item["create"]) for doc, item in zip(self.backlog, items)
                   if item.get("create", {}).get("status", 500) >= 300]
        if refused:
            kept = [doc for doc, result in refused if result.get("status") != 400]  # a 400 will never be taken
            reason = refused[0][1].get("error", {})
            self.backlog = kept
            return self._refused(f"{len(refused)} refused: {reason.get('type', '')} {reason.get('reason', '')}"[:300])
        self.backlog = []
        return True

    def _refused(self, reason: str) -> bool:
        self._failed_at = self.clock()
        log.warning("alerts: the alert history was not written (%d document(s) kept): %s", len(self.backlog), reason)
        return not self.backlog


def search_history(es: Any, prefix: str, *, rule: str = "", since: float | None = None,
                   states: Iterable[str] = (), size: int = 100) -> list[dict[str, Any]]:
    """The transitions (newest first) of ``rule`` (all rules if empty) since ``since``, of ``states`` only."""
    filters: list[dict[str, Any]] = [{"term": {"event.dataset": DATASET}}]
    if rule:
        filters.append({"term": {"rule.name": rule}})
    if since is not None:
        filters.append({"range": {"@timestamp": {"gte": utc_iso(since, "milliseconds")}}})
    if states:
        filters.append({"terms": {"event.action": list(states)}})
    response = es.search(index=index_pattern("alerts", prefix), size=size, query={"bool": {"filter": filters}},
                         sort=[{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
                         ignore_unavailable=True, allow_no_indices=True)
    return [{"timestamp": doc.get("@timestamp"), "rule": lookup(doc, "rule.name"), "state": lookup(doc, "event.action"),
             "previous": lookup(doc, "oam.alert.previous"), "value": lookup(doc, "oam.alert.value"),
             "severity": lookup(doc, "oam.alert.severity"), "labels": doc.get("labels") or {},
             "message": doc.get("message"), "error": lookup(doc, "error.message")}
            for doc in (hit["_source"] for hit in response["hits"]["hits"])]
