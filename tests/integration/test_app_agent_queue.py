"""A job enqueued through real Redis inside a request runs in the worker under the same GTX."""
from __future__ import annotations

import json

from flask import Flask

from agents.app import AppAgent, enqueue, run_job
from telemetry.ecs import ServiceInfo, flatten


def test_the_worker_continues_the_requests_gtx(tmp_path, redis_client):
    agent = AppAgent(ServiceInfo("orders", "1.0.0", "test", "host-1"), tmp_path).start()
    try:
        app = Flask("orders")

        @app.post("/orders/<order_id>")
        def create(order_id: str):
            enqueue(redis_client, "jobs", "notify", {"order": order_id}, agent.metrics)
            return {"queued": True}, 202

        agent.instrument_flask(app)
        response = app.test_client().post("/orders/9")
        gtx = response.headers["X-Trace-Id"]

        _, raw = redis_client.brpop(["jobs"], timeout=5)
        handled = []
        run_job(raw, {"notify": handled.append}, agent.metrics)
        assert handled == [{"order": "9"}]
        agent.flush()

        docs = [flatten(json.loads(line)) for line in agent.span_file.read_text().splitlines()]
        request = next(d for d in docs if d.get("transaction.name") == "POST /orders/<order_id>")
        push = next(d for d in docs if d.get("span.name") == "queue push jobs")
        job = next(d for d in docs if d.get("transaction.name") == "job notify")
        assert {request["trace.id"], push["trace.id"], job["trace.id"]} == {gtx}
        assert push["parent.id"] == request["transaction.id"] and push["span.type"] == "queue"
        assert job["parent.id"] == push["span.id"]  # the worker's LTX hangs under the enqueue
        assert job["transaction.id"] != request["transaction.id"]
        metrics = app.test_client().get("/metrics").get_data(as_text=True)
        assert 'job_duration_seconds_count{job="notify",outcome="success"} 1.0' in metrics
        assert 'queue_depth{queue="jobs"} 1.0' in metrics
    finally:
        agent.shutdown()
