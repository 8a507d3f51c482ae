"""A small, realistic set of documents for trying the dashboard and for its tests and benchmark.

``demo_trace`` builds one request across gateway -> backend (cache, shard) -> queue -> worker, with
logs and an error; ``write_documents`` indexes ``(kind, document)`` pairs with the bulk helper.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from elasticsearch.helpers import bulk

from telemetry.context import TraceIds
from telemetry.ecs import (
    ServiceInfo,
    change_event,
    document_id,
    error_document,
    log_document,
    metric_document,
    span_document,
    transaction_document,
)
from telemetry.templates import index_name

Doc = tuple[str, dict[str, Any]]
CALLERS = {"backend": "gateway", "worker": "backend"}


def demo_trace(at: datetime, *, trace_id: str | None = None, host: str = "web-1", slow_ms: int = 120,
               message: str = "order created") -> list[Doc]:
    """One request's documents: 3 transactions, 3 spans, 4 logs and 1 error, ``slow_ms`` in the shard query."""
    trace_id = trace_id or secrets.token_hex(16)
    gateway, backend, worker = (ServiceInfo(name, "1.2.0", "production", host)
                                for name in ("gateway", "backend", "worker"))
    gw_tx, be_tx, wk_tx = (secrets.token_hex(8) for _ in range(3))
    call, cache, shard = (secrets.token_hex(8) for _ in range(3))
    ms = timedelta(milliseconds=1)
    docs: list[Doc] = [
        ("transactions", transaction_document(gateway, "POST /orders", "request", TraceIds(trace_id, gw_tx, gw_tx),
                                              duration_ns=(slow_ms + 40) * 1_000_000, at=at,
                                              http={"request.method": "POST", "response.status_code": 201})),
        ("spans", span_document(gateway, "POST backend /orders", "http", TraceIds(trace_id, gw_tx, call, gw_tx),
                                duration_ns=(slow_ms + 30) * 1_000_000, at=at + 2 * ms)),
        ("transactions", transaction_document(backend, "POST /orders", "request",
                                              TraceIds(trace_id, be_tx, be_tx, call),
                                              duration_ns=(slow_ms + 25) * 1_000_000, at=at + 4 * ms)),
        ("spans", span_document(backend, "cache get", "cache", TraceIds(trace_id, be_tx, cache, be_tx),
                                duration_ns=2_000_000, at=at + 5 * ms, labels={"cache_hit": False})),
        ("spans", span_document(backend, "shard insert", "db", TraceIds(trace_id, be_tx, shard, be_tx),
                                duration_ns=slow_ms * 1_000_000, at=at + 8 * ms, labels={"shard": "2"})),
        ("transactions", transaction_document(worker, "job recompute", "job", TraceIds(trace_id, wk_tx, wk_tx, be_tx),
                                              duration_ns=15_000_000, at=at + (slow_ms + 40) * ms,
                                              outcome="failure")),
    ]
    for kind, doc in docs:  # the caller, as the collector stores it from tracestate (telemetry.origin)
        if kind == "transactions" and doc["service"]["name"] in CALLERS:
            doc["service"]["origin"] = {"name": CALLERS[doc["service"]["name"]]}
    docs += [
        ("logs", log_document(gateway, "request POST /orders", "info", "gateway", at=at + ms,
                              ids=TraceIds(trace_id, gw_tx, gw_tx))),
        ("logs", log_document(backend, message, "info", "backend", at=at + (slow_ms + 10) * ms,
                              ids=TraceIds(trace_id, be_tx, shard, be_tx))),
        ("logs", log_document(backend, "queued job recompute", "info", "backend", at=at + (slow_ms + 20) * ms,
                              ids=TraceIds(trace_id, be_tx, be_tx))),
        ("logs", log_document(worker, "recompute failed: shard 2 timeout", "error", "worker",
                              at=at + (slow_ms + 50) * ms, ids=TraceIds(trace_id, wk_tx, wk_tx))),
        ("errors", error_document(worker, "TimeoutError", "shard 2 did not answer",
                                  'Traceback (most recent call last):\n  File "worker.py", line 40, in run\n'
                                  "TimeoutError: shard 2 did not answer",
                                  at=at + (slow_ms + 52) * ms, ids=TraceIds(trace_id, wk_tx, wk_tx))),
    ]
    return docs


def host_metrics(host: str, start: datetime, count: int, step: timedelta = timedelta(seconds=30)) -> list[Doc]:
    info = ServiceInfo("host-agent", "1.0", "production", host)
    return [("metrics", metric_document(info, {"system.cpu.total.pct": 0.2 + (i % 10) / 20,
                                               "system.memory.used.pct": 0.5, "system.filesystem.used.pct": 0.4,
                                               "system.network.in.bytes_per_sec": 1000.0 * i,
                                               "system.network.out.bytes_per_sec": 500.0 * i},
                                        at=start + i * step)) for i in range(count)]


def deploy_change(at: datetime, service: str = "backend", user: str = "alice") -> Doc:
    info = ServiceInfo(service, "1.2.0", "production", "ops-1")
    return ("changes", change_event(info, "deployment-finished", user, target=f"production/{service}",
                                    new="1.2.0", comment="release 1.2.0", at=at))


def actions(docs: Iterable[Doc], prefix: str) -> Iterator[dict[str, Any]]:
    for kind, doc in docs:
        moment = datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")).astimezone(timezone.utc)
        yield {"_op_type": "create", "_index": index_name(kind, moment, prefix), "_id": document_id(kind, doc),
               "_source": doc}


def write_documents(es: Any, docs: Iterable[Doc], prefix: str, *, refresh: bool = True,
                    chunk_size: int = 2000) -> int:
    """Index the documents into ``<prefix>-<kind>-YYYY.MM.DD``; returns how many were written."""
    written, errors = bulk(es.options(request_timeout=120), actions(docs, prefix), chunk_size=chunk_size,
                           raise_on_error=False)
    conflicts = [e for e in errors if next(iter(e.values())).get("status") != 409]  # 409: already there
    if conflicts:
        raise RuntimeError(f"{len(conflicts)} documents were refused, first: {conflicts[0]}")
    if refresh:
        es.indices.refresh(index=f"{prefix}-*", ignore_unavailable=True, allow_no_indices=True)
    return written
