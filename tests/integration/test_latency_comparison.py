"""Latency histogram and selection-versus-baseline comparison against the real Elasticsearch.

Two windows of fixture traffic beside the seeded dashboard's (which is newer than both):

* window A, 50 to 30 minutes ago: 24 requests on four shards and three hosts; every request to
  shard 3 is slow (a 300 ms shard query, backend transaction 325 ms; the others 45 ms); four fast
  requests on shard 1 fail with HTTP 500 in backend 1.3.0 (the rest run 1.2.0);
* window B, 80 to 60 minutes ago: 18 requests on three hosts; those on web-3 are slow.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dashboard import demo
from dashboard.testing import ServedApp, form_login, headless_chromium, log_in, make_app, seeded

A_COUNT, B_COUNT = 24, 18


def _window_a(start: datetime) -> tuple[list, list[str]]:
    docs, slow = [], []
    for i in range(A_COUNT):
        shard, host = str(i % 4 + 1), f"web-{i % 3 + 1}"
        trace = demo.demo_trace(start + timedelta(seconds=45 * i), host=host, slow_ms=300 if shard == "3" else 20)
        for kind, doc in trace:
            if kind == "spans" and "shard" in doc.get("labels", {}):
                doc["labels"]["shard"] = shard
            if kind == "transactions" and doc["service"]["name"] == "backend" and shard == "1" and i < 16:
                doc["service"]["version"] = "1.3.0"
                doc["event"]["outcome"] = "failure"
                doc["http"] = {"response": {"status_code": 500}}
        if shard == "3":
            slow.append(trace[0][1]["trace"]["id"])
        docs += trace
    return docs, slow


def _window_b(start: datetime) -> list:
    docs = []
    for i in range(B_COUNT):
        host = f"web-{i % 3 + 1}"
        docs += demo.demo_trace(start + timedelta(seconds=45 * i), host=host, slow_ms=300 if host == "web-3" else 20)
    return docs


@pytest.fixture(scope="module")
def traffic(es_client, es_users, zookeeper, tmp_path_factory):
    tokens = tmp_path_factory.mktemp("latency-tokens") / "tokens.json"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    windows = {"a": (now - timedelta(minutes=50), now - timedelta(minutes=30)),
               "b": (now - timedelta(minutes=80), now - timedelta(minutes=60))}
    with seeded(es_client, zookeeper.connection_string, tokens_file=tokens,
                elasticsearch=es_users["dashboard"]) as seed:
        docs, slow = _window_a(windows["a"][0] + timedelta(seconds=30))
        docs += _window_b(windows["b"][0] + timedelta(seconds=30))
        demo.write_documents(es_client, docs, seed.prefix)
        app = make_app(seed)
        client = app.test_client()
        form_login(client, "viewer")
        ranges = {name: {"from": a.isoformat(), "to": b.isoformat()} for name, (a, b) in windows.items()}
        yield client, ranges, slow, seed
        app.extensions["oam.connections"].close()


def get(client, path, **params):
    answer = client.get(path, query_string=params) if params else client.get(path)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def _row(answer, dimension, value):
    return next(r for r in answer["rows"] if (r["dimension"], r["value"]) == (dimension, value))


def test_the_histogram_counts_every_transaction_in_log_spaced_buckets(traffic):
    client, ranges, _slow, _seed = traffic
    answer = get(client, "/api/services/backend/latency-histogram", **ranges["a"])
    assert (answer["count"], answer["failed"]) == (A_COUNT, 4)
    assert sum(b["count"] for b in answer["buckets"]) == A_COUNT
    by_edge = {(b["from_ms"], b["to_ms"]): (b["count"], b["failed"]) for b in answer["buckets"]}
    assert by_edge[(40.0, 50.0)] == (18, 4)  # the fast backend transactions, 45 ms
    assert by_edge[(315.0, 400.0)] == (6, 0)  # shard 3's, 325 ms
    assert answer["buckets"][0]["from_ms"] == 40.0 and answer["buckets"][-1]["to_ms"] == 400.0


def test_brushing_the_slow_part_ranks_the_slow_shard_first(traffic):
    client, ranges, slow, _seed = traffic
    answer = get(client, "/api/services/backend/comparison", min_ms="200", max_ms="1s", **ranges["a"])
    assert answer["totals"] == {"selection": 6, "baseline": A_COUNT - 6}
    assert answer["sample"] == {"selection": 6, "baseline": A_COUNT - 6, "truncated": False}
    top = answer["rows"][0]
    assert (top["dimension"], top["source"], top["value"]) == ("labels.shard", "spans", "3")
    assert (top["selection"], top["baseline"]) == ({"count": 6, "share": 1.0}, {"count": 0, "share": 0.0})
    host = _row(answer, "host.name", "web-1")  # the hosts share the slow shard evenly
    assert (host["selection"]["share"], host["baseline"]["share"]) == (round(2 / 6, 4), round(6 / 18, 4))
    assert _row(answer, "labels.shard", "1")["baseline"] == {"count": 6, "share": round(6 / 18, 4)}
    # the row opens the trace search for the selection with that value: exactly the slow traces
    found = get(client, top["traces"].replace("/traces/search", "/api/traces/search", 1))
    assert sorted(t["trace_id"] for t in found["traces"]) == sorted(slow)


def test_a_slow_host_ranks_first_in_its_window(traffic):
    client, ranges, _slow, _seed = traffic
    answer = get(client, "/api/services/backend/comparison", min_ms="200ms", **ranges["b"])
    top = answer["rows"][0]
    assert (top["dimension"], top["source"], top["value"]) == ("host.name", "transactions", "web-3")
    assert (top["selection"], top["baseline"]) == ({"count": 6, "share": 1.0}, {"count": 0, "share": 0.0})
    assert top["traces"].startswith("/traces/search?") and "host=web-3" in top["traces"]


def test_failed_requests_are_compared_with_the_rest(traffic):
    client, ranges, _slow, _seed = traffic
    answer = get(client, "/api/services/backend/comparison", failed="1", **ranges["a"])
    assert answer["totals"] == {"selection": 4, "baseline": A_COUNT - 4}
    top = {(r["dimension"], r["value"]): (r["selection"]["share"], r["baseline"]["share"]) for r in answer["rows"][:2]}
    assert top == {("http.response.status_code", "500"): (1.0, 0.0), ("service.version", "1.3.0"): (1.0, 0.0)}
    assert not any(r["dimension"] == "event.outcome" for r in answer["rows"])  # what was selected on
    assert _row(answer, "labels.shard", "1")["selection"]["share"] == 1.0


def test_the_service_page_carries_the_histogram_and_the_comparison(traffic):
    client, _ranges, _slow, _seed = traffic
    page = client.get("/services/backend").get_data(as_text=True)
    assert 'id="latency-histogram"' in page and 'id="comparison"' in page and "latency.js" in page


@pytest.mark.parametrize("path, params, problem", [
    ("comparison", {"min_ms": "-5"}, "durations cannot be negative"),
    ("comparison", {}, "select transactions with min_ms and/or max_ms, or failed=1"),
    ("comparison", {"failed": "maybe"}, "failed must be 1 or 0"),
    ("latency-histogram", {"min_ms": "5"}, "min_ms is not a parameter of the histogram"),
])
def test_bad_input_is_a_400_naming_the_problem(traffic, path, params, problem):
    client, _ranges, _slow, _seed = traffic
    answer = client.get(f"/api/services/backend/{path}", query_string=params)
    assert answer.status_code == 400 and problem in answer.get_json()["error"]


def test_brushing_the_histogram_in_a_browser_fills_the_ranked_table(traffic, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    _client, ranges, _slow, seed = traffic
    with ServedApp(make_app(seed)) as served, headless_chromium() as driver:
        log_in(driver, served.url, "viewer")
        driver.get(f"{served.url}/services/backend?from={ranges['a']['from']}&to={ranges['a']['to']}".replace("+", "%2B"))
        canvas = driver.find_element(By.ID, "latency-histogram")
        WebDriverWait(driver, 15).until(lambda d: canvas.get_attribute("data-loaded") == str(A_COUNT))
        width = canvas.size["width"]
        ActionChains(driver).move_to_element_with_offset(canvas, int(width * 0.3), 0).click_and_hold() \
            .move_by_offset(int(width * 0.17), 0).release().perform()  # the right-most bars: 250-400 ms
        WebDriverWait(driver, 15).until(until.presence_of_element_located((By.CSS_SELECTOR, "#comparison[data-loaded]")))
        assert float(driver.find_element(By.ID, "min-ms").get_attribute("value")) >= 200
        assert driver.find_element(By.ID, "max-ms").get_attribute("value") == "400"
        first = driver.find_elements(By.CSS_SELECTOR, "#comparison tbody tr")[0]
        cells = [td.text for td in first.find_elements(By.TAG_NAME, "td")]
        assert cells[:5] == ["labels.shard (spans)", "3", "100.0 % (6)", "0.0 % (0)", "+100.0 pp"]
        assert driver.find_element(By.CSS_SELECTOR, "section.latency").screenshot(str(tmp_path / "latency.png"))
