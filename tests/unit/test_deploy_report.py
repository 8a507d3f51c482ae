"""The summary table, the exit codes and the change event built from a deployment record."""
from __future__ import annotations

import json

from deployer.events import append_event, deployment_event
from deployer.report import summary
from deployer.rollout import EXIT_OK, EXIT_ROLLBACK_INCOMPLETE, EXIT_ROLLED_BACK, HostResult, Outcome


def outcome(result: str, hosts: list[HostResult]) -> Outcome:
    return Outcome("deploy", "shop", "v3", result, hosts, [["web1"], ["web2"], ["web3"]],
                   "2026-01-01T00:00:00Z", "2026-01-01T00:00:09Z", 9.0)


def failed_rollout() -> Outcome:
    return outcome("rolled_back", [
        HostResult("web1", "10.0.0.1", 1, "v2", "v3", "rolled back", seconds=2, rollback_seconds=1),
        HostResult("web2", "10.0.0.2", 2, "v2", "v3", "rolled back", "health", "unhealthy after 3 attempts: 503",
                   seconds=4, rollback_seconds=1),
        HostResult("web3", "10.0.0.3", 3, "v2", "v3", "skipped"),
    ])


def test_summary_says_what_happened_on_each_host():
    text = summary(failed_rollout())
    lines = text.splitlines()
    assert lines[0].split() == ["HOST", "ADDRESS", "BATCH", "FROM", "TO", "RESULT", "TIME", "DETAIL"]
    assert lines[2].split()[:6] == ["web1", "10.0.0.1", "1", "v2", "v3", "rolled"]
    assert "health: unhealthy after 3 attempts: 503" in lines[3]
    assert "skipped" in lines[4]
    assert lines[-1] == "deploy shop v3: FAILED; every switched host is back on its previous release (9.0s)"


def test_exit_codes():
    assert outcome("succeeded", []).exit_code == EXIT_OK
    assert failed_rollout().exit_code == EXIT_ROLLED_BACK
    assert outcome("rollback_incomplete", []).exit_code == EXIT_ROLLBACK_INCOMPLETE


def test_record_and_change_event(tmp_path):
    record = failed_rollout().record("alice")
    assert record["rolled_back"] is True and record["user"] == "alice"
    assert [h["status"] for h in record["hosts"]] == ["rolled back", "rolled back", "skipped"]
    record["id"] = "deploy-0000000007"
    event = deployment_event(record)
    assert event["event"]["category"] == "configuration" and event["event"]["type"] == "change"
    assert event["event"]["action"] == "deployment-finished"
    assert event["event"]["outcome"] == "failure"
    assert (event["service"]["name"], event["service"]["version"]) == ("shop", "v3")
    assert json.loads(event["change"]["old"]) == ["v2"] and json.loads(event["change"]["new"]) == "v3"
    assert event["labels"]["deployment_id"] == "deploy-0000000007"
    assert event["@timestamp"] == "2026-01-01T00:00:09Z"
    path = tmp_path / "events" / "changes.jsonl"
    append_event(path, event)
    append_event(path, event)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [{"_kind": "changes", **event}] * 2  # the host agent ships them as change events


def test_the_change_event_carries_each_batch_verdict_for_the_marker():
    record = failed_rollout().record("alice")
    record["analysis"] = [{"batch": 1, "result": "fail", "reason": "error_rate worse", "checks": [
        {"check": "error_rate", "result": "fail", "new": 0.2923, "baseline": 0.0, "p_value": 1.2e-9,
         "new_count": 65, "baseline_count": 131},
        {"check": "latency", "result": "pass", "new": 20.3, "baseline": 20.1, "p_value": 0.3}]}]
    event = deployment_event(record)
    assert event["change"]["comment"] == ("rolled_back on 3 host(s); batch 1 verdict fail: "
                                          "error_rate 0.292 vs 0 p=1.2e-09 n=65/131")
    record["analysis"] = [{"batch": 2, "result": "inconclusive", "reason": "Elasticsearch unreachable", "checks": []}]
    assert deployment_event(record)["message"].endswith("batch 2 verdict inconclusive: Elasticsearch unreachable")
