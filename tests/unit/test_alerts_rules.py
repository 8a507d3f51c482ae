"""Alert rules: the schema refuses bad rules with one line naming the field; queries are aggregations only."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from alerts.amconfig import alertmanager_config
from alerts.notify import annotations_of, labels_of, payload
from alerts.queries import absent_body, service_body, service_value
from alerts.rules import RuleError, parse_duration, parse_rule
from alerts.state import FIRING, RESOLVED, AlertState

KEY = "prod/alerts/order-errors"
GOOD = {"kind": "service", "service": "order-service", "measure": "error_rate", "op": ">", "threshold": 5,
        "window": "1m", "interval": "30s", "for": "2m", "keep_firing_for": "30s", "severity": "critical",
        "group_by": ["host"], "no_data": "ok", "labels": {"team": "shop"}, "runbook_url": "https://wiki/runbook",
        "annotations": {"summary": "{service} on {host}: {value:.1f}% failed (over {threshold}%)"}}


def test_a_full_rule_parses_with_its_durations_in_seconds():
    rule = parse_rule(KEY, GOOD)
    assert (rule.environment, rule.name, rule.interval, rule.for_seconds, rule.keep_firing_for, rule.window) == (
        "prod", "order-errors", 30.0, 120.0, 30.0, 60.0)
    assert rule.group_by == ("host",) and rule.breached(5.1) and not rule.breached(5.0)


@pytest.mark.parametrize("change, field", [
    ({"severity": "loud"}, "severity"),
    ({"for": "2 minutes"}, "for"),
    ({"threshold": "high"}, "threshold"),
    ({"group_by": ["datacenter"]}, "group_by"),
    ({"no_data": "ignore"}, "no_data"),
    ({"tresh": 5}, "tresh"),
    ({"runbook_url": "wiki/page"}, "runbook_url"),
])
def test_an_invalid_field_is_refused_with_one_line_naming_it(change, field):
    with pytest.raises(RuleError) as caught:
        parse_rule(KEY, {**GOOD, **change})
    message = str(caught.value)
    assert "\n" not in message and field in message and KEY in message


def test_a_missing_required_field_is_named():
    rule = {k: v for k, v in GOOD.items() if k != "threshold"}
    with pytest.raises(RuleError, match="'threshold' is a required property"):
        parse_rule(KEY, rule)
    with pytest.raises(RuleError, match="'percentile' is a required property"):
        parse_rule(KEY, {**GOOD, "measure": "latency"})


def test_a_broken_annotation_template_and_a_zero_interval_are_refused():
    with pytest.raises(RuleError, match="annotations.summary"):
        parse_rule(KEY, {**GOOD, "annotations": {"summary": "value {value"}})
    with pytest.raises(RuleError, match="interval must be longer than 0s"):
        parse_rule(KEY, {**GOOD, "interval": "0s"})
    with pytest.raises(RuleError, match="expected <environment>/alerts/<name>"):
        parse_rule("prod/web/db", GOOD)


def test_durations():
    assert [parse_duration(t) for t in ("500ms", "30s", "2m", "1.5h")] == [0.5, 30, 120, 5400]
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("soon")


def test_the_service_query_aggregates_per_group_and_loads_no_document():
    rule = parse_rule(KEY, {**GOOD, "route": "GET /orders", "measure": "latency", "percentile": 99})
    body = service_body(rule, now=1_700_000_000.0)
    assert body["size"] == 0
    composite = body["aggs"]["groups"]["composite"]
    assert composite["sources"] == [{"host": {"terms": {"field": "host.name"}}}]
    assert body["aggs"]["groups"]["aggs"]["latency"]["percentiles"] == {"field": "event.duration", "percents": [99]}
    filters = body["query"]["bool"]["filter"]
    assert {"term": {"transaction.name": "GET /orders"}} in filters
    assert {"term": {"service.name": "order-service"}} in filters


def test_measures_from_aggregation_answers():
    rule = parse_rule(KEY, GOOD)
    assert service_value(rule, 40, {"failed": {"doc_count": 10}}) == 25.0
    assert service_value(rule, 0, {"failed": {"doc_count": 0}}) is None  # no requests: no data, not 0 %
    latency = parse_rule(KEY, {**GOOD, "measure": "latency", "percentile": 95})
    assert service_value(latency, 3, {"latency": {"values": {"95.0": 250e6}}}) == 250.0
    rate = parse_rule(KEY, {**GOOD, "measure": "request_rate"})
    assert service_value(rate, 120, {}) == 2.0


def test_an_absent_rule_asks_for_the_expected_hosts_last_metric():
    rule = parse_rule("prod/alerts/host-down", {"kind": "absent", "intervals": 3, "metric_interval": "10s"})
    body = absent_body(rule, 1_700_000_000.0, ["web-1", "web-2"])
    assert body["size"] == 0 and body["aggs"]["hosts"]["terms"]["size"] == 2
    with pytest.raises(RuleError, match="measure"):
        parse_rule("prod/alerts/host-down", {"kind": "absent", "measure": "error_rate"})


def test_the_alert_carries_labels_annotations_and_its_times():
    rule = parse_rule(KEY, GOOD)
    state = AlertState(labels={"host": "web-1"}, state=FIRING, fired_at=1000.0, value=33.333)
    assert labels_of(rule, state) == {"alertname": "order-errors", "environment": "prod", "severity": "critical",
                                      "service": "order-service", "team": "shop", "host": "web-1"}
    notes = annotations_of(rule, state)
    assert notes["summary"] == "order-service on web-1: 33.3% failed (over 5.0%)"
    assert notes["runbook_url"] == "https://wiki/runbook"
    body = payload(rule, state, now=1060.0, resend=60.0, dashboard="http://dash")
    assert body["startsAt"] == "1970-01-01T00:16:40.000Z" and body["endsAt"] > "1970-01-01T00:17:40"
    assert body["generatorURL"] == "http://dash/alerts/prod/order-errors"
    resolved = AlertState(labels={}, state=RESOLVED, fired_at=1000.0, resolved_at=1030.0)
    assert payload(rule, resolved, now=1060.0, resend=60.0)["endsAt"] == "1970-01-01T00:17:10.000Z"


def test_a_template_naming_an_unknown_field_keeps_it_as_written():
    rule = parse_rule(KEY, {**GOOD, "annotations": {"summary": "{nosuch} at {value:.0f}"}})
    assert annotations_of(rule, AlertState(value=7.0))["summary"] == "{nosuch} at 7"


def test_the_alertmanager_config_mails_resolved_alerts_too():
    import yaml

    config = yaml.safe_load(alertmanager_config("127.0.0.1:2525", to="ops@example.com", group_wait="1s"))
    assert config["global"]["smtp_smarthost"] == "127.0.0.1:2525"
    assert config["route"]["group_wait"] == "1s"
    assert config["receivers"][0]["email_configs"][0]["send_resolved"] is True


def test_set_refuses_an_invalid_rule_before_connecting(monkeypatch):
    from alerts.cli import alerts

    result = CliRunner().invoke(alerts, ["--zk", "127.0.0.1:1", "set", "bad", '{"kind": "service", "severity": "x"}'])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "production/alerts/bad" in result.stderr and "Error:" in result.stderr
