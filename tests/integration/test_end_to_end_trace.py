"""One request through the sample service, shipped by the real host agent and collector.

gateway -> backend -> Redis queue -> worker, each writing ECS span and log files; the host agent
tails them into the collector, which indexes into Elasticsearch. Every hop must share one GTX,
each unit of work have its own LTX, and the parent links form the right tree. The failing
endpoint's Sentry error must be found by its GTX.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from local_suite import sample_pipeline

from foundation.waiting import NotReady, wait_until

PREFIX = "oame2e"
ORDER = {"customer": "grace", "items": [{"sku": "pen", "qty": 3, "price": 1.5}]}


@pytest.fixture(scope="module")
def pipeline(run_dir: Path, es_users, es_client, redis_server):
    with sample_pipeline(run_dir / "e2e", PREFIX, es_users, es_client, redis_server) as running:
        yield running


def search(es_client, gtx: str) -> list[dict]:
    es_client.indices.refresh(index=f"{PREFIX}-*", ignore_unavailable=True)
    hits = es_client.search(index=f"{PREFIX}-*", query={"term": {"trace.id": gtx}}, size=200,
                            ignore_unavailable=True)["hits"]["hits"]
    return [dict(hit["_source"], _index=hit["_index"]) for hit in hits]


def test_one_request_is_one_trace_in_elasticsearch(pipeline, es_client):
    response = requests.put(f"{pipeline['gateway']}/api/orders/e2e-1", json=ORDER, timeout=10)
    assert response.status_code == 201, response.text
    gtx = response.headers["X-Trace-Id"]

    def kinds(docs: list[dict]) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for doc in docs:
            out.setdefault(doc["_index"].split("-")[1], []).append(doc)
        return out

    def complete() -> dict[str, list[dict]]:
        found = kinds(search(es_client, gtx))
        services = {d["service"]["name"] for d in found.get("transactions", [])}
        logged = {d["service"]["name"] for d in found.get("logs", [])}  # span and log files ship apart
        if services == {"gateway", "backend", "worker"} and len(found.get("spans", [])) >= 6 and \
                logged >= {"backend", "worker"}:
            return found
        raise NotReady(f"transactions of {sorted(services)}, {len(found.get('spans', []))} spans, "
                       f"logs of {sorted(logged)}")

    found = wait_until(complete, timeout=60, interval=0.5, what=f"every document of GTX {gtx}")
    transactions = {d["service"]["name"]: d for d in found["transactions"]}
    assert set(transactions) == {"gateway", "backend", "worker"}
    ltx = {name: d["transaction"]["id"] for name, d in transactions.items()}
    assert len(set(ltx.values())) == 3
    spans = found["spans"]
    call = next(s for s in spans if s["span"]["type"] == "external")
    push = next(s for s in spans if s["span"]["type"] == "queue")
    assert call["parent"]["id"] == ltx["gateway"]
    assert transactions["backend"]["parent"]["id"] == call["span"]["id"]
    assert push["transaction"]["id"] == ltx["backend"]
    assert transactions["worker"]["parent"]["id"] == push["span"]["id"]
    assert {("backend", "cache"), ("backend", "db"), ("worker", "db")} <= {
        (s["service"]["name"], s["span"]["type"]) for s in spans}
    logs = found["logs"]
    assert {d["service"]["name"] for d in logs} >= {"backend", "worker"}
    assert all(d["transaction"]["id"] in ltx.values() for d in logs)


def test_tracestate_and_baggage_reach_backend_and_worker_and_a_not_sampled_request_is_not_recorded(
        pipeline, es_client):
    context = {"tracestate": "vendor=abc", "baggage": "tenant=acme"}
    skipped_gtx, kept_gtx = "1" * 32, "2" * 32
    skipped = requests.put(f"{pipeline['gateway']}/api/orders/e2e-w3c-0", json=ORDER, timeout=10,
                           headers={"traceparent": f"00-{skipped_gtx}-00f067aa0ba902b7-00", **context})
    kept = requests.put(f"{pipeline['gateway']}/api/orders/e2e-w3c-1", json=ORDER, timeout=10,
                        headers={"traceparent": f"00-{kept_gtx}-00f067aa0ba902b7-01", **context})
    assert skipped.status_code == kept.status_code == 201, (skipped.text, kept.text)
    assert skipped.headers["traceresponse"].startswith(f"00-{skipped_gtx}-") and skipped.headers["traceresponse"].endswith("-00")
    assert kept.headers["traceresponse"].endswith("-01")

    def all_three() -> dict[str, dict]:
        found = {d["service"]["name"]: d for d in search(es_client, kept_gtx) if "-transactions-" in d["_index"]}
        if set(found) != {"gateway", "backend", "worker"}:
            raise NotReady(f"transactions of {sorted(found)}")
        return found

    transactions = wait_until(all_three, timeout=60, interval=0.5, what=f"the transactions of GTX {kept_gtx}")
    for name, doc in transactions.items():
        assert doc["labels"]["tracestate"] == "vendor=abc", name
        assert doc["labels"]["baggage_tenant"] == "acme", name
    # the sampled request, sent after the other one, has fully arrived: the other left nothing behind
    recorded = [d for d in search(es_client, skipped_gtx) if "-transactions-" in d["_index"] or "-spans-" in d["_index"]]
    assert recorded == []


def test_the_failing_endpoints_sentry_error_is_found_by_its_gtx(pipeline):
    response = requests.get(f"{pipeline['gateway']}/api/fail", timeout=10)
    assert response.status_code == 500
    gtx = response.headers["X-Trace-Id"]
    headers = {"Authorization": f"Bearer {pipeline['read_token']}"}
    def with_error() -> dict:
        answer = requests.get(f"{pipeline['collector']}/api/traces/{gtx}", headers=headers, timeout=10)
        trace = answer.json() if answer.status_code == 200 else {}
        if not trace.get("counts", {}).get("errors"):
            raise NotReady(f"HTTP {answer.status_code}, counts {trace.get('counts')}")
        return trace

    trace = wait_until(with_error, timeout=60, interval=0.5, what=f"a Sentry error under GTX {gtx}")
    assert trace.get("counts", {}).get("errors") == 1, f"no Sentry error under GTX {gtx}: {trace.get('counts')}"

    def nodes(items: list[dict]):
        for node in items:
            yield node
            yield from nodes(node["children"])

    (error,) = [node for node in nodes(trace["roots"]) if node["kind"] == "error"]
    assert error["name"] == "RuntimeError: this endpoint fails on purpose"
    assert error["service"] == "backend"


def test_cache_hit_ratio_and_shard_skew_under_load_reach_elasticsearch(pipeline, es_client):
    result = subprocess.run([sys.executable, "-m", "oam", "load", "--url", pipeline["gateway"], "--rate", "40",
                             "--duration", "4", "--keys", "30", "--zipf", "1.3", "--seed", "5"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    time.sleep(2.5)  # one more scrape after the load

    def latest(metric: str, **labels: str) -> float | None:
        es_client.indices.refresh(index=f"{PREFIX}-metrics-*")
        filters = [{"exists": {"field": f"prometheus.metrics.{metric}"}}]
        filters += [{"term": {f"prometheus.labels.{k}": v}} for k, v in labels.items()]
        hits = es_client.search(index=f"{PREFIX}-metrics-*", query={"bool": {"filter": filters}}, size=1,
                                sort=[{"@timestamp": "desc"}])["hits"]["hits"]
        return hits[0]["_source"]["prometheus"]["metrics"][metric] if hits else None

    wait_until(lambda: latest("cache_requests_total", result="hit") is not None, timeout=30, interval=0.5,
               what="a cache hit count in Elasticsearch")
    hits, misses = latest("cache_requests_total", result="hit"), latest("cache_requests_total", result="miss")
    assert hits is not None and misses is not None and hits > misses
    per_shard = [latest("shard_operations_total", shard=str(n), operation="SELECT") or 0.0 for n in range(4)]
    assert all(count > 0 for count in per_shard) and max(per_shard) > min(per_shard)  # skew, visible in ES
