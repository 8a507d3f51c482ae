"""Sentry and OTLP receivers with the real SDKs, and the trace query by GTX (API and `oam trace`)."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest
import requests
from click.testing import CliRunner
from local_suite import collector_on_own_user

from collector.testing import RunningCollector
from oam.cli import cli

PREFIX = "oamrecv"
NOW = str(int(time.time()))  # whole seconds: the OTLP nanosecond strings below are NOW + 9 digits


@pytest.fixture(scope="module")
def running(tmp_path_factory, es_users, es_client) -> Iterator[tuple[RunningCollector, str]]:
    with collector_on_own_user(tmp_path_factory.mktemp("collector"), es_users, es_client, PREFIX, "receivers") as running:
        yield running


@pytest.fixture(scope="module")
def reader(running) -> str:
    """A token of scope read, for the trace API and `oam trace`."""
    return running[0].collector.tokens.issue("receivers-reader", scope="read")


def _trace(url: str, token: str, gtx: str) -> requests.Response:
    return requests.get(f"{url}/api/traces/{gtx}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _walk(nodes: list[dict]) -> Iterator[dict]:
    for node in nodes:
        yield node
        yield from _walk(node["children"])


def test_sentry_sdk_error_inside_a_gtx_is_found_by_that_gtx(running, es_client, reader) -> None:
    import sentry_sdk

    from agents.app.errors import init_sentry
    from telemetry.context import transaction
    from telemetry.ecs import ServiceInfo

    collector, token = running
    host = collector.url.removeprefix("http://")
    error_log_handler = init_sentry(f"http://{token}@{host}/7", ServiceInfo("checkout", "1.2.3", "test"))
    try:
        with transaction("POST /orders") as ids:
            try:
                {}["missing-key"]
            except KeyError:
                sentry_sdk.capture_exception()
        sentry_sdk.flush(timeout=10)
    finally:
        logging.getLogger().removeHandler(error_log_handler)
        sentry_sdk.get_client().close()
    es_client.indices.refresh(index=f"{PREFIX}-*")
    response = _trace(collector.url, reader, ids.trace_id)
    assert response.status_code == 200, response.text
    errors = [node for node in _walk(response.json()["roots"]) if node["kind"] == "error"]
    assert len(errors) == 1
    error = errors[0]["document"]
    assert error["error"]["type"] == "KeyError" and "missing-key" in error["error"]["message"]
    assert error["trace"]["id"] == ids.trace_id and error["transaction"]["id"] == ids.transaction_id
    assert error["service"]["name"] == "checkout" and error["service"]["version"] == "1.2.3"
    assert "test_sentry_sdk_error_inside_a_gtx" in error["error"]["stack_trace"]
    assert len(error["error"]["grouping_key"]) == 40


def test_sentry_sdk_transaction_appears_in_the_trace_tree_with_its_spans(running, es_client, reader) -> None:
    import sentry_sdk

    collector, token = running
    host = collector.url.removeprefix("http://")
    sentry_sdk.init(dsn=f"http://{token}@{host}/8", traces_sample_rate=1.0, default_integrations=False,
                    release="billing@4.2.0", environment="test", server_name="billing-1")
    try:
        with sentry_sdk.start_transaction(op="task", name="charge invoices") as sentry_tx:
            with sentry_tx.start_child(op="db.query", description="SELECT invoices") as query:
                with query.start_child(op="http.client", description="POST /charge"):
                    pass
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close()
    es_client.indices.refresh(index=f"{PREFIX}-*")
    response = _trace(collector.url, reader, sentry_tx.trace_id)
    assert response.status_code == 200, response.text
    [root] = response.json()["roots"]
    assert (root["kind"], root["name"], root["service"]) == ("transaction", "charge invoices", "billing")
    assert root["document"]["transaction"]["type"] == "task" and root["document"]["event"]["outcome"] == "success"
    [child] = root["children"]
    assert (child["kind"], child["name"]) == ("span", "SELECT invoices")
    assert child["document"]["span"]["type"] == "db" and child["document"]["parent"]["id"] == sentry_tx.span_id
    [grandchild] = child["children"]
    assert grandchild["name"] == "POST /charge"
    assert grandchild["document"]["transaction"]["id"] == sentry_tx.span_id


def test_sentry_store_endpoint_groups_by_type_and_in_app_frames(running, es_client) -> None:
    collector, token = running
    gtx = "a" * 31 + "1"

    def event(event_id: str, line: int) -> dict:
        frames = [{"module": "shop.views", "function": "checkout", "lineno": line, "in_app": True},
                  {"module": "shop.cart", "function": "total", "lineno": line + 1, "in_app": True}]
        return {"event_id": event_id, "timestamp": int(NOW) + 0.5, "platform": "python", "release": "shop@2",
                "exception": {"values": [{"type": "ValueError", "value": "bad qty",
                                          "stacktrace": {"frames": frames}}]},
                "contexts": {"trace": {"trace_id": gtx, "span_id": "b" * 16}}}
    auth = {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={token}, sentry_client=raw/1.0"}
    for event_id, line in (("e" * 31 + "1", 10), ("e" * 31 + "2", 99)):
        response = requests.post(f"{collector.url}/api/9/store/", json=event(event_id, line), headers=auth, timeout=30)
        assert response.status_code == 200 and response.json()["id"] == event_id
    refused = requests.post(f"{collector.url}/api/9/store/", json=event("f" * 32, 1), timeout=30,
                            headers={"X-Sentry-Auth": "Sentry sentry_key=nope"})
    assert refused.status_code == 401
    es_client.indices.refresh(index=f"{PREFIX}-*")
    hits = es_client.search(index=f"{PREFIX}-errors-*", query={"term": {"trace.id": gtx}})["hits"]["hits"]
    assert len(hits) == 2  # the refused one was not stored
    keys = {hit["_source"]["error"]["grouping_key"] for hit in hits}
    assert len(keys) == 1  # same type and frames, different line numbers: one group


def test_otel_sdk_exporter_trace_prints_as_a_three_level_tree(running, es_client, reader) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    collector, token = running
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-shop"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{collector.url}/v1/traces", headers={"Authorization": f"Bearer {token}"})))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /cart") as root:
        with tracer.start_as_current_span("load cart"):
            with tracer.start_as_current_span("SELECT carts"):
                pass
    provider.shutdown()
    gtx = format(root.get_span_context().trace_id, "032x")
    es_client.indices.refresh(index=f"{PREFIX}-*")

    result = CliRunner().invoke(cli, ["trace", gtx, "--url", collector.url, "--token", reader])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 4, result.output
    assert lines[0].startswith(f"trace {gtx}")
    assert lines[1].startswith("└─ transaction: GET /cart  [otel-shop]")
    assert lines[2].startswith("   └─ span: load cart")
    assert lines[3].startswith("      └─ span: SELECT carts")
    assert " ms" in lines[3]
    as_json = CliRunner().invoke(cli, ["trace", gtx, "--url", collector.url, "--token", reader, "-o", "json"])
    assert as_json.exit_code == 0, as_json.output
    tree = json.loads(as_json.output)
    [root_node] = tree["roots"]
    assert tree["trace_id"] == gtx and (root_node["name"], root_node["service"]) == ("GET /cart", "otel-shop")
    assert [child["name"] for child in root_node["children"]] == ["load cart"]
    assert [child["name"] for child in root_node["children"][0]["children"]] == ["SELECT carts"]


def test_otel_sdk_semantic_attributes_events_links_and_metrics_land_in_their_ecs_fields(running, es_client) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Link, SpanKind

    collector, token = running
    headers = {"Authorization": f"Bearer {token}"}
    resource = Resource.create({"service.name": "otel-semconv", "service.version": "3.1", "team": "payments"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces",
                                                                     headers=headers)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("earlier") as earlier:
        pass
    with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER, links=[Link(earlier.get_span_context())],
                                      attributes={"http.request.method": "GET", "http.response.status_code": 404,
                                                  "url.path": "/orders/7", "user_agent.original": "curl/8",
                                                  "tenant": "acme", "retries": 2}) as root:
        with tracer.start_as_current_span("GET order:7", kind=SpanKind.CLIENT,
                                          attributes={"db.system": "redis", "server.address": "cache-1",
                                                      "server.port": 6379}) as child:
            child.add_event("cache miss", {"key": "order:7"})
    provider.shutdown()
    meters = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{collector.url}/v1/metrics", headers=headers), export_interval_millis=60_000)])
    meter = meters.get_meter("test")
    meter.create_counter("orders.paid").add(3, {"shard": "2"})
    meter.create_histogram("orders.amount", unit="EUR").record(12.5)
    meter.create_up_down_counter("queue.depth").add(4)
    meters.shutdown()  # a last export of every instrument
    gtx = format(root.get_span_context().trace_id, "032x")
    es_client.indices.refresh(index=f"{PREFIX}-*")

    def one(kind: str, query: dict) -> dict:
        hits = es_client.search(index=f"{PREFIX}-{kind}-*", query=query)["hits"]["hits"]
        assert len(hits) == 1, (kind, query, hits)
        return hits[0]["_source"]

    tx = one("transactions", {"term": {"trace.id": gtx}})
    assert tx["http"] == {"request": {"method": "GET"}, "response": {"status_code": 404}}
    assert tx["url"] == {"path": "/orders/7"} and tx["user_agent"] == {"original": "curl/8"}
    assert tx["labels"]["tenant"] == "acme" and tx["labels"]["team"] == "payments"
    assert tx["numeric_labels"] == {"retries": 2}
    assert tx["agent"]["name"] == "opentelemetry/python" and tx["ecs"]["version"]
    assert tx["span"]["links"] == [{"trace": {"id": format(earlier.get_span_context().trace_id, "032x")},
                                    "span": {"id": format(earlier.get_span_context().span_id, "016x")}}]
    span = one("spans", {"term": {"trace.id": gtx}})
    assert span["db"] == {"system": "redis"} and span["server"] == {"address": "cache-1", "port": 6379}
    event = one("logs", {"term": {"trace.id": gtx}})
    assert (event["message"], event["span"]["id"], event["labels"]["key"]) == (
        "cache miss", format(child.get_span_context().span_id, "016x"), "order:7")
    found = {"service.name": "otel-semconv"}
    paid = one("metrics", {"bool": {"filter": [{"term": found}, {"exists": {"field": "orders.paid"}}]}})
    assert paid["orders"]["paid"] == 3 and paid["labels"]["shard"] == "2"
    amount = one("metrics", {"bool": {"filter": [{"term": found}, {"exists": {"field": "orders.amount.count"}}]}})
    assert amount["orders"]["amount"]["count"] == 1 and amount["orders"]["amount"]["sum"] == 12.5
    assert sum(amount["orders"]["amount"]["buckets"]["counts"]) == 1
    depth = one("metrics", {"bool": {"filter": [{"term": found}, {"exists": {"field": "queue.depth"}}]}})
    assert depth["queue"]["depth"] == 4


def test_otlp_json_spans_and_logs_share_one_tree(running, es_client, reader) -> None:
    collector, token = running
    gtx, root_id, child_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "00f067aa0ba902b7"
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]}
    spans = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [
        {"traceId": gtx, "spanId": root_id, "name": "GET /", "kind": 2,
         "startTimeUnixNano": NOW + "000000000", "endTimeUnixNano": NOW + "250000000"},
        {"traceId": gtx, "spanId": child_id, "parentSpanId": root_id, "name": "cache get", "kind": 3,
         "startTimeUnixNano": NOW + "010000000", "endTimeUnixNano": NOW + "020000000",
         "status": {"code": 2, "message": "timeout"}}]}]}]}
    logs = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"scope": {"name": "app"}, "logRecords": [
        {"timeUnixNano": NOW + "015000000", "severityNumber": 17, "body": {"stringValue": "cache timed out"},
         "traceId": gtx, "spanId": child_id}]}]}]}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert requests.post(f"{collector.url}/v1/traces", data=json.dumps(spans), headers=headers, timeout=30).ok
    assert requests.post(f"{collector.url}/v1/logs", data=json.dumps(logs), headers=headers, timeout=30).ok
    es_client.indices.refresh(index=f"{PREFIX}-*")
    tree = _trace(collector.url, reader, gtx).json()
    [root] = tree["roots"]
    assert (root["kind"], root["name"], root["duration_ms"]) == ("transaction", "GET /", 250.0)
    [child] = root["children"]
    assert (child["kind"], child["name"], child["outcome"]) == ("span", "cache get", "failure")
    assert child["document"]["transaction"]["id"] == root_id
    [log] = child["children"]
    assert log["kind"] == "log" and "cache timed out" in log["name"] and log["document"]["log"]["level"] == "error"


def test_bad_otlp_and_trace_queries_get_clear_answers(running, reader) -> None:
    collector, token = running
    auth = {"Authorization": f"Bearer {token}"}
    garbage = requests.post(f"{collector.url}/v1/traces", data=b"\xff\x00garbage",
                            headers={**auth, "Content-Type": "application/x-protobuf"}, timeout=30)
    assert garbage.status_code == 400 and "protobuf" in garbage.json()["error"]
    assert requests.post(f"{collector.url}/v1/traces", data=b"{}", timeout=30,
                         headers={"Content-Type": "application/json"}).status_code == 401
    malformed = _trace(collector.url, reader, "not-a-trace-id")
    assert malformed.status_code == 400 and "malformed GTX" in malformed.json()["error"]
    unknown = _trace(collector.url, reader, "1" * 32)
    assert unknown.status_code == 404 and "no transaction" in unknown.json()["error"]
    result = CliRunner().invoke(cli, ["trace", "1" * 32, "--url", collector.url, "--token", reader])
    assert result.exit_code == 1 and "HTTP 404" in result.output
