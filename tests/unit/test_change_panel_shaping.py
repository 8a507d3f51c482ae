"""The change panel's pieces: the before/after aggregation body and its shaping, change events described,
the CMDB diff (from the history, else from the event), and change ids."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from cmdb import KeyNotFound
from dashboard.change_figures import figures_query, shape_figures
from dashboard.change_panel import UnknownChange, cmdb_diff, describe, find_change
from deployer.events import deployment_event

AT = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def _bucket(count: int, failures: int, p95_ns: float | None, versions: list | None = None) -> dict:
    bucket = {"doc_count": count, "failures": {"doc_count": failures}, "latency": {"values": {"95.0": p95_ns}}}
    if versions is not None:
        bucket["versions"] = {"buckets": versions}
    return bucket


def test_the_query_has_two_windows_meeting_at_the_change():
    body = figures_query("backend", AT, by_version=True)
    windows = body["aggs"]["windows"]
    assert [(r["key"], r["from"], r["to"]) for r in windows["date_range"]["ranges"]] == [
        ("before", "2026-11-25T11:45:00+00:00", "2026-11-25T12:00:00+00:00"),
        ("after", "2026-11-25T12:00:00+00:00", "2026-11-25T12:15:00+00:00")]
    assert windows["aggs"]["latency"] == {"percentiles": {"field": "event.duration", "percents": [95]}}
    assert windows["aggs"]["versions"]["terms"]["field"] == "service.version"
    assert {"term": {"service.name": "backend"}} in body["query"]["bool"]["filter"]
    assert body["size"] == 0
    assert "versions" not in figures_query("backend", AT, by_version=False)["aggs"]["windows"]["aggs"]


def test_figures_are_shaped_per_window_and_version():
    response = {"aggregations": {"windows": {"buckets": {
        "before": _bucket(90, 9, 20e6, [{"key": "1.0", **_bucket(90, 9, 20e6)}]),
        "after": _bucket(180, 36, 50e6, [{"key": "1.0", **_bucket(60, 6, 21e6)},
                                         {"key": "2.0", **_bucket(120, 30, 60e6)}])}}}}
    figures = shape_figures(response, by_version=True)
    assert figures["window_minutes"] == 15
    assert figures["before"] == {"requests": 90, "requests_per_s": 0.1, "error_rate": 0.1, "p95_ms": 20.0}
    assert figures["after"]["error_rate"] == 0.2 and figures["after"]["requests_per_s"] == 0.2
    versions = {v["version"]: v for v in figures["versions"]}
    assert versions["2.0"]["before"] == {"requests": 0, "requests_per_s": 0.0, "error_rate": None, "p95_ms": None}
    assert versions["2.0"]["after"]["error_rate"] == 0.25 and versions["1.0"]["after"]["p95_ms"] == 21.0


def test_no_transactions_is_no_rate():
    figures = shape_figures({"aggregations": {}}, by_version=False)
    assert figures["before"]["error_rate"] is None and "versions" not in figures


def test_a_deploy_event_is_described_with_its_versions_and_record():
    record = {"id": "deploy-0000000007", "service": "backend", "version": "2.0", "action": "deploy", "user": "bob",
              "result": "succeeded", "finished": AT.isoformat(),
              "hosts": [{"host": "h1", "previous": "1.0", "target": "2.0", "status": "deployed"}]}
    change = describe("abc", deployment_event(record))
    assert change["kind"] == "deployment" and change["service"] == "backend"
    assert (change["from_versions"], change["to_version"]) == (["1.0"], "2.0")
    assert (change["result"], change["host_count"], change["deployment_id"]) == ("succeeded", 1, "deploy-0000000007")


def _config_change(version: int = 3) -> dict:
    return {"@timestamp": AT.isoformat(), "event": {"category": "configuration", "action": "cmdb-set"},
            "user": {"name": "carol"}, "service": {"name": "oam-cmdb"},
            "labels": {"cmdb_version": version, "cmdb_service": "backend"},
            "change": {"target": "production/backend/settings", "comment": "slower",
                       "old": json.dumps({"delay_ms": 0}), "new": json.dumps({"delay_ms": 250})}}


class _Store:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.asked = fail, []

    def diff(self, key: str, old: int, new: int) -> str:
        self.asked.append((key, old, new))
        if self.fail:
            raise KeyNotFound("trimmed")
        return "-a\n+b\n"


def test_a_cmdb_change_takes_its_diff_from_the_cmdb_history():
    change = describe("c1", _config_change())
    assert (change["kind"], change["service"], change["key"], change["version"]) == (
        "configuration", "backend", "production/backend/settings", 3)
    store = _Store()
    assert cmdb_diff(store, change) == ("-a\n+b\n", "cmdb")
    assert store.asked == [("production/backend/settings", 2, 3)]


def test_a_trimmed_history_falls_back_to_the_event_values():
    diff, source = cmdb_diff(_Store(fail=True), describe("c1", _config_change()))
    assert source == "event" and '-  "delay_ms": 0' in diff and '+  "delay_ms": 250' in diff


def test_a_dashboard_account_change_shows_no_diff():
    doc = _config_change()
    doc["change"]["target"] = "oam/dashboard/users/alice"
    assert cmdb_diff(_Store(), describe("c1", doc)) == ("", "hidden (a dashboard account)")


@pytest.mark.parametrize("bad", ["", "a" * 129, "a b", "../x", "<script>"])
def test_malformed_ids_are_unknown_without_asking_elasticsearch(bad):
    with pytest.raises(UnknownChange, match="change ids are 1 to 128"):
        find_change(None, "oam", bad)
