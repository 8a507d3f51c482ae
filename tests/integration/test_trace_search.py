"""Trace search against the real Elasticsearch: the JSON API, the page and `oam traces search`.

Fixture traffic beside the seeded dashboard's: three slow traces (a 300 ms shard query on shard 7;
355 ms whole, 340 ms their longest transaction), one borderline trace (205 ms whole, 190 ms its
longest transaction) and fast ones, interleaved in time.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from dashboard import demo
from dashboard.testing import form_login, make_app, seeded
from oam.cli import cli


def _traffic(now: datetime) -> tuple[list, dict[str, list[str]]]:
    docs: list = []
    ids: dict[str, list[str]] = {"slow": [], "borderline": [], "fast": []}
    plan = [("slow", 3, 300), ("fast", 4, 20), ("slow", 16, 300), ("borderline", 18, 150), ("slow", 20, 300),
            ("fast", 22, 20), ("fast", 25, 20)]
    for kind, minutes_ago, slow_ms in plan:
        trace = demo.demo_trace(now - timedelta(minutes=minutes_ago), slow_ms=slow_ms, host="web-2",
                                message="order created slowpath" if minutes_ago == 16 else "order created")
        if kind == "slow":
            for doc_kind, doc in trace:
                if doc_kind == "spans" and "shard" in doc.get("labels", {}):
                    doc["labels"]["shard"] = "7"
        ids[kind].append(trace[0][1]["trace"]["id"])
        docs += trace
    return docs, ids


@pytest.fixture(scope="module")
def traffic(es_client, es_users, zookeeper, tmp_path_factory):
    tokens = tmp_path_factory.mktemp("search-tokens") / "tokens.json"
    with seeded(es_client, zookeeper.connection_string, tokens_file=tokens,
                elasticsearch=es_users["dashboard"]) as seed:
        docs, ids = _traffic(datetime.now(timezone.utc))
        demo.write_documents(es_client, docs, seed.prefix)
        app = make_app(seed)
        client = app.test_client()
        form_login(client, "viewer")
        yield seed, client, ids
        app.extensions["oam.connections"].close()


def search(client, **params):
    answer = client.get("/api/traces/search", query_string={"from": "now-1h", **params})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_min_duration_200_ms_of_one_transaction_returns_exactly_the_slow_traces_newest_first(traffic):
    _seed, client, ids = traffic
    answer = search(client, min_duration="200ms", duration_of="transaction")
    assert [t["trace_id"] for t in answer["traces"]] == ids["slow"]  # planned newest first
    starts = [t["start"] for t in answer["traces"]]
    assert starts == sorted(starts, reverse=True)
    row = answer["traces"][0]
    assert row["root"] == {"service": "gateway", "operation": "POST /orders"}
    assert row["services"] == ["backend", "gateway", "worker"]
    assert (row["transactions"], row["spans"], row["errors"]) == (3, 3, 1)
    assert row["duration_ms"] == pytest.approx(355, abs=1) and row["longest_transaction_ms"] == 340


def test_the_whole_trace_duration_counts_the_worker_job_after_the_response(traffic):
    _seed, client, ids = traffic
    answer = search(client, min_duration="200")  # duration of the whole trace (the default)
    assert [t["trace_id"] for t in answer["traces"]] == [*ids["slow"][:2], *ids["borderline"], ids["slow"][2]]
    assert answer["query"]["duration_of"] == "trace"
    bounded = search(client, min_duration="200", max_duration="300")
    assert [t["trace_id"] for t in bounded["traces"]] == ids["borderline"]


def test_slowest_first_breaks_ties_by_trace_id(traffic):
    _seed, client, ids = traffic
    answer = search(client, min_duration="200", sort="slowest")
    assert [t["trace_id"] for t in answer["traces"]] == [*sorted(ids["slow"]), *ids["borderline"]]
    assert search(client, min_duration="200", sort="slowest", limit="2")["traces"] == answer["traces"][:2]


def test_labels_service_host_and_log_text_filter(traffic):
    _seed, client, ids = traffic
    on_shard_7 = search(client, **{"labels.shard": "7", "service": "backend"})
    assert [t["trace_id"] for t in on_shard_7["traces"]] == ids["slow"]
    assert search(client, **{"labels.shard": "7", "host": "web-1"})["traces"] == []
    by_text = search(client, text="slowpath")
    assert [t["trace_id"] for t in by_text["traces"]] == [ids["slow"][1]]
    everything = search(client, host="web-2", operation="job recompute", outcome="failure")
    assert sorted(t["trace_id"] for t in everything["traces"]) == sorted(sum(ids.values(), []))
    assert search(client, error_group="no-such-group")["traces"] == []


@pytest.mark.parametrize("params, problem", [
    ({"sort": "fastest"}, "sort must be one of newest, slowest"),
    ({"min_duration": "-5"}, "durations cannot be negative"),
    ({"from": "last tuesday"}, "bad time in from"),
    ({"labels.shard": "7", "colour": "red"}, "unknown search parameter 'colour'"),
])
def test_bad_input_is_a_400_naming_the_problem(traffic, params, problem):
    _seed, client, _ids = traffic
    answer = client.get("/api/traces/search", query_string=params)
    assert answer.status_code == 400 and problem in answer.get_json()["error"]


def test_the_page_shows_a_table_and_the_cli_the_same_traces(traffic, es_users, tmp_path):
    seed, client, ids = traffic
    page = client.get("/traces/search?from=now-1h&min_duration=200&duration_of=transaction").get_data(as_text=True)
    assert all(f"/traces/{gtx}" in page for gtx in ids["slow"]) and f"/traces/{ids['borderline'][0]}" not in page
    assert 'id="trace-scatter"' in page and "duration of one transaction &ge; 200.0 ms" in page
    dashboard = es_users["dashboard"]
    args = ["--data-dir", str(tmp_path), "traces", "search", "--min-duration", "200ms", "--duration-of",
            "transaction", "--from", "now-1h", "--es", ",".join(dashboard.hosts), "--es-user", dashboard.username,
            "--es-password", dashboard.resolved_password(), "--index-prefix", seed.prefix]
    if dashboard.ca_file:
        args += ["--es-ca-file", dashboard.ca_file]
    as_json = CliRunner().invoke(cli, [*args, "-o", "json"])
    assert as_json.exit_code == 0, as_json.output
    assert [t["trace_id"] for t in json.loads(as_json.output)["traces"]] == ids["slow"]
    as_table = CliRunner().invoke(cli, args)
    lines = as_table.output.splitlines()
    assert lines[0].split()[:3] == ["START", "ROOT", "OPERATION"]
    assert [line.split()[-1] for line in lines[2:]] == ids["slow"]
