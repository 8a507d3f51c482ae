"""``oam alerts test`` and the ``metric`` and ``log`` kinds against the real Elasticsearch.

The last hour is written as the collector stores it: two ``order-service`` transactions every
20 s, all failing from minute 20 to minute 35; host metrics and log lines for the one-shot
evaluations. The replay must put the fire and resolve times where the data implies them.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from alerts.queries import evaluate
from alerts.rules import parse_rule
from foundation.clock import utc_iso
from foundation.elasticsearch import delete_indices
from oam.cli import cli
from telemetry.templates import index_name, install_templates

PREFIX = f"oamreplay{os.getpid()}"  # inside the read-only user's indices (oam*)
ENV = "staging"
SPACING = 20.0
SERVICE = {"name": "order-service", "environment": ENV, "version": "1.0.0"}


def _index(kind: str, at: float) -> str:
    return index_name(kind, datetime.fromtimestamp(at, timezone.utc), prefix=PREFIX)


def _bulk(client, kind: str, documents: list[dict]) -> None:
    operations = []
    for doc in documents:
        operations += [{"create": {"_index": _index(kind, doc["@timestamp"])}},
                       {**doc, "@timestamp": utc_iso(doc["@timestamp"], "milliseconds")}]
    response = client.bulk(operations=operations, refresh=True)
    assert not response["errors"], response


@pytest.fixture(scope="module")
def recorded(es_client) -> Iterator[dict[str, float]]:
    """The recorded hour; yields when the failures started and stopped (POSIX seconds)."""
    install_templates(es_client, prefix=PREFIX)
    now = time.time()
    start = now - 3600
    failing_from, failing_until = start + 20 * 60, start + 35 * 60
    transactions = []
    for n in range(int(3600 / SPACING)):
        at = start + n * SPACING
        outcome = "failure" if failing_from <= at < failing_until else "success"
        transactions += [{"@timestamp": at + k, "service": SERVICE, "host": {"name": f"web-{k + 1}"},
                          "event": {"dataset": "apm.transaction", "outcome": outcome, "duration": 20_000_000},
                          "transaction": {"name": "GET /orders", "type": "request"}} for k in range(2)]
    _bulk(es_client, "transactions", transactions)
    metrics = []
    for n in range(10):  # the last 100 s: web-1 busy, web-2 idle; a scraped gauge
        at = now - 100 + n * 10
        for host, cpu in (("web-1", 0.95), ("web-2", 0.2 + n * 0.01)):
            metrics.append({"@timestamp": at, "host": {"name": host}, "service": {"name": "oam-host-agent"},
                            "event": {"dataset": "system.cpu", "kind": "metric"}, "system": {"cpu": {"total": {
                                "pct": cpu}}}})
        metrics.append({"@timestamp": at, "host": {"name": "web-1"}, "event": {"dataset": "prometheus.collector"},
                        "prometheus": {"metrics": {"queue_depth": 40.0 + n}, "labels": {"queue": "orders"}}})
        metrics.append({"@timestamp": at, "host": {"name": "web-1"}, "event": {"dataset": "prometheus.collector"},
                        "prometheus": {"metrics": {"queue_depth": 500.0}, "labels": {"queue": "audit"}}})
    _bulk(es_client, "metrics", metrics)
    logs = [{"@timestamp": now - 50 + n, "service": SERVICE, "host": {"name": "web-1"}, "log": {"level": level},
             "message": message}
            for n, (level, message) in enumerate([("error", "payment timeout after 3s")] * 5
                                                 + [("error", "card declined")] * 2
                                                 + [("info", "payment timeout retried")] * 3)]
    logs.append({"@timestamp": now - 1200, "service": {"name": "stock-service", "environment": ENV},
                 "host": {"name": "web-2"}, "log": {"level": "error"}, "message": "stock timeout"})
    _bulk(es_client, "logs", logs)
    yield {"now": now, "failing_from": failing_from, "failing_until": failing_until}
    delete_indices(es_client, f"{PREFIX}-*")


ERROR_RATE = {"kind": "service", "service": "order-service", "measure": "error_rate", "op": ">", "threshold": 20,
              "window": "1m", "interval": "1m", "for": "2m"}


def oam_alerts(es_users, *args: str, cmdb: tuple[str, ...] = ()):
    reader = es_users["dashboard"]  # the read-only user the evaluator uses
    env = {"OAM_CONFIG": None, "OAM_CMDB_ZK": None, "OAM_ES_URL": ",".join(reader.hosts),
           "OAM_ES_USER": reader.username, "OAM_ES_PASSWORD": reader.resolved_password(),
           "OAM_ES_CA_FILE": reader.ca_file, "OAM_CMDB_USER": "alerts", "OAM_CMDB_PASSWORD": "alerts-secret"}
    return CliRunner().invoke(cli, ["alerts", *cmdb, "-e", ENV, *args], env=env)


def oam_test(es_users, *args: str, cmdb: tuple[str, ...] = ()):
    return oam_alerts(es_users, "test", *args, "--index-prefix", PREFIX, cmdb=cmdb)


def test_the_replay_fires_and_resolves_where_the_failures_start_and_stop(recorded, es_users):
    rule = ERROR_RATE
    result = oam_test(es_users, "order-errors", "--rule-json", json.dumps(rule), "--since", "1h", "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fired"] == 1 and report["firing_at_end"] == []
    assert [(t["old"], t["new"]) for t in report["transitions"]] == [
        ("inactive", "pending"), ("pending", "firing"), ("firing", "resolved")]
    at = {t["new"]: datetime.fromisoformat(t["at"].replace("Z", "+00:00")).timestamp() for t in report["transitions"]}
    slack = 60.0 + SPACING  # one step of the replay, plus the spacing of the recorded transactions
    assert abs(at["firing"] - (recorded["failing_from"] + 120)) <= slack  # failures began, then `for` passed
    assert abs(at["resolved"] - (recorded["failing_until"] + 60)) <= slack  # the window no longer holds failures
    assert abs(report["firing_seconds"] - (at["resolved"] - at["firing"])) < 0.01
    assert report["transitions"][1]["value"] == pytest.approx(100.0) and report["transitions"][1]["threshold"] == 20

    table = oam_test(es_users, "order-errors", "--rule-json", json.dumps(rule), "--since", "1h")
    assert table.exit_code == 0 and "pending -> firing" in table.stdout and "would have fired 1 time(s)" in table.stdout


def test_a_rule_stored_in_the_cmdb_is_replayed_by_name(recorded, es_users, zookeeper):
    cmdb = ("--zk", zookeeper.connection_string, "--cmdb-root", f"/oam-test-replay-{uuid.uuid4().hex[:10]}/cmdb")
    assert oam_alerts(es_users, "set", "order-errors", json.dumps(ERROR_RATE), cmdb=cmdb).exit_code == 0
    result = oam_test(es_users, "order-errors", "--since", "1h", "--step", "30s", "-o", "json", cmdb=cmdb)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["key"] == f"{ENV}/alerts/order-errors" and report["fired"] == 1 and report["step"] == 30
    missing = oam_test(es_users, "no-such-rule", cmdb=cmdb)
    assert missing.exit_code != 0 and "no-such-rule" in missing.stderr and len(missing.stderr.splitlines()) == 1


def test_a_replay_of_too_many_steps_and_an_invalid_rule_are_refused_in_one_line(es_users):
    rule = {"kind": "service", "service": "order-service", "measure": "error_rate", "op": ">", "threshold": 20,
            "interval": "1s"}
    result = oam_test(es_users, "order-errors", "--rule-json", json.dumps(rule), "--since", "24h")
    assert result.exit_code != 0 and "use a larger --step" in result.stderr and len(result.stderr.splitlines()) == 1
    result = oam_test(es_users, "cpu", "--rule-json", json.dumps({"kind": "metric", "metric": "system.cpu.total.pct",
                                                                  "op": ">", "threshold": 1, "stat": "median"}))
    assert result.exit_code != 0 and "stat" in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_metric_rule_per_host_and_a_prometheus_sample_by_label(recorded, es_client):
    cpu = parse_rule(f"{ENV}/alerts/cpu", {"kind": "metric", "metric": "system.cpu.total.pct", "stat": "max",
                                           "op": ">", "threshold": 0.9, "window": "2m", "group_by": ["host"]})
    reading = evaluate(es_client, cpu, recorded["now"] + 1, prefix=PREFIX)
    samples = {s.labels["host"]: s for s in reading.groups.values()}
    assert samples["web-1"].outcome is True and samples["web-1"].value == pytest.approx(0.95)
    assert samples["web-2"].outcome is False and samples["web-2"].value == pytest.approx(0.29)
    queue = parse_rule(f"{ENV}/alerts/queue", {"kind": "metric", "prometheus": "queue_depth", "stat": "avg",
                                               "match": {"queue": "orders"}, "op": ">=", "threshold": 45,
                                               "window": "2m"})
    (sample,) = evaluate(es_client, queue, recorded["now"] + 1, prefix=PREFIX).groups.values()
    assert sample.value == pytest.approx(44.5) and sample.outcome is False  # the audit queue's 500s left out


def test_a_log_rule_counts_matching_lines_per_service_and_a_quiet_one_counts_zero(recorded, es_client):
    rule = parse_rule(f"{ENV}/alerts/timeouts", {"kind": "log", "level": "error", "text": "timeout", "op": ">=",
                                                 "threshold": 3, "window": "2m", "group_by": ["service"]})
    reading = evaluate(es_client, rule, recorded["now"] + 1, prefix=PREFIX)
    counts = {s.labels["service"]: (s.value, s.outcome) for s in reading.groups.values()}
    assert counts == {"order-service": (5.0, True), "stock-service": (0.0, False)}
