"""The alert history documents (the fields other pages read) and their writer's refusal handling."""
from __future__ import annotations

import pytest

from alerts.history import HistoryWriter, transition_document
from alerts.rules import parse_rule
from alerts.state import AlertState
from dashboard.queries import change_kind
from telemetry.access import ALERTS, roles
from telemetry.ecs import ECS_VERSION
from telemetry.templates import index_name, index_template

RULE = parse_rule("prod/alerts/order-errors", {
    "kind": "service", "service": "order-service", "measure": "error_rate", "op": ">", "threshold": 5,
    "group_by": ["host"], "labels": {"team": "shop"}, "severity": "critical",
    "runbook_url": "https://wiki.example/runbooks/order-errors",
    "annotations": {"summary": "{service} on {host} failed {value:.0f}%"}})
STATE = AlertState(labels={"host": "web-1"}, state="firing", value=12.5)


def test_a_firing_transition_carries_the_fields_the_pages_read():
    doc = transition_document(RULE, STATE, "firing", "pending", 1_700_000_000.25)
    assert doc["@timestamp"] == "2023-11-14T22:13:20.250Z" and doc["ecs"] == {"version": ECS_VERSION}
    assert doc["event"] == {"kind": "alert", "dataset": "oam.alerts", "action": "firing"}
    assert doc["rule"] == {"name": "order-errors", "reference": "https://wiki.example/runbooks/order-errors"}
    assert doc["labels"] == {"team": "shop", "host": "web-1"}
    assert doc["service"]["name"] == "order-service" and doc["host"] == {"name": "web-1"}
    assert doc["message"] == "order-service on web-1 failed 12%"
    assert doc["oam"]["alert"] == {"value": 12.5, "threshold": 5, "previous": "pending", "severity": "critical"}
    assert "error" not in doc


def test_an_error_names_the_reason_and_an_unknown_transition_is_refused():
    doc = transition_document(RULE, None, "error", "ok", 0.0, error="index_not_found_exception")
    assert doc["error"] == {"message": "index_not_found_exception"} and "host" not in doc
    assert doc["event"]["action"] == "error" and "index_not_found_exception" in doc["message"]
    with pytest.raises(ValueError, match="unknown alert transition 'inactive'"):
        transition_document(RULE, STATE, "inactive", "pending", 0.0)


def test_the_daily_alert_index_has_its_template():
    assert index_name("alerts", prefix="oam").startswith("oam-alerts-")
    mappings = index_template("alerts")["template"]["mappings"]["properties"]
    assert mappings["oam"]["properties"]["alert"]["properties"]["value"] == {"type": "double"}


class Refusing:
    """An Elasticsearch client whose every bulk request fails as a connection refusal does."""

    def __init__(self) -> None:
        self.calls = 0

    def bulk(self, **_: object) -> dict:
        self.calls += 1
        raise ConnectionError("connection refused")


def test_a_refusing_elasticsearch_costs_a_warning_not_the_evaluation(caplog):
    clock = [0.0]
    es = Refusing()
    writer = HistoryWriter(es, "oam", clock=lambda: clock[0])
    writer.add(transition_document(RULE, STATE, "firing", "pending", 0.0))
    assert writer.flush() is False and len(writer.backlog) == 1  # kept for later
    assert "alert history was not written" in caplog.text
    assert writer.flush() is False and es.calls == 1  # not again until RETRY_AFTER passed
    clock[0] = 60.0
    writer.flush()
    assert es.calls == 2


def test_the_evaluators_role_reads_everything_and_writes_the_alert_history_only():
    body = roles(["oam-*", "dash*"])[ALERTS]
    assert body["cluster"] == ["monitor"]
    assert body["indices"] == [{"names": ["oam-*", "dash*"], "privileges": ["read"]},
                               {"names": ["oam-alerts-*", "dash*-alerts-*"], "privileges": ["create_doc", "auto_configure"]}]


def test_a_transition_is_an_alert_marker_on_the_charts():
    doc = transition_document(RULE, STATE, "firing", "pending", 0.0)
    assert change_kind(doc) == "alert"
