"""ECS document builders: the common fields, ids from the context, stable ids."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from foundation.log_levels import LEVELS, level_spellings, log_level
from telemetry.context import span, transaction
from telemetry.ecs import (
    KINDS,
    ServiceInfo,
    change_event,
    document_id,
    error_document,
    flatten,
    grouping_key,
    log_document,
    lookup,
    metric_document,
    span_document,
    to_nested,
    transaction_document,
)

SERVICE = ServiceInfo("gateway", "1.2.3", "production", "web-1", "agent-7")
COMMON = {"@timestamp", "service.name", "service.version", "service.environment", "host.name", "agent.id",
          "event.dataset"}


def build_all() -> dict[str, dict]:
    with transaction("GET /orders/{id}") as tx:
        with span("redis GET") as sp:
            return {
                "logs": log_document(SERVICE, "order loaded", "INFO", "orders"),
                "transactions": transaction_document(SERVICE, "GET /orders/{id}", "request", tx, duration_ns=5_000_000,
                                                     http={"response.status_code": 200}),
                "spans": span_document(SERVICE, "redis GET", "cache", sp, duration_ns=200_000),
                "metrics": metric_document(SERVICE, {"system.cpu.total.pct": 0.25}),
                "errors": error_document(SERVICE, "KeyError", "'id'", 'File "app.py", line 3, in get'),
                "changes": change_event(SERVICE, "deployment-finished", "alice", target="gateway", old="1.2.2",
                                        new="1.2.3"),
            }


def test_every_kind_carries_the_common_fields():
    docs = build_all()
    assert set(docs) == set(KINDS)
    for kind, doc in docs.items():
        missing = COMMON - set(flatten(doc))
        assert not missing, f"{kind} lacks {missing}"


def test_documents_inside_a_transaction_carry_its_ids_without_being_passed_them():
    with transaction("job") as tx:
        with span("db query") as sp:
            flat = flatten(log_document(SERVICE, "inside"))
    assert flat["trace.id"] == tx.trace_id
    assert flat["transaction.id"] == tx.transaction_id
    assert flat["span.id"] == sp.span_id
    assert "trace" not in log_document(SERVICE, "outside")


def test_span_documents_point_at_their_parent():
    docs = flatten(build_all()["spans"])
    assert docs["parent.id"] == docs["transaction.id"]
    assert docs["event.duration"] == 200_000


def test_timestamps_are_utc_iso8601():
    doc = log_document(SERVICE, "x", at=datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=timezone.utc))
    assert doc["@timestamp"] == "2026-01-02T03:04:05.006000Z"


def test_change_events_keep_old_and_new_as_json_and_say_who():
    flat = flatten(change_event(SERVICE, "config-changed", "bob", target="prod/gateway/ttl",
                                old={"ttl": 30}, new={"ttl": 60}, comment="longer cache"))
    assert (flat["event.category"], flat["event.type"], flat["event.action"]) == ("configuration", "change",
                                                                                  "config-changed")
    assert flat["user.name"] == "bob"
    assert json.loads(flat["change.new"]) == {"ttl": 60}
    with pytest.raises(ValueError, match="action"):
        change_event(SERVICE, "", "bob", target="x")


def test_nesting_and_flattening_are_inverse_and_conflicts_are_refused():
    flat = {"a.b": 1, "a.c.d": "x", "e": True}
    assert flatten(to_nested(flat)) == flat
    with pytest.raises(ValueError, match="conflicts"):
        to_nested({"a": 1, "a.b": 2})
    with pytest.raises(ValueError, match="conflicts"):
        to_nested({"a.b": 2, "a": 1})


def test_nesting_keeps_labels_one_level_and_merges_nested_input():
    assert to_nested({"labels.shard.id": "2", "labels": {"zone.name": "a"}, "log": {"file.path": "/x"},
                      "log.level": "info", "gone": None}) == \
        {"labels": {"shard.id": "2", "zone.name": "a"}, "log": {"file": {"path": "/x"}, "level": "info"}}
    doc = log_document(SERVICE, "x", labels={"shard.id": "2"}, ids=None)
    assert doc["labels"] == {"shard.id": "2"} and lookup(doc, "labels.shard.id") == "2"
    assert flatten(doc)["labels.shard.id"] == "2" and to_nested(flatten(doc)) == doc


def test_levels_are_canonical_whoever_names_them():
    for names, level in ((("WARN", "warn", "Warning", " WARNING "), "warning"), (("FATAL", "CRITICAL", 50), "critical"),
                         (("TRACE", "debug", 10, 5), "debug"), (("NOTICE", "info", 20), "info"),
                         (("ERROR", "err", 40, 45), "error")):
        for name in names:
            assert log_level(name) == level, name
            assert log_document(SERVICE, "x", name)["log"]["level"] == level
    assert log_level("Level 7") == "level 7"  # a custom level keeps its name
    assert LEVELS == ("debug", "info", "warning", "error", "critical")
    assert set(level_spellings("warning")) == {"warning", "warn"} and level_spellings("error")[0] == "error"


def test_lookup_reads_nested_fields_and_misses_quietly():
    doc = log_document(SERVICE, "x", "info", "orders", ids=None)
    assert lookup(doc, "log.logger") == "orders" and lookup(doc, "service.name") == "gateway"
    assert lookup(doc, "log.level.more") is None and lookup(doc, "trace.id") is None


def test_document_ids_are_deterministic():
    docs = build_all()
    for kind, doc in docs.items():
        assert document_id(kind, doc) == document_id(kind, json.loads(json.dumps(doc)))
    assert document_id("spans", docs["spans"]) == flatten(docs["spans"])["span.id"]
    line = {"agent": {"id": "a"}, "host": {"name": "h"}, "log": {"file": {"fingerprint": "f"}, "offset": 10},
            "message": "x"}
    moved = dict(line, message="same position, same id")
    assert document_id("logs", line) == document_id("logs", moved)
    assert document_id("logs", line) != document_id("logs", {**line, "log": {"file": {"fingerprint": "f"},
                                                                            "offset": 11}})


def test_grouping_ignores_line_numbers_but_not_frames():
    a = 'Traceback:\n  File "app.py", line 10, in get\n  File "db.py", line 5, in load'
    b = 'Traceback:\n  File "app.py", line 12, in get\n  File "db.py", line 7, in load'
    c = 'Traceback:\n  File "app.py", line 10, in get\n  File "cache.py", line 5, in load'
    assert grouping_key("KeyError", a) == grouping_key("KeyError", b)
    assert grouping_key("KeyError", a) != grouping_key("KeyError", c)
    assert grouping_key("KeyError", a) != grouping_key("ValueError", a)
