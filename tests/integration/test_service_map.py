"""The service map over the real sample service: gateway -> backend -> Redis queue -> worker.

Orders and failing requests go through the sample (shipped by the real host agent and collector,
as in test_end_to_end_trace); the map's gateway -> backend and backend -> worker edges must count
exactly the calls a direct Elasticsearch count finds by joining each called transaction's
``parent.id`` to its caller's exit span, and the page must link them to the trace search.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
import requests
from local_suite import sample_pipeline
from test_end_to_end_trace import ORDER

from dashboard.app import close_app, create_app
from dashboard.testing import form_login, seeded
from foundation.waiting import NotReady, wait_until

ORDERS, FAILURES = 4, 2
PREFIX = "oammap"


@pytest.fixture(scope="module")
def pipeline(run_dir, es_users, es_client, redis_server):
    with sample_pipeline(run_dir / "service-map", PREFIX, es_users, es_client, redis_server) as running:
        yield running


@pytest.fixture(scope="module")
def traffic(pipeline, es_client):
    began = datetime.now(timezone.utc) - timedelta(seconds=5)
    gtxs = []
    for i in range(ORDERS):
        answer = requests.put(f"{pipeline['gateway']}/api/orders/map-{i}", json=ORDER, timeout=10)
        assert answer.status_code in (200, 201), answer.text
        gtxs.append(answer.headers["X-Trace-Id"])
    for _ in range(FAILURES):
        answer = requests.get(f"{pipeline['gateway']}/api/fail", timeout=10)
        assert answer.status_code == 500
        gtxs.append(answer.headers["X-Trace-Id"])

    def arrived() -> dict:  # every hop of every trace: 3 transactions, an HTTP call and a queue push each
        es_client.indices.refresh(index=f"{PREFIX}-*", ignore_unavailable=True)
        mine = {"terms": {"trace.id": gtxs}}
        found = {kind: es_client.count(index=f"{PREFIX}-{kind}-*", query=mine, ignore_unavailable=True)["count"]
                 for kind in ("transactions", "spans")}
        pushes = es_client.count(index=f"{PREFIX}-spans-*", ignore_unavailable=True, query={"bool": {"filter": [
            mine, {"term": {"span.type": "queue"}}]}})["count"]
        if found["transactions"] < 3 * len(gtxs) or pushes < len(gtxs):
            raise NotReady(f"{found}, {pushes} queue pushes")
        return found

    wait_until(arrived, timeout=60, interval=0.5, what="every transaction and span of the traffic")
    return {"from": began.isoformat(), "to": (datetime.now(timezone.utc) + timedelta(seconds=5)).isoformat(),
            "gtxs": gtxs}


def direct_count(es_client, span: dict, callee: str, within: dict) -> tuple[int, int]:
    """(calls, failed calls): the callee's transactions whose parent is one of the caller's exit spans."""
    exits = es_client.search(index=f"{PREFIX}-spans-*", size=10_000, source=False, docvalue_fields=["span.id"],
                             query={"bool": {"filter": [within, *({"term": {k: v}} for k, v in span.items())]}})
    ids = [hit["fields"]["span.id"][0] for hit in exits["hits"]["hits"]]
    called = [within, {"term": {"service.name": callee}}, {"terms": {"parent.id": ids}}]
    count = es_client.count(index=f"{PREFIX}-transactions-*", query={"bool": {"filter": called}})["count"]
    failed = es_client.count(index=f"{PREFIX}-transactions-*", query={"bool": {"filter": [
        *called, {"term": {"event.outcome": "failure"}}]}})["count"]
    return count, failed


@pytest.fixture(scope="module")
def dashboard(es_client, es_users, zookeeper, tmp_path_factory):
    tokens = tmp_path_factory.mktemp("map-tokens") / "tokens.json"
    with seeded(es_client, zookeeper.connection_string, tokens_file=tokens,
                elasticsearch=es_users["dashboard"]) as seed:  # the users; the documents are the sample's
        app = create_app(seed.config.model_copy(update={"index_prefix": PREFIX}))
        client = app.test_client()
        form_login(client, "viewer")
        yield client
        close_app(app)


def test_the_edges_count_what_a_direct_elasticsearch_count_finds(traffic, dashboard, es_client):
    window = {"from": traffic["from"], "to": traffic["to"]}
    answer = dashboard.get("/api/service-map", query_string=window)
    assert answer.status_code == 200, answer.get_json()
    found = answer.get_json()
    edges = {(e["caller"], e["callee"]): e for e in found["edges"]}
    assert set(edges) == {("gateway", "backend"), ("backend", "worker")}
    within = {"range": {"@timestamp": {"gte": traffic["from"], "lte": traffic["to"]}}}
    expected = {("gateway", "backend"): direct_count(es_client, {"service.name": "gateway", "span.type": "external"},
                                                     "backend", within),
                ("backend", "worker"): direct_count(es_client, {"service.name": "backend", "span.type": "queue"},
                                                    "worker", within)}
    for key, (count, failed) in expected.items():
        edge = edges[key]
        assert (edge["count"], edge["failed"]) == (count, failed), key
        assert edge["rate_per_s"] == pytest.approx(count / found["seconds"], rel=1e-3)
        assert edge["error_rate"] == pytest.approx(failed / count, abs=1e-4)
        assert edge["p95_ms"] > 0
    assert expected[("gateway", "backend")] == (ORDERS + FAILURES, FAILURES)  # the backend fails /fail
    assert expected[("backend", "worker")][0] == ORDERS + FAILURES  # every one queued a job
    assert {n["name"] for n in found["nodes"]} == {"gateway", "backend", "worker"}


def test_the_page_draws_the_services_as_links_to_their_pages_and_the_calls_to_the_trace_search(traffic, dashboard):
    window = {"from": traffic["from"], "to": traffic["to"]}
    page = unescape(dashboard.get("/service-map", query_string=window).get_data(as_text=True))
    assert 'id="service-map"' in page and "calls/s" in page and "% errors" in page and "p95" in page
    for service in ("gateway", "backend", "worker"):
        assert f'href="/services/{service}?' in page
    assert "/traces/search?service=backend&caller=gateway&" in page
    link = next(part.split('"')[0] for part in page.split('href="')[1:]
                if part.startswith("/traces/search?service=worker&caller=backend&"))
    searched = unescape(dashboard.get(link).get_data(as_text=True))
    assert all(f"/traces/{gtx}" in searched for gtx in traffic["gtxs"])  # the edge's calls are those traces


def test_a_bad_range_is_a_400_naming_it(dashboard):
    answer = dashboard.get("/api/service-map", query_string={"from": "last tuesday"})
    assert answer.status_code == 400 and "from" in answer.get_json()["error"]
