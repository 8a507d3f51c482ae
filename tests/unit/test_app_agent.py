"""The app agent inside a real Flask app: transactions, spans, logs, metrics, the GTX header."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from flask import Flask, abort, stream_with_context

from agents.app import AppAgent, run_job
from agents.app.errors import add_trace_ids
from telemetry.context import span, transaction
from telemetry.ecs import ServiceInfo, flatten

INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
log = logging.getLogger("orders")


def read_lines(path: Path) -> list[dict]:
    return [flatten(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def agent(tmp_path):
    agent = AppAgent(ServiceInfo("orders", "1.0.0", "test", "host-1"), tmp_path).start()
    yield agent
    agent.shutdown()


@pytest.fixture
def client(agent):
    app = Flask("orders")

    @app.get("/orders/<order_id>")
    def get_order(order_id: str):
        with span("shard-1 SELECT"):
            log.info("loaded order %s", order_id)
        return {"id": order_id}

    @app.get("/broken")
    def broken():
        raise RuntimeError("on purpose")

    @app.get("/missing")
    def missing():
        abort(404)

    @app.get("/export")
    def export():
        def rows():
            yield "a\n"
            log.info("streamed a row")
            yield "b\n"
        return app.response_class(stream_with_context(rows()))

    agent.instrument_flask(app)
    return app.test_client()


def test_a_request_continues_the_gtx_and_records_a_transaction_tree(agent, client):
    response = client.get("/orders/42", headers={"traceparent": INCOMING})
    assert response.status_code == 200
    gtx = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert response.headers["X-Trace-Id"] == gtx
    agent.flush()

    docs = read_lines(agent.span_file)
    (tx,) = [d for d in docs if d["_kind"] == "transactions"]
    (sp,) = [d for d in docs if d["_kind"] == "spans"]
    assert tx["transaction.name"] == "GET /orders/<order_id>"
    assert tx["trace.id"] == sp["trace.id"] == gtx
    assert tx["parent.id"] == "00f067aa0ba902b7"  # the caller's span
    assert tx["http.response.status_code"] == 200 and tx["event.outcome"] == "success"
    assert tx["event.duration"] > 0
    assert sp["transaction.id"] == tx["transaction.id"] and sp["parent.id"] == tx["transaction.id"]
    assert response.headers["traceresponse"] == f"00-{gtx}-{tx['transaction.id']}-01"

    (line,) = [d for d in read_lines(agent.log_file) if d["message"] == "loaded order 42"]
    assert line["trace.id"] == gtx
    assert line["transaction.id"] == tx["transaction.id"]
    assert line["span.id"] == sp["span.id"]
    assert line["log.level"] == "info" and line["log.logger"] == "orders"


def test_a_request_without_traceparent_starts_a_gtx(agent, client):
    first = client.get("/orders/1").headers["X-Trace-Id"]
    second = client.get("/orders/1").headers["X-Trace-Id"]
    assert len(first) == 32 and first != second


def test_server_errors_are_failures_and_client_errors_are_not(agent, client):
    assert client.get("/broken").status_code == 500
    assert client.get("/missing").status_code == 404
    agent.flush()
    outcomes = {d["transaction.name"]: d["event.outcome"] for d in read_lines(agent.span_file)
                if d["_kind"] == "transactions"}
    assert outcomes == {"GET /broken": "failure", "GET /missing": "success"}


def test_metrics_count_requests_by_route_and_status(agent, client):
    client.get("/orders/1")
    client.get("/orders/2")
    client.get("/missing")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{method="GET",route="/orders/<order_id>",status="200"} 2.0' in text
    assert 'http_requests_total{method="GET",route="/missing",status="404"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
    assert "http_requests_in_flight 1.0" in text  # the scrape itself is in flight


def test_a_streamed_response_ends_its_transaction_once_the_body_is_read(agent, client):
    response = client.get("/export")
    assert response.get_data(as_text=True) == "a\nb\n"
    response.close()
    agent.flush()
    (tx,) = [d for d in read_lines(agent.span_file) if d["_kind"] == "transactions"]
    assert tx["transaction.name"] == "GET /export" and tx["http.response.status_code"] == 200
    assert "http_requests_in_flight 1.0" in client.get("/metrics").get_data(as_text=True)  # the scrape alone


def test_a_job_continues_the_gtx_in_a_new_ltx(agent):
    with transaction("POST /orders") as request_ids:
        job = json.dumps({"name": "recompute", "payload": {"id": 7},
                          "traceparent": f"00-{request_ids.trace_id}-{request_ids.span_id}-01"})
    seen = {}
    run_job(job, {"recompute": lambda payload: seen.update(payload)})
    agent.flush()
    assert seen == {"id": 7}
    (worker,) = [d for d in read_lines(agent.span_file) if d.get("transaction.name") == "job recompute"]
    assert worker["trace.id"] == request_ids.trace_id
    assert worker["parent.id"] == request_ids.span_id
    assert worker["transaction.id"] != request_ids.transaction_id
    assert worker["transaction.type"] == "job"


def test_a_bad_job_is_refused_by_name():
    with pytest.raises(ValueError, match="not a runnable job"):
        run_job(b"{not json", {})
    with pytest.raises(ValueError, match="not a runnable job"):
        run_job(json.dumps({"name": "unknown"}), {})


def test_sentry_events_carry_the_gtx():
    with transaction("GET /x") as ids:
        event = add_trace_ids({"exception": {}})
    assert event["contexts"]["trace"]["trace_id"] == ids.trace_id
    assert event["tags"]["transaction.id"] == ids.transaction_id
    assert add_trace_ids({"message": "outside"}) == {"message": "outside"}


def test_without_the_agent_log_records_are_plain_lines_on_stderr_at_the_chosen_level(tmp_path, capsys):
    for level, expected in ((logging.INFO, ["INFO orders: loaded order 7", "WARNING orders: slow"]),
                            (logging.WARNING, ["WARNING orders: slow"])):
        agent = AppAgent(ServiceInfo("orders"), tmp_path, log_level=level, enabled=False).start()
        try:
            log.info("loaded order %s", 7)
            log.warning("slow")
        finally:
            agent.shutdown()
        written = [line.split(" ", 2)[2] for line in capsys.readouterr().err.splitlines()]  # after the date and time
        assert written == expected
        assert not list(tmp_path.iterdir())  # no ECS files, no spans


def test_code_on_the_opentelemetry_api_sees_the_request_and_its_spans_are_written(agent, tmp_path):
    from opentelemetry import propagate, trace

    from telemetry.context import tracer_provider

    app = Flask("api")
    seen = {}

    @app.get("/api")
    def api():
        seen["current"] = trace.get_current_span().get_span_context()
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # what any OpenTelemetry-instrumented client sends
        seen["traceparent"] = carrier["traceparent"]
        with tracer_provider().get_tracer("third.party").start_as_current_span("third-party call") as child:
            seen["child"] = child.get_span_context()
        return "ok"

    agent.instrument_flask(app)
    response = app.test_client().get("/api", headers={"traceparent": INCOMING})
    assert trace.get_current_span() is trace.INVALID_SPAN  # nothing left current after the request
    agent.flush()
    docs = read_lines(agent.span_file)
    (tx,) = [d for d in docs if d["_kind"] == "transactions"]
    (sp,) = [d for d in docs if d["_kind"] == "spans"]
    assert seen["traceparent"].startswith(f"00-{tx['trace.id']}-{tx['transaction.id']}-")
    assert format(seen["current"].span_id, "016x") == tx["transaction.id"] == response.headers["traceresponse"][36:52]
    assert sp["span.name"] == "third-party call" and sp["span.id"] == format(seen["child"].span_id, "016x")
    assert sp["transaction.id"] == tx["transaction.id"] and sp["parent.id"] == tx["transaction.id"]


def test_a_service_on_the_sdk_writes_the_same_span_lines(tmp_path):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from agents.app import EcsFileSpanExporter, TransactionIdProcessor
    from telemetry.context import use_tracer_provider

    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(TransactionIdProcessor())
    provider.add_span_processor(SimpleSpanProcessor(EcsFileSpanExporter(tmp_path / "s.jsonl", ServiceInfo("o", "1"))))
    use_tracer_provider(provider)
    try:
        with transaction("GET /", traceparent=INCOMING) as ids:
            with span("redis GET"):
                pass
    finally:
        use_tracer_provider(None)
        provider.shutdown()
    child, tx = read_lines(tmp_path / "s.jsonl")
    assert tx["transaction.id"] == ids.transaction_id and tx["parent.id"] == "00f067aa0ba902b7"
    assert child["transaction.id"] == ids.transaction_id and child["parent.id"] == ids.span_id
    assert child["trace.id"] == tx["trace.id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
