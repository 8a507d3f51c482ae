"""The sample order service as real processes (gateway, backend, worker) on real Redis."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from local_suite import wait_healthy

from backing_services.ports import free_port
from foundation.waiting import wait_until
from telemetry.ecs import flatten


@pytest.fixture(scope="module")
def service(run_dir: Path, redis_server):
    base = run_dir / "order-service"
    telemetry = base / "telemetry"
    common = ["--redis-url", redis_server.url, "--data-dir", str(base / "data"), "--telemetry-dir", str(telemetry)]
    backend_port, gateway_port = free_port(), free_port()
    processes = {
        "backend": [*common, "--port", str(backend_port)],
        "gateway": [*common, "--port", str(gateway_port), "--backend-url", f"http://127.0.0.1:{backend_port}"],
        "worker": common,
    }
    running = {name: subprocess.Popen([sys.executable, "-m", "oam", "sample", name, *args],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for name, args in processes.items()}
    try:
        wait_healthy(f"http://127.0.0.1:{backend_port}", running["backend"])
        wait_healthy(f"http://127.0.0.1:{gateway_port}", running["gateway"])
        yield {"gateway": f"http://127.0.0.1:{gateway_port}", "backend": f"http://127.0.0.1:{backend_port}",
               "telemetry": telemetry, "processes": running}
    finally:
        for process in running.values():
            process.terminate()
        for process in running.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def read_docs(telemetry: Path, trace_id: str) -> list[dict]:
    docs = []
    for path in telemetry.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            doc = flatten(json.loads(line))
            if doc.get("trace.id") == trace_id:
                docs.append(doc)
    return docs


ORDER = {"customer": "ada", "items": [{"sku": "book", "qty": 2, "price": 12.5}]}


def test_one_write_is_one_trace_across_gateway_backend_and_worker(service):
    response = requests.put(f"{service['gateway']}/api/orders/trace-1", json=ORDER, timeout=10)
    assert response.status_code == 201, response.text
    assert response.json()["total"] == 25.0
    gtx = response.headers["X-Trace-Id"]

    def complete():
        docs = read_docs(service["telemetry"], gtx)
        services = {d["service.name"] for d in docs if d["_kind"] == "transactions"}
        logged = {d["service.name"] for d in docs if d["_kind"] == "logs"}  # written apart from the spans
        return docs if services == {"gateway", "backend", "worker"} and logged >= {"backend", "worker"} and \
            sum(1 for d in docs if d.get("span.name", "").startswith("shard-")) >= 3 else None

    docs = wait_until(complete, timeout=20, interval=0.2, what="the documents of all three services")
    transactions = {d["service.name"]: d for d in docs if d["_kind"] == "transactions"}
    assert set(transactions) == {"gateway", "backend", "worker"}
    spans = {d["span.id"]: d for d in docs if d["_kind"] == "spans"}
    ltxs = {d["transaction.id"] for d in transactions.values()}
    assert len(ltxs) == 3  # each unit of work has its own LTX

    # The parent links form the tree gateway -> HTTP call -> backend -> queue push -> worker.
    call = next(s for s in spans.values() if s["span.type"] == "external")
    assert call["parent.id"] == transactions["gateway"]["transaction.id"]
    assert transactions["backend"]["parent.id"] == call["span.id"]
    push = next(s for s in spans.values() if s["span.type"] == "queue")
    assert push["transaction.id"] == transactions["backend"]["transaction.id"]
    assert transactions["worker"]["parent.id"] == push["span.id"]
    kinds = {(s["service.name"], s["span.type"]) for s in spans.values()}
    assert {("backend", "db"), ("backend", "cache"), ("backend", "queue"), ("worker", "db")} <= kinds
    logs = [d for d in docs if d["_kind"] == "logs"]
    assert {d["service.name"] for d in logs} >= {"backend", "worker"}
    assert all(d["transaction.id"] in ltxs for d in logs)


def test_reads_go_through_the_cache(service):
    requests.put(f"{service['gateway']}/api/orders/cached-1", json=ORDER, timeout=10)
    first = requests.get(f"{service['gateway']}/api/orders/cached-1", timeout=10).json()
    second = requests.get(f"{service['gateway']}/api/orders/cached-1", timeout=10).json()
    assert (first["cache"], second["cache"]) == ("miss", "hit")
    requests.put(f"{service['gateway']}/api/orders/cached-1", json=ORDER, timeout=10)  # invalidates
    assert requests.get(f"{service['gateway']}/api/orders/cached-1", timeout=10).json()["cache"] == "miss"
    metrics = requests.get(f"{service['backend']}/metrics", timeout=10).text
    assert 'cache_requests_total{result="hit"}' in metrics
    assert "shard_operations_total" in metrics and "shard_records" in metrics


@pytest.mark.parametrize("method, path, body, status, message", [
    ("PUT", "/api/orders/o1", "not json", 400, "body must be JSON"),
    ("PUT", "/api/orders/o1", [], 400, "JSON object"),
    ("PUT", "/api/orders/o1", {"customer": "x", "items": []}, 400, "'items'"),
    ("PUT", "/api/orders/o1", {"customer": "x", "items": [{"sku": "a", "qty": 0, "price": 1}]}, 400, "qty"),
    ("PUT", "/api/orders/o1", {"customer": "x", "items": [{"sku": "a", "qty": 1, "price": "free"}]}, 400, "price"),
    ("GET", "/api/orders/bad%20id!", None, 400, "order id"),
    ("GET", "/api/orders/" + "x" * 65, None, 400, "order id"),
    ("GET", "/api/orders/never-written", None, 404, "no order"),
    ("POST", "/api/orders/o1", None, 405, ""),
])
def test_client_mistakes_get_a_4xx_json_error(service, method, path, body, status, message):
    kwargs = {"data": body} if isinstance(body, str) else {"json": body} if body is not None else {}
    if isinstance(body, str):
        kwargs["headers"] = {"Content-Type": "application/json"}
    response = requests.request(method, service["gateway"] + path, timeout=10, **kwargs)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_the_failing_endpoint_answers_500_with_its_gtx(service):
    response = requests.get(f"{service['gateway']}/api/fail", timeout=10)
    assert response.status_code == 500
    gtx = response.headers["X-Trace-Id"]
    assert response.json()["trace_id"] == gtx
    errors = wait_until(lambda: [d for d in read_docs(service["telemetry"], gtx) if d.get("error.type") == "RuntimeError"],
                        timeout=15, interval=0.2, what="the backend's RuntimeError document")
    assert errors and errors[0]["service.name"] == "backend"


def test_oam_load_shows_cache_hits_and_shard_skew_in_metrics(service):
    result = subprocess.run(
        [sys.executable, "-m", "oam", "load", "--url", service["gateway"], "--rate", "60", "--duration", "4",
         "--keys", "40", "--zipf", "1.3", "--seed", "3"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "status codes: 200:" in result.stdout and "latency ms: p50" in result.stdout
    again = subprocess.run(
        [sys.executable, "-m", "oam", "load", "--url", service["gateway"], "--rate", "20", "--duration", "1",
         "--keys", "40", "--no-prefill", "-o", "json"], capture_output=True, text=True, timeout=120)
    summary = json.loads(again.stdout)
    assert again.returncode == 0 and summary["requests"] == sum(summary["statuses"].values()) > 0
    assert set(summary["latency_ms"]) == {"p50", "p90", "p99", "max"} and summary["seconds"] >= 1
    metrics = requests.get(f"{service['backend']}/metrics", timeout=10).text

    def value(prefix: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(prefix))

    assert value('cache_requests_total{result="hit"}') > value('cache_requests_total{result="miss"}')
    selects = {line.split('shard="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
               for line in metrics.splitlines()
               if line.startswith("shard_operations_total") and 'operation="SELECT"' in line}
    assert len(selects) == 4 and max(selects.values()) > min(selects.values())


def test_a_cache_ttl_changed_in_the_cmdb_applies_within_two_seconds(run_dir, redis_server, zookeeper, redis_client):
    from cmdb import Cmdb

    root = "/oam-order-service-test"
    admin = Cmdb(zookeeper.connection_string, user="admin", password="pw", root=root)
    admin.store.set("test/order-service/cache", {"ttl_seconds": 60}, comment="start with a long TTL")
    port = free_port()
    env = {**__import__("os").environ, "OAM_CMDB_USER": "admin", "OAM_CMDB_PASSWORD": "pw", "OAM_CMDB_ROOT": root}
    backend = subprocess.Popen(
        [sys.executable, "-m", "oam", "sample", "backend", "--port", str(port), "--redis-url", redis_server.url,
         "--data-dir", str(run_dir / "ttl-test"), "--telemetry-dir", str(run_dir / "ttl-test" / "telemetry"),
         "--environment", "test", "--zk", zookeeper.connection_string],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, backend)
        requests.put(f"{url}/orders/ttl-1", json=ORDER, timeout=10)

        def cached_ttl_ms() -> int:
            requests.put(f"{url}/orders/ttl-1", json=ORDER, timeout=10)  # invalidate
            assert requests.get(f"{url}/orders/ttl-1", timeout=10).json()["cache"] == "miss"  # refill
            return redis_client.pttl("order:ttl-1")

        assert cached_ttl_ms() > 30_000
        admin.store.set("test/order-service/cache", {"ttl_seconds": 2}, comment="shorter")
        wait_until(lambda: cached_ttl_ms() <= 2_000, timeout=2.0, interval=0.05, what="the new TTL to apply")
        assert backend.poll() is None  # no restart
        admin.store.set("test/order-service/cache", {"ttl_seconds": "x"}, comment="not a number")
        refused = 'test/order-service: [cache] ttl_seconds: expected a number, got "x"; cache keeps its last good value'
        telemetry = run_dir / "ttl-test" / "telemetry"

        def logged() -> list[str]:  # whole lines only: the agent may be writing the last one
            return [json.loads(line).get("message") for path in telemetry.glob("*.jsonl")
                    for line in path.read_text().split("\n")[:-1] if line.startswith("{")]

        wait_until(lambda: refused in logged(), timeout=10, interval=0.1, what="the refused value to be logged")
        assert 0 < cached_ttl_ms() <= 2_000  # the last good TTL stays
    finally:
        backend.terminate()
        backend.wait(timeout=15)
        admin.close()
