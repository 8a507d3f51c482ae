"""OTLP spans, events, links and resources mapped onto ECS as Elastic's APM Server maps them."""
from __future__ import annotations

import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from collector.otlp import span_actions
from collector.otlp_ecs import resource_fields, span_fields
from telemetry.ecs import ECS_VERSION

GTX = "4bf92f3577b34da6a3ce929d0e0e4736"
NOW_NS = time.time_ns()


def _kv(items: dict) -> list[KeyValue]:
    out = []
    for key, value in items.items():
        kv = KeyValue(key=key)
        if isinstance(value, bool):
            kv.value.bool_value = value
        elif isinstance(value, int):
            kv.value.int_value = value
        elif isinstance(value, float):
            kv.value.double_value = value
        else:
            kv.value.string_value = value
        out.append(kv)
    return out


def test_semantic_convention_attributes_land_in_their_ecs_fields_and_the_rest_in_labels():
    fields, labels, numeric = span_fields({
        "http.request.method": "GET", "http.response.status_code": 404, "url.path": "/orders/7",
        "http.route": "/orders/{id}", "server.address": "backend", "server.port": 8001,
        "user_agent.original": "curl/8", "db.system": "redis", "db.statement": "GET order:7",
        "tenant": "acme", "cache.hit": True, "retries": 2, "ratio": 0.5})
    assert fields == {"http.request.method": "GET", "http.response.status_code": 404, "url.path": "/orders/7",
                      "http.route": "/orders/{id}", "server.address": "backend", "server.port": 8001,
                      "user_agent.original": "curl/8", "db.system": "redis", "db.statement": "GET order:7"}
    assert labels == {"tenant": "acme", "cache_hit": True}
    assert numeric == {"retries": 2, "ratio": 0.5}


def test_older_spellings_map_too_and_the_current_one_wins():
    fields, labels, _ = span_fields({"http.status_code": 500, "http.response.status_code": 200, "http.method": "POST",
                                     "http.target": "/pay?id=3", "net.peer.name": "db-1", "http.user_agent": "x"})
    assert fields == {"http.response.status_code": 200, "http.request.method": "POST", "url.path": "/pay",
                      "url.query": "id=3", "server.address": "db-1", "user_agent.original": "x"}
    assert labels == {}
    fields, labels, _ = span_fields({"http.response.status_code": "teapot"})  # not a number: kept as a label
    assert fields == {} and labels == {"http_response_status_code": "teapot"}


def test_resource_attributes_are_kept():
    fields, labels, _ = resource_fields({"service.name": "shop", "host.arch": "amd64", "os.type": "linux",
                                         "process.pid": 42, "telemetry.sdk.name": "opentelemetry",
                                         "telemetry.sdk.language": "python", "telemetry.sdk.version": "1.30.0",
                                         "team": "payments"})
    assert fields == {"service.name": "shop", "host.architecture": "amd64", "host.os.type": "linux",
                      "process.pid": 42, "agent.name": "opentelemetry/python", "agent.version": "1.30.0"}
    assert labels == {"team": "payments"}


def test_a_span_keeps_its_resource_events_and_links():
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(_kv({"service.name": "shop", "deployment.environment.name": "prod",
                                                   "host.name": "web-1", "team": "payments"}))
    span = resource_spans.scope_spans.add().spans.add(
        trace_id=bytes.fromhex(GTX), span_id=bytes.fromhex("01" * 8), name="GET /orders/{id}", kind=2,
        start_time_unix_nano=NOW_NS, end_time_unix_nano=NOW_NS + 1_000)
    span.attributes.extend(_kv({"http.request.method": "GET", "http.response.status_code": 200, "tenant": "acme"}))
    event = span.events.add(time_unix_nano=NOW_NS + 10, name="exception")
    event.attributes.extend(_kv({"exception.type": "KeyError", "exception.message": "'7'", "attempt": 1}))
    span.links.add(trace_id=bytes.fromhex("ab" * 16), span_id=bytes.fromhex("cd" * 8))
    export = span_actions(request)
    assert export.rejected == []
    tx, log = (action.source for action in export.actions)
    assert tx["ecs"]["version"] == ECS_VERSION
    assert tx["service"] == {"name": "shop", "version": "unknown", "environment": "prod"}
    assert tx["http"] == {"request": {"method": "GET"}, "response": {"status_code": 200}}
    assert tx["labels"] == {"team": "payments", "tenant": "acme"}
    assert tx["span"]["links"] == [{"trace": {"id": "ab" * 16}, "span": {"id": "cd" * 8}}]
    assert export.actions[1].index.startswith("oam-logs-")
    assert (log["message"], log["log"]["level"], log["trace"]["id"], log["span"]["id"], log["transaction"]["id"]) \
        == ("exception", "error", GTX, "01" * 8, "01" * 8)
    assert log["error"] == {"type": "KeyError", "message": "'7'"} and log["numeric_labels"] == {"attempt": 1}


def test_metrics_sums_gauges_and_histograms_become_metric_documents_in_protobuf_and_json():
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    from collector.otlp_metrics import metric_request_actions

    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(_kv({"service.name": "shop"}))
    metrics = resource_metrics.scope_metrics.add().metrics
    paid = metrics.add(name="orders.paid", unit="1")
    point = paid.sum.data_points.add(time_unix_nano=NOW_NS, as_int=3)
    point.attributes.extend(_kv({"shard": "2"}))
    metrics.add(name="queue.depth").gauge.data_points.add(time_unix_nano=NOW_NS, as_double=1.5)
    metrics.add(name="http.server.duration").histogram.data_points.add(
        time_unix_nano=NOW_NS, count=4, sum=0.9, min=0.1, max=0.5, bucket_counts=[1, 3, 0], explicit_bounds=[0.2, 1.0])
    metrics.add(name="").gauge.data_points.add(time_unix_nano=NOW_NS, as_int=1)  # refused alone
    body = json_format.MessageToJson(request).encode()
    for data, media in ((request.SerializeToString(), "application/x-protobuf"), (body, "application/json")):
        export = metric_request_actions(data, media)
        assert len(export.rejected) == 1 and "needs a name" in export.rejected[0]
        paid_doc, depth_doc, histogram_doc = (action.source for action in export.actions)
        assert all(action.index.startswith("oam-metrics-") for action in export.actions)
        assert paid_doc["orders"]["paid"] == 3 and paid_doc["labels"] == {"shard": "2", "unit": "1"}
        assert paid_doc["service"]["name"] == "shop" and paid_doc["event"]["kind"] == "metric"
        assert depth_doc["queue"]["depth"] == 1.5
        assert histogram_doc["http"]["server"]["duration"] == {
            "count": 4, "sum": 0.9, "min": 0.1, "max": 0.5, "buckets": {"counts": [1, 3, 0], "bounds": [0.2, 1.0]}}
