"""W3C trace context through the app agent: not-sampled callers, tracestate and baggage, the ratio sampler."""
from __future__ import annotations

import json
import math
from pathlib import Path

from flask import Flask

from agents.app import AppAgent
from agents.app.jobs import enqueue, run_job
from telemetry import context
from telemetry.context import begin_transaction, outgoing_headers, span
from telemetry.ecs import ServiceInfo, flatten
from telemetry.tracer import Provider

GTX = "4bf92f3577b34da6a3ce929d0e0e4736"
NOT_SAMPLED = f"00-{GTX}-00f067aa0ba902b7-00"
SAMPLED = f"00-{GTX}-00f067aa0ba902b7-01"
CONTEXT = {"tracestate": "vendor=abc", "baggage": "tenant=acme"}


class ListQueue:
    def __init__(self) -> None:
        self.items: list[str] = []

    def lpush(self, queue: str, item: str) -> int:
        self.items.append(item)
        return len(self.items)


def _lines(path: Path) -> list[dict]:
    return [flatten(json.loads(line)) for line in path.read_text().splitlines()] if path.exists() else []


def _app(agent: AppAgent, queue: ListQueue, seen: dict) -> Flask:
    app = Flask("backend")

    @app.get("/orders/<order_id>")
    def get_order(order_id: str):
        with span("shard-1 SELECT"):
            seen["headers"] = outgoing_headers()
        enqueue(queue, "jobs", "recompute", {"id": order_id})
        return {"id": order_id}

    agent.instrument_flask(app)
    return app


def test_a_not_sampled_caller_is_not_recorded_and_told_so(tmp_path):
    agent = AppAgent(ServiceInfo("backend", "1.0", "test", "h"), tmp_path).start()
    seen: dict = {}
    try:
        response = _app(agent, ListQueue(), seen).test_client().get("/orders/7",
                                                                    headers={"traceparent": NOT_SAMPLED, **CONTEXT})
        agent.flush()
    finally:
        agent.shutdown()
    assert response.status_code == 200
    assert response.headers["traceresponse"].startswith(f"00-{GTX}-") and response.headers["traceresponse"][-3:] == "-00"
    assert _lines(agent.span_file) == []
    assert seen["headers"]["traceparent"].endswith("-00")  # the decision goes on downstream
    assert seen["headers"]["tracestate"] == "vendor=abc" and seen["headers"]["baggage"] == "tenant=acme"


def test_tracestate_and_baggage_reach_the_backend_and_the_worker(tmp_path):
    agent = AppAgent(ServiceInfo("backend", "1.0", "test", "h"), tmp_path).start()
    queue, seen = ListQueue(), {}
    try:
        response = _app(agent, queue, seen).test_client().get("/orders/7", headers={"traceparent": SAMPLED, **CONTEXT})
        [job] = [json.loads(item) for item in queue.items]
        run_job(json.dumps(job), {"recompute": lambda payload: payload["id"]})
        agent.flush()
    finally:
        agent.shutdown()
    assert response.headers["traceresponse"].endswith("-01")
    push = next(doc for doc in _lines(agent.span_file) if doc.get("span.type") == "queue")
    # the caller's entry first (W3C: a participant puts its own entry leftmost), the rest passed on
    assert (job["tracestate"], job["baggage"]) == (f"oam=p:{push['span.id']};s:backend,vendor=abc", "tenant=acme")
    assert job["traceparent"].split("-")[1] == GTX
    transactions = {doc["transaction.name"]: doc for doc in _lines(agent.span_file) if doc["_kind"] == "transactions"}
    for name, state in (("GET /orders/<order_id>", "vendor=abc"), ("job recompute", job["tracestate"])):
        doc = transactions[name]
        assert doc["trace.id"] == GTX
        assert (doc["labels.tracestate"], doc["labels.baggage_tenant"]) == (state, "acme"), name


def test_a_quarter_of_new_traces_are_recorded_with_ratio_one_quarter():
    provider = Provider(sample_ratio=0.25)
    context.use_tracer_provider(provider)
    trials = 4000
    try:
        recorded = 0
        for _ in range(trials):
            opened = begin_transaction("GET /x")
            recorded += opened.span.is_recording()
            opened.end()
    finally:
        context.use_tracer_provider(None)
    mean, sd = trials * 0.25, math.sqrt(trials * 0.25 * 0.75)
    assert mean - 5 * sd < recorded < mean + 5 * sd, recorded  # binomial: false alarm below 1e-6
    for provider, traceparent, recording in ((Provider(), None, True),  # the default records every trace
                                             (Provider(sample_ratio=0.0), None, False),
                                             (Provider(sample_ratio=0.0), SAMPLED, True),  # the caller decided
                                             (Provider(), NOT_SAMPLED, False)):
        context.use_tracer_provider(provider)
        try:
            opened = begin_transaction("GET /x", traceparent)
            assert opened.span.is_recording() is recording, (provider.sample_ratio, traceparent)
            opened.end()
        finally:
            context.use_tracer_provider(None)
