"""Pure logic of the dashboard: time ranges, shard skew, the trace waterfall, roles, current versions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from collector.traces import build_tree
from dashboard.areas.deployments import current_versions
from dashboard.areas.traces import waterfall
from dashboard.queries import shard_load
from dashboard.timerange import BadTimeRange, TimeRange
from dashboard.users import User, UserError, check_role
from telemetry.context import TraceIds
from telemetry.ecs import ServiceInfo, log_document, span_document, transaction_document

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def test_relative_and_absolute_times():
    assert TimeRange.parse("now-15m", None, NOW) == TimeRange(NOW - timedelta(minutes=15), NOW)
    assert TimeRange.parse(None, None, NOW).start == NOW - timedelta(hours=1)
    span = TimeRange.parse("2026-11-24T10:00:00Z", "2026-11-24T11:00:00", NOW)
    assert span.start.hour == 10 and span.end.tzinfo is not None
    assert TimeRange.parse("now-2h", None, NOW).interval() == "120s"


@pytest.mark.parametrize("start, end, problem", [
    ("yesterday", None, "bad time"), ("now", "now-1h", "must be before"), ("now-40d", None, "at most 31 days"),
    ("now-5x", None, "bad time"),
])
def test_bad_time_ranges_say_why(start, end, problem):
    with pytest.raises(BadTimeRange, match=problem):
        TimeRange.parse(start, end, NOW)


def test_a_shard_far_above_the_mean_is_skewed():
    load = shard_load([{"key": "0", "doc_count": 10}, {"key": "1", "doc_count": 12}, {"key": "2", "doc_count": 40}])
    assert [s["skewed"] for s in load] == [False, False, True]
    assert shard_load([]) == []


def test_waterfall_marks_the_hop_with_most_own_time():
    svc = ServiceInfo("api", host_name="h1")
    trace = "a" * 32
    docs = [("transactions", transaction_document(svc, "GET /", "request", TraceIds(trace, "1" * 16, "1" * 16),
                                                  duration_ns=100_000_000, at=NOW)),
            ("spans", span_document(svc, "db", "db", TraceIds(trace, "1" * 16, "2" * 16, "1" * 16),
                                    duration_ns=70_000_000, at=NOW + timedelta(milliseconds=10))),
            ("logs", log_document(svc, "hello", ids=TraceIds(trace, "1" * 16, "2" * 16), at=NOW))]
    rows = waterfall({"roots": build_tree(docs)})
    assert [r["node"]["kind"] for r in rows] == ["transaction", "span", "log"]
    assert [r["depth"] for r in rows] == [0, 1, 2]
    assert [r["node"]["name"] for r in rows if r["slowest"]] == ["db"]  # 70 ms own time against 30 ms
    assert rows[1]["offset_pct"] == 10.0 and rows[1]["width_pct"] == 70.0


def test_roles_are_ordered():
    assert User("a", "admin").can("operator") and User("o", "operator").can("viewer")
    assert not User("v", "viewer").can("operator") and not User("o", "operator").can("admin")
    with pytest.raises(UserError, match="unknown role"):
        check_role("root")


def test_current_version_per_host_follows_the_newest_record():
    records = [{"hosts": [{"host": "a", "status": "rolled back", "previous": "v1", "target": "v2"},
                          {"host": "b", "status": "deployed", "previous": "v1", "target": "v2"}]},
               {"hosts": [{"host": "a", "status": "deployed", "previous": None, "target": "v1"},
                          {"host": "c", "status": "deployed", "previous": None, "target": "v1"}]}]
    assert current_versions(records) == {"a": "v1", "b": "v2", "c": "v1"}


def test_verdict_rows_give_each_checks_figures_newest_record_first():
    from dashboard.areas.deployments import verdict_rows

    check = {"check": "error_rate", "result": "fail", "new": 0.3, "baseline": 0.0, "difference": 0.3,
             "p_value": 1e-9, "threshold": "p < 0.05", "new_count": 60, "baseline_count": 120, "reason": ""}
    records = [{"id": "deploy-2", "version": "4.0.0", "analysis": [
        {"batch": 1, "result": "fail", "baseline": "hosts not yet switched", "reason": "error_rate worse",
         "checks": [check]}]},
        {"id": "deploy-1", "version": "3.0.0", "analysis": [
            {"batch": 1, "result": "inconclusive", "baseline": "all hosts before the deploy",
             "reason": "Elasticsearch unreachable: ConnectionError", "checks": []}]},
        {"id": "deploy-0", "version": "2.0.0"}]
    rows = verdict_rows(records)
    assert [(r["id"], r["check"], r["result"], r["verdict"]) for r in rows] == [
        ("deploy-2", "error_rate", "fail", "fail"), ("deploy-1", "-", "", "inconclusive")]
    assert (rows[0]["new"], rows[0]["p_value"], rows[0]["counts"], rows[0]["why"]) == (0.3, 1e-9, "60/120",
                                                                                        "error_rate worse")
    assert rows[1]["why"] == "Elasticsearch unreachable: ConnectionError"
