"""The ``error`` and ``suite`` rule kinds against the real Elasticsearch, read as the evaluator's
least-privilege user: a new error group fires and an old one does not, a regression after a quiet
period, dead letters, the cluster's health turning yellow, and the default pack in one evaluator round."""
from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.notify import annotations_of
from alerts.queries import evaluate
from alerts.rule_pack import install_pack
from alerts.rules import parse_rule
from alerts.state import FIRING, RESOLVED
from cmdb import Cmdb
from collector.decode import Action
from collector.indices import dead_letter_action, install
from foundation.clock import utc_iso
from foundation.elasticsearch import connect, delete_indices
from foundation.waiting import wait_until
from oam.cli import cli
from telemetry.ecs import ServiceInfo, error_document
from telemetry.templates import index_name

PREFIX = f"oamkinds{os.getpid()}"  # inside the pieces' roles (oam*)
ENV = "staging"
NOW = time.time()
ORDERS = ServiceInfo("order-service", version="2.0.0", environment=ENV)
FRESH = "fresh0000000000000000000000000000000001"
OLD = "old00000000000000000000000000000000000002"
BACK = "back0000000000000000000000000000000000003"


def error(group: str, ago: float, kind: str = "KeyError", service: ServiceInfo = ORDERS) -> tuple[str, dict]:
    """An error document ``ago`` seconds old and its daily index."""
    index = index_name("errors", datetime.fromtimestamp(NOW - ago, timezone.utc), prefix=PREFIX)
    return index, error_document(service, kind, f"{kind} in {group[:5]}", f'File "app.py", line 3, in {kind.lower()}',
                                 group=group, at=utc_iso(NOW - ago, "milliseconds"))


def bulk(client, documents: list[tuple[str, dict]]) -> None:
    operations = []
    for index, doc in documents:
        operations += [{"create": {"_index": index}}, doc]
    response = client.bulk(operations=operations, refresh=True)
    assert not response["errors"], response


@pytest.fixture(scope="module")
def stored(es_client) -> Iterator[None]:
    """FRESH: first seen 2 minutes ago; OLD: seen for two days, also a minute ago; BACK: seen 9 hours
    ago, quiet since, back a minute ago; a dead letter 30 s ago; a full filesystem on web-1."""
    install(es_client, prefix=PREFIX)
    errors = [error(FRESH, 120), error(FRESH, 30), error(OLD, 2 * 86400, "Timeout"), error(OLD, 3600, "Timeout"),
              error(OLD, 60, "Timeout"), error(BACK, 9 * 3600, "ShardDown"), error(BACK, 60, "ShardDown"),
              error(FRESH, 40, service=ServiceInfo("gateway", version="1.0.0", environment=ENV))]
    refused = Action(index_name("logs", prefix=PREFIX), "doc-1", {"@timestamp": "not a time", "message": "x"})
    letter = dead_letter_action(refused, "mapper_parsing_exception: failed to parse field [@timestamp]", PREFIX)
    letter.source["@timestamp"] = utc_iso(NOW - 30, "milliseconds")
    disk = {"@timestamp": utc_iso(NOW - 20, "milliseconds"), "host": {"name": "web-1"},
            "event": {"dataset": "system.filesystem", "kind": "metric"}, "labels": {"mount": "/"},
            "system": {"filesystem": {"used": {"pct": 0.95}, "mount_point": "/"}}}
    bulk(es_client, [*errors, (letter.index, letter.source), (index_name("metrics", prefix=PREFIX), disk)])
    yield
    delete_indices(es_client, f"{PREFIX}-*")


@pytest.fixture(scope="module")
def evaluator_client(es_users):
    """The evaluator's own user: reads ``oam*``, cluster ``monitor``."""
    client = connect(es_users["alerts"], request_timeout=30)
    yield client
    client.close()


def rule(name: str, value: dict):
    return parse_rule(f"{ENV}/alerts/{name}", value)


def by_group(reading) -> dict[str, tuple[float | None, bool | None]]:
    return {f"{s.labels['error_group'][:5]}@{s.labels['service']}": (s.value, s.outcome) for s in reading.groups.values()}


def test_a_new_group_fires_and_an_old_one_does_not(stored, evaluator_client):
    new = rule("new-errors", {"kind": "error", "condition": "new", "window": "5m"})
    reading = evaluate(evaluator_client, new, NOW, prefix=PREFIX)
    assert by_group(reading) == {"fresh@order-service": (2.0, True), "fresh@gateway": (1.0, True),
                                 "old00@order-service": (1.0, False), "back0@order-service": (1.0, False)}
    fresh = next(s for s in reading.groups.values() if s.labels == {"error_group": FRESH, "service": "order-service"})
    assert fresh.details["error_type"] == "KeyError" and fresh.details["error_message"] == "KeyError in fresh"
    later = evaluate(evaluator_client, new, NOW + 600, prefix=PREFIX)  # its first occurrence left the window
    assert {s.outcome for s in later.groups.values()} == {False}
    only_orders = rule("new-orders", {"kind": "error", "condition": "new", "service": "order-service"})
    assert set(by_group(evaluate(evaluator_client, only_orders, NOW, prefix=PREFIX))) == {
        "fresh@order-service", "old00@order-service", "back0@order-service"}


def test_a_group_back_after_a_quiet_period_is_a_regression_and_a_steady_one_is_not(stored, evaluator_client):
    regression = rule("back", {"kind": "error", "condition": "regression", "quiet": "6h", "window": "5m"})
    reading = by_group(evaluate(evaluator_client, regression, NOW, prefix=PREFIX))
    assert reading["back0@order-service"] == (1.0, True)
    assert reading["old00@order-service"] == (1.0, False)  # seen an hour before: not quiet for 6 h
    assert reading["fresh@order-service"] == (2.0, False)  # new, not back
    longer = rule("back-12h", {"kind": "error", "condition": "regression", "quiet": "12h", "window": "5m"})
    assert by_group(evaluate(evaluator_client, longer, NOW, prefix=PREFIX))["back0@order-service"] == (1.0, False)


def test_a_frequent_group_is_counted_in_the_window(stored, evaluator_client):
    frequent = rule("frequent", {"kind": "error", "condition": "frequency", "op": ">=", "threshold": 2,
                                 "window": "5m", "service": "order-service"})
    reading = by_group(evaluate(evaluator_client, frequent, NOW, prefix=PREFIX))
    assert reading == {"fresh@order-service": (2.0, True), "old00@order-service": (1.0, False),
                       "back0@order-service": (1.0, False)}


def test_dead_letters_in_the_window_are_counted(stored, evaluator_client):
    dead = rule("dead", {"kind": "suite", "check": "dead_letters", "window": "5m"})
    [now] = evaluate(evaluator_client, dead, NOW, prefix=PREFIX).groups.values()
    assert (now.value, now.outcome) == (1.0, True)
    [later] = evaluate(evaluator_client, dead, NOW + 600, prefix=PREFIX).groups.values()
    assert (later.value, later.outcome) == (0.0, False)


def test_an_index_with_a_replica_on_one_node_turns_the_health_yellow(es_client, evaluator_client):
    es_client.cluster.health(wait_for_status="green", timeout="30s")
    health = rule("es-health", {"kind": "suite", "check": "elasticsearch_health", "op": ">", "threshold": 0})
    [green] = evaluate(evaluator_client, health, time.time()).groups.values()
    assert (green.value, green.outcome, green.details["status"]) == (0.0, False, "green")
    yellow_index = f"{PREFIX}-yellow-{uuid.uuid4().hex[:6]}"
    es_client.indices.create(index=yellow_index, settings={"number_of_shards": 1, "number_of_replicas": 1})
    try:
        es_client.cluster.health(index=yellow_index, wait_for_status="yellow", timeout="30s")
        [yellow] = evaluate(evaluator_client, health, time.time()).groups.values()
        assert (yellow.value, yellow.outcome, yellow.details["status"]) == (1.0, True, "yellow")
        assert int(yellow.details["unassigned_shards"]) >= 1
        only_red = rule("es-red", {"kind": "suite", "check": "elasticsearch_health", "op": ">=", "threshold": 2})
        assert next(iter(evaluate(evaluator_client, only_red, time.time()).groups.values())).outcome is False
    finally:
        es_client.indices.delete(index=yellow_index)
    wait_until(lambda: es_client.cluster.health()["status"] == "green", timeout=30, interval=0.2,
               what="the cluster green again")


def test_the_replay_shows_the_new_group_firing_and_refuses_the_health_check(stored, es_users):
    reader = es_users["alerts"]
    env = {"OAM_CONFIG": None, "OAM_CMDB_ZK": None, "OAM_ES_URL": ",".join(reader.hosts),
           "OAM_ES_USER": reader.username, "OAM_ES_PASSWORD": reader.resolved_password(),
           "OAM_ES_CA_FILE": reader.ca_file}
    new = {"kind": "error", "condition": "new", "service": "order-service", "window": "5m", "interval": "30s"}
    result = CliRunner().invoke(cli, ["alerts", "-e", ENV, "test", "new-errors", "--rule-json", json.dumps(new),
                                      "--since", "10m", "--index-prefix", PREFIX, "-o", "json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fired"] == 1
    assert report["firing_at_end"] == [{"error_group": FRESH, "service": "order-service"}]
    health = {"kind": "suite", "check": "elasticsearch_health"}
    refused = CliRunner().invoke(cli, ["alerts", "-e", ENV, "test", "es", "--rule-json", json.dumps(health),
                                       "--since", "10m", "--index-prefix", PREFIX], env=env)
    assert refused.exit_code != 0 and "elasticsearch_health cannot be replayed" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1


def test_the_default_pack_fires_in_one_evaluator_round(stored, evaluator_client, zookeeper):
    root = f"/oam-test-kinds-{uuid.uuid4().hex[:10]}/cmdb"
    with Cmdb(zookeeper.connection_string, user="alerts", password="alerts-secret", root=root) as cmdb:
        written = install_pack(cmdb, ENV, services=[])
        assert {key.rsplit("/", 1)[-1] for key in written} >= {"disk-full", "new-error-group",
                                                                "elasticsearch-not-green", "dead-letters"}
        cmdb.store.set(f"{ENV}/alerts/dead-letters", {"kind": "suite", "check": "dead_letters", "op": ">",
                                                       "threshold": 5}, comment="an operator's edit")
        assert install_pack(cmdb, ENV, services=[]) == []  # nothing undone, nothing added twice
        evaluator = Evaluator(cmdb, evaluator_client, EvaluatorOptions(ENV, prefix=PREFIX))
        evaluator.round(NOW)
        states = evaluator.states
        firing = {name: {key: state for key, state in record.groups.items() if state.state == FIRING}
                  for name, record in states.items()}
        assert [state.labels for state in firing["disk-full"].values()] == [{"host": "web-1"}]
        new_groups = {(s.labels["error_group"], s.labels["service"]): s for s in firing["new-error-group"].values()}
        assert set(new_groups) == {(FRESH, "order-service"), (FRESH, "gateway")}
        assert evaluator.rules["dead-letters"].threshold == 5 and not firing["dead-letters"]  # 1 dead letter only
        summary = annotations_of(evaluator.rules["new-error-group"], new_groups[(FRESH, "order-service")])["summary"]
        assert summary == "new error in order-service: KeyError: KeyError in fresh"
        assert all(record.error is None for record in states.values()), {n: r.error for n, r in states.items()}

        evaluator.round(NOW + 600)  # the first occurrences left the window: resolved, still named
        [resolved] = [s for s in evaluator.states["new-error-group"].groups.values()
                      if s.labels == {"error_group": FRESH, "service": "order-service"}]
        assert resolved.state == RESOLVED
        assert annotations_of(evaluator.rules["new-error-group"], resolved)["summary"] == summary
