"""The lines and links of "what changed" in an alert's notification, from the suite's own change documents."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import yaml

from alerts.amconfig import alertmanager_config
from alerts.context import change_line, trace_links
from alerts.notify import payload
from alerts.rules import parse_rule
from alerts.state import FIRING, AlertState
from cmdb.events import configuration_event
from cmdb.records import ChangeRecord
from deployer.events import deployment_event

RECORD = {"id": "d-7", "service": "order-service", "version": "2.0.0", "action": "rollback", "user": "alice",
          "result": "succeeded", "finished": "2026-12-03T14:02:11Z",
          "hosts": [{"host": "web-1", "previous": "4.0.0", "target": "2.0.0", "status": "deployed"}]}


def test_a_deploy_a_rollback_and_a_cmdb_edit_as_one_line_each():
    deploy = deployment_event({**RECORD, "action": "deploy", "version": "4.0.0",
                               "hosts": [{**RECORD["hosts"][0], "previous": "2.0.0", "target": "4.0.0"}]})
    assert change_line(deploy) == "14:02Z deploy order-service 2.0.0 -> 4.0.0 by alice: succeeded on 1 host(s)"
    assert change_line(deployment_event(RECORD)).startswith("14:02Z rollback order-service 4.0.0 -> 2.0.0 by alice")
    edit = configuration_event(ChangeRecord(key="production/order-service/faults", version=3, action="update",
                                            user="bob", at="2026-12-03T14:05:00Z", comment="", change_id="c",
                                            had_value=True, old=0.0, has_value=True, new=0.3))
    assert change_line(edit) == "14:05Z cmdb-update production/order-service/faults v3 by bob"


def test_the_notification_carries_the_context_and_the_trace_links():
    rule = parse_rule("production/alerts/errors", {"kind": "service", "service": "order-service",
                                                    "measure": "error_rate", "op": ">", "threshold": 5})
    state = AlertState(state=FIRING, fired_at=1_700_000_000.0, value=12.0, context=["a", "b"])
    body = payload(rule, state, now=1_700_000_010.0, resend=60, dashboard="http://dash:8080/")
    assert body["annotations"]["changes"] == "a\nb"
    failed = urlsplit(body["annotations"]["failed_traces"])
    assert failed.path == "/traces/search"
    assert parse_qs(failed.query) == {"service": ["order-service"], "from": ["2023-11-14T21:43:20Z"],
                                      "to": ["2023-11-14T22:14:20Z"], "outcome": ["failure"]}
    assert parse_qs(urlsplit(body["annotations"]["slowest_traces"]).query)["sort"] == ["slowest"]
    assert "changes" not in payload(rule, AlertState(state=FIRING), 1.0, 60)["annotations"]
    assert trace_links("", 1.0, service="order-service") == {}


def test_the_mail_has_a_plain_text_part_with_what_changed():
    config = yaml.safe_load(alertmanager_config("127.0.0.1:2525"))
    text = config["receivers"][0]["email_configs"][0]["text"]
    assert "{{ .Annotations.changes }}" in text and "{{ .Annotations.failed_traces }}" in text
