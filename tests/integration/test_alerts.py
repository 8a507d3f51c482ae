"""Alerts end to end: rules in a real CMDB, two ``oam alerts run`` evaluators, real Elasticsearch,
two clustered Alertmanagers and a real SMTP server.

Transactions of ``order-service`` are indexed as the collector stores them, a few every half
second, with a failure ratio the test turns up and down. The rule: error rate over 20 % in the
last 3 s, for 2 s, evaluated every second.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import alert_parts
import pytest
from alert_parts import PASSWORD, USER, Traffic, mails_for, stop_evaluators, wait_for_mail
from click.testing import CliRunner
from elasticsearch import AuthorizationException

from cmdb import Cmdb, SchemaViolation
from dashboard.queries import changes
from dashboard.timerange import TimeRange
from deployer.events import deployment_event
from foundation.clock import utc_iso
from foundation.elasticsearch import connect, delete_indices
from foundation.waiting import NotReady, wait_until
from oam.cli import cli
from telemetry.templates import index_name, install_templates

PREFIX = f"oamalerts{os.getpid()}"  # inside the pieces' roles (oam*)
ENV = "staging"
RULE = {"kind": "service", "service": "order-service", "measure": "error_rate", "op": ">", "threshold": 20,
        "window": "3s", "interval": "1s", "for": "2s", "severity": "critical", "no_data": "keep_state",
        "annotations": {"summary": "order-service failed {value:.0f}% of its requests (over {threshold:.0f}%)"}}


@pytest.fixture
def root() -> str:
    return f"/oam-test-alerts-{uuid.uuid4().hex[:10]}/cmdb"


@pytest.fixture
def indices(es_client) -> Iterator[None]:
    install_templates(es_client, prefix=PREFIX)
    yield
    delete_indices(es_client, f"{PREFIX}-*")


def oam(zookeeper, root: str, *args: str):
    env = {"OAM_CMDB_USER": USER, "OAM_CMDB_PASSWORD": PASSWORD, "OAM_CONFIG": None, "OAM_CMDB_ZK": None}
    result = CliRunner().invoke(cli, ["alerts", "--zk", zookeeper.connection_string, "--cmdb-root", root, "-e", ENV,
                                      *args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def start_evaluator(name: str, zookeeper, root: str, es_users, alertmanagers, tmp_path: Path) -> subprocess.Popen:
    return alert_parts.start_evaluator(name, zookeeper, root, es_users, alertmanagers, tmp_path, prefix=PREFIX,
                                       environment=ENV)


def leader(zookeeper, root: str) -> str:
    code, out, _ = oam(zookeeper, root, "status", "-o", "json")
    if code != 0:
        raise NotReady("no evaluator is contending")
    return json.loads(out)["active"]


def test_a_rule_fires_once_and_resolves_once_with_two_evaluators_and_a_takeover(
        zookeeper, es_client, es_users, alertmanagers, smtp_server, root, indices, tmp_path):
    name = f"order-errors-{uuid.uuid4().hex[:6]}"
    code, out, err = oam(zookeeper, root, "set", name, '{"kind": "service", "severity": "loud"}')
    assert code == 1 and err.count("\n") == 1 and f"{ENV}/alerts/{name}" in err
    assert oam(zookeeper, root, "set", name, json.dumps(RULE), "-m", "page on order errors")[0] == 0
    with Cmdb(zookeeper.connection_string, user=USER, password=PASSWORD, root=root) as handle:
        with pytest.raises(SchemaViolation, match="severity"):  # the CMDB itself refuses a bad rule now
            handle.store.set(f"{ENV}/alerts/{name}", {**RULE, "severity": "loud"})

    evaluators = {n: start_evaluator(n, zookeeper, root, es_users, alertmanagers, tmp_path) for n in ("eval-a", "eval-b")}
    try:
        with Traffic(es_client, PREFIX, ENV) as traffic:
            active = wait_until(lambda: leader(zookeeper, root), timeout=30, interval=0.3, what="an active evaluator",
                                retry_on=(NotReady,))
            time.sleep(4)  # healthy traffic: nothing fires
            assert mails_for(smtp_server, name) == []

            es_client.index(index=index_name("changes", prefix=PREFIX), refresh=True, document=deployment_event(
                {"id": "d-1", "service": "order-service", "version": "1.0.0", "action": "deploy", "user": "alice",
                 "result": "succeeded", "finished": utc_iso(time.time(), "milliseconds"),
                 "hosts": [{"host": "web-1", "previous": "0.9.0", "target": "1.0.0", "status": "deployed"}]},
                environment=ENV))  # what changed: the mail names this deploy
            traffic.failing = 0.6
            firing = wait_for_mail(smtp_server, name, 1, timeout=40, why="the firing mail")
            assert firing[0].startswith(f"[FIRING] {name} ({ENV}): order-service failed ")
            listed = json.loads(oam(zookeeper, root, "ls", "-o", "json")[1])
            assert [(r["name"], r["firing"]) for r in listed] == [(name, 1)]

            evaluators[active].send_signal(signal.SIGKILL)  # the standby takes over with the persisted state
            evaluators[active].wait(10)
            standby = next(n for n in evaluators if n != active)
            wait_until(lambda: leader(zookeeper, root) == standby, timeout=40, interval=0.5,
                       what="the standby to take over", retry_on=(NotReady,))
            time.sleep(6)  # it re-sends the firing alert (its last send was 8 s ago or more): the same alert, no new mail
            assert len(mails_for(smtp_server, name)) == 1

            traffic.failing = 0.0
            wait_for_mail(smtp_server, name, 2, timeout=40, why="the resolved mail")
            time.sleep(8)  # past the second Alertmanager's peer timeout and the re-sends: no duplicate
        mails = mails_for(smtp_server, name)
        assert [m.split("]")[0] + "]" for m in mails] == ["[FIRING]", "[RESOLVED]"], mails
        code, out, _ = oam(zookeeper, root, "mail", "--mailbox", str(smtp_server.mailbox), "-o", "json")
        printed = [m for m in json.loads(out) if f"] {name} (" in m["subject"]]
        assert code == 0 and [m["subject"] for m in printed] == mails and "ops@example.com" in printed[0]["to"]
        body = printed[0]["body"]
        assert "What changed before it fired:" in body and "deploy order-service 0.9.0 -> 1.0.0 by alice" in body, body
        assert "Failed traces: http://127.0.0.1:8080/traces/search?service=order-service" in body
        assert_history(zookeeper, root, es_client, es_users["alerts"], name)
    finally:
        stop_evaluators(evaluators.values())
        show_logs(tmp_path, alertmanagers)


def assert_history(zookeeper, root: str, es_client, user, name: str) -> None:
    """The transitions are in <prefix>-alerts-*, written by the evaluators' own user, and listed newest first."""
    def transitions() -> list[str]:
        es_client.indices.refresh(index=f"{PREFIX}-alerts-*", allow_no_indices=True)
        hits = es_client.search(index=f"{PREFIX}-alerts-*", query={"term": {"rule.name": name}}, size=50,
                                sort=[{"@timestamp": "asc"}], allow_no_indices=True)["hits"]["hits"]
        actions = [hit["_source"]["event"]["action"] for hit in hits]
        if "resolved" not in actions:
            raise NotReady(f"transitions so far: {actions}")
        return hits

    hits = wait_until(transitions, timeout=15, interval=0.5, what="the alert history")
    while hits and hits[0]["_source"]["event"]["action"] in ("no_data", "error"):
        hits = hits[1:]  # rounds before the first transaction, or while the evaluator's connection came up
    docs = {hit["_source"]["event"]["action"]: hit["_source"] for hit in hits}
    assert [hit["_source"]["event"]["action"] for hit in hits] == ["pending", "firing", "resolved"]
    assert all(hit["_index"].startswith(f"{PREFIX}-alerts-") for hit in hits)
    firing = docs["firing"]
    assert (firing["event"]["dataset"], firing["oam"]["alert"]["previous"], firing["service"]["name"]) == (
        "oam.alerts", "pending", "order-service")
    assert firing["oam"]["alert"]["value"] > 20 and firing["oam"]["alert"]["severity"] == "critical"
    assert firing["message"].startswith("order-service failed ")
    markers = changes(es_client, PREFIX, TimeRange.parse("now-1h", "now"), service="order-service")
    assert [(m["kind"], m["action"]) for m in markers if m["kind"] != "deployment"] == [
        ("alert", "resolved"), ("alert", "firing")]  # the chart markers: no pending
    with pytest.raises(AuthorizationException):  # the evaluators' user writes the alert history only
        connect(user).index(index=index_name("logs", prefix=PREFIX), document={"message": "x"})
    es = ["--es", ",".join(user.hosts), "--es-user", user.username, "--es-password", user.resolved_password(),
          "--es-ca-file", user.ca_file, "--index-prefix", PREFIX]
    code, out, _ = oam(zookeeper, root, "history", name, "--since", "1h", *es, "-o", "json")
    assert code == 0 and [row["state"] for row in json.loads(out)
                          if row["state"] not in ("no_data", "error")] == ["resolved", "firing", "pending"]
    code, out, _ = oam(zookeeper, root, "history", name, "--state", "firing", *es)
    assert code == 0 and "pending -> firing" in out and "resolved" not in out.split("\n", 1)[1]


def show_logs(tmp_path: Path, alertmanagers) -> None:
    """Print the evaluators' and Alertmanagers' logs (pytest shows them when the test failed)."""
    for log in sorted(tmp_path.glob("eval-*.log")):
        print(f"--- {log.name}\n{log.read_text(errors='replace')[-6000:]}")
    for server in alertmanagers.servers:
        print(f"--- {server.url}\n{server.process.log_tail(60)}")
