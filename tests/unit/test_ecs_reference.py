"""The stored documents against the ECS reference formatter (``ecs-logging``'s ``StdlibFormatter``).

For one log record, the line the app agent stores and the line the reference writes carry the
same fields for the same concepts (``log.level``, ``log.logger``, ``log.origin.*``,
``process.pid``, ``process.thread.*``, ``error.*``, ``ecs.version``), with the same values; and
every kind of document carries ``ecs.version`` and the host, agent and process fields.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime

import ecs_logging

from agents.app import AppAgent
from telemetry.context import span, transaction
from telemetry.ecs import (
    KINDS,
    ServiceInfo,
    change_event,
    error_document,
    flatten,
    log_document,
    metric_document,
    span_document,
    transaction_document,
)

# What the reference writes that the suite leaves out, and why.
NOT_STORED = {
    "log.original": "the unformatted message: the suite stores the formatted one as `message`",
    "process.name": "the multiprocessing module's name for the process (MainProcess), not the OS's",
}
SAME_VALUE = ("message", "log.level", "log.logger", "log.origin.file.name", "log.origin.file.line",
              "log.origin.function", "process.pid", "process.thread.id", "process.thread.name", "error.type",
              "error.message")
SERVICE = ServiceInfo("orders", "2.1.0", "test", "host-7", agent_id="agent-3")


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _millis(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _load_order() -> None:
    log = logging.getLogger("orders.db")
    log.warning("slow %s for %r", "query", "order-9")
    try:
        {}["order-9"]
    except KeyError:
        log.exception("order %s lost", "order-9")


def test_stored_log_lines_carry_the_reference_formatters_fields_with_its_values(tmp_path):
    agent = AppAgent(SERVICE, tmp_path).start()
    keep = Keep()
    logging.getLogger().addHandler(keep)
    try:
        with transaction("GET /orders/<id>"):
            _load_order()
        agent.flush()
    finally:
        logging.getLogger().removeHandler(keep)
        agent.shutdown()
    stored = [flatten(json.loads(line)) for line in agent.log_file.read_text().splitlines()]
    assert len(stored) == len(keep.records) == 2
    reference = ecs_logging.StdlibFormatter()
    for ours, record in zip(stored, keep.records):
        theirs = flatten(json.loads(reference.format(record)))
        missing = set(theirs) - set(ours) - set(NOT_STORED)
        assert not missing, f"the stored line lacks {sorted(missing)}"
        for key in SAME_VALUE:
            assert ours.get(key) == theirs.get(key), key
        assert _millis(ours["@timestamp"]) == _millis(theirs["@timestamp"])
        assert ours["ecs.version"].split(".")[0] >= "8"  # a version of ECS itself, as the reference's "1.6.0"
        assert ours["log.origin.function"] == "_load_order" and ours["log.origin.file.name"] == "test_ecs_reference.py"
        assert ours["process.pid"] == record.process
    assert "KeyError" in stored[1]["error.stack_trace"] and "_load_order" in stored[1]["error.stack_trace"]


def test_every_kind_of_document_carries_ecs_version_host_agent_and_process_fields():
    service = ServiceInfo.local("orders", "2.1.0", "test", agent_id="a-1", agent_type="oam-app-agent",
                                agent_version="0.1.0")
    with transaction("GET /orders/<id>") as tx:
        with span("redis GET") as sp:
            docs = {"logs": log_document(service, "loaded"),
                    "transactions": transaction_document(service, "GET /orders/<id>", "request", tx, duration_ns=1),
                    "spans": span_document(service, "redis GET", "cache", sp, duration_ns=1),
                    "metrics": metric_document(service, {"system.cpu.total.pct": 0.5}),
                    "errors": error_document(service, "KeyError", "x"),
                    "changes": change_event(service, "deployment-finished", "alice", target="orders")}
    assert set(docs) == set(KINDS)
    for kind, doc in docs.items():
        flat = flatten(doc)
        for key in ("ecs.version", "host.name", "host.os.type", "host.os.kernel", "host.architecture",
                    "agent.type", "agent.version", "process.pid"):
            assert flat.get(key), f"{kind} lacks {key}"
        assert isinstance(flat["host.ip"], list), kind
    change = flatten(docs["changes"])
    assert (change["event.category"], change["event.type"]) == ("configuration", "change")
