"""The Alerts page's logic: which alerts are shown now, and history documents read as rows."""
from __future__ import annotations

from alerts.rules import parse_rule
from alerts.state import FIRING, INACTIVE, PENDING, AlertState
from alerts.store import RuleState
from dashboard.areas.alerts import active_alerts, history_rows

RULE = parse_rule("prod/alerts/order-errors", {
    "kind": "service", "service": "order-service", "measure": "error_rate", "op": ">", "threshold": 5,
    "window": "1m", "for": "2m", "severity": "critical", "group_by": ["host"]})


def test_firing_first_then_pending_and_inactive_left_out() -> None:
    states = {"order-errors": RuleState("order-errors", {
        "host=web-1": AlertState({"host": "web-1"}, PENDING, active_since=200.0, value=7.0),
        "host=web-2": AlertState({"host": "web-2"}, FIRING, active_since=50.0, fired_at=100.0, value=12.5,
                                 context=["deploy order-service 4.0.0 -> 4.1.0 by alice"]),
        "host=web-3": AlertState({"host": "web-3"}, INACTIVE, value=1.0)})}
    rows = active_alerts([RULE], states)
    assert [(r["state"], r["labels"]["host"]) for r in rows] == [(FIRING, "web-2"), (PENDING, "web-1")]
    firing = rows[0]
    assert firing["since"] == "1970-01-01T00:01:40+00:00" and firing["value"] == 12.5
    assert firing["severity"] == "critical" and firing["key"] == "prod/alerts/order-errors"
    assert "12.5" in firing["summary"] and firing["context"] == ["deploy order-service 4.0.0 -> 4.1.0 by alice"]
    assert rows[1]["since"] == "1970-01-01T00:03:20+00:00"


def test_history_documents_become_rows_and_missing_fields_stay_empty() -> None:
    rows = history_rows([
        {"_source": {"@timestamp": "2026-12-03T10:00:00Z", "event": {"action": "firing"},
                     "rule": {"name": "order-errors"}, "labels": {"host": "web-2"},
                     "service": {"name": "order-service"}, "host": {"name": "web-2"},
                     "message": "order-errors firing", "oam": {"alert": {"value": 12.5}}}},
        {"_source": {"@timestamp": "2026-12-03T09:00:00Z"}}])
    assert rows[0] == {"at": "2026-12-03T10:00:00Z", "state": "firing", "rule": "order-errors",
                       "labels": {"host": "web-2"}, "service": "order-service", "host": "web-2",
                       "message": "order-errors firing", "value": 12.5}
    assert rows[1]["state"] == "" and rows[1]["value"] is None and rows[1]["labels"] == {}
