"""Queued jobs that carry the GTX: enqueue inside a request, run in a worker as a new LTX.

A job is a JSON object ``{"name", "payload", "traceparent", "enqueued_at"}`` (with ``tracestate``
and ``baggage`` when the request had them) pushed on a Redis list. The worker continues the GTX
from them in a transaction of type ``job``.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from telemetry.context import PROPAGATED, TRACEPARENT, outgoing_headers, span, transaction

from .metrics import AppMetrics


def enqueue(redis: Any, queue: str, name: str, payload: Mapping[str, Any],
            metrics: AppMetrics | None = None) -> dict[str, Any]:
    """Push a job on ``queue`` (a producer span of type ``queue``); returns the job."""
    with span(f"queue push {queue}", kind=SpanKind.PRODUCER) as scope:
        scope.span.set_attribute("span.type", "queue")
        job = {"name": name, "payload": dict(payload), "enqueued_at": time.time(), TRACEPARENT: None,
               **outgoing_headers()}
        depth = redis.lpush(queue, json.dumps(job))
    if metrics is not None:
        metrics.queue_depth.labels(queue).set(depth)
    return job


def run_job(raw: bytes | str, handlers: Mapping[str, Callable[[dict[str, Any]], Any]],
            metrics: AppMetrics | None = None) -> Any:
    """Run one job from the queue in its own LTX under the GTX it was enqueued with.

    A job that is not valid JSON or names no known handler is reported (ValueError), not run.
    """
    try:
        job = json.loads(raw)
        handler = handlers[job["name"]]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a runnable job: {exc}") from exc
    began = time.perf_counter()
    outcome = "success"
    context = {key: job[key] for key in PROPAGATED if isinstance(job.get(key), str)}
    with transaction(f"job {job['name']}", headers=context, kind=SpanKind.CONSUMER):
        current = trace.get_current_span()
        current.set_attribute("transaction.type", "job")
        if job.get("enqueued_at"):
            current.set_attribute("labels.queue_wait_ms", round((time.time() - job["enqueued_at"]) * 1000, 3))
        try:
            return handler(job.get("payload") or {})
        except Exception:
            outcome = "failure"
            current.set_status(StatusCode.ERROR)
            current.set_attribute("event.outcome", "failure")
            raise
        finally:
            if metrics is not None:
                metrics.job_latency.labels(job["name"], outcome).observe(time.perf_counter() - began)
