"""Sentry envelopes' transaction items become a transaction and its spans; a bad span is left out alone."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from collector.sentry import envelope_actions

GTX = "4bf92f3577b34da6a3ce929d0e0e4736"
NOW = time.time()


def _envelope(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"\n".join([b'{"event_id":"' + b"a" * 32 + b'"}', json.dumps({"type": "transaction",
                                                                        "length": len(body)}).encode(), body])


def test_a_transaction_item_is_a_transaction_and_spans_of_it():
    payload = {"type": "transaction", "transaction": "GET /orders/{id}", "release": "shop@1.4.0",
               "environment": "prod", "server_name": "web-1", "start_timestamp": NOW - 0.5,
               "timestamp": datetime.fromtimestamp(NOW, timezone.utc).isoformat().replace("+00:00", "Z"),
               "contexts": {"trace": {"trace_id": GTX, "span_id": "01" * 8, "parent_span_id": "ff" * 8,
                                      "op": "http.server", "status": "internal_error"}},
               "tags": {"tenant.id": "acme"},
               "spans": [{"span_id": "02" * 8, "parent_span_id": "01" * 8, "op": "db.query",
                          "description": "SELECT orders", "start_timestamp": NOW - 0.4, "timestamp": NOW - 0.3},
                         {"span_id": "zz", "op": "db"}]}
    result = envelope_actions(_envelope(payload), "5")
    assert result.failed == [] and len(result.dropped) == 1 and result.dropped[0].startswith("span 2:")
    tx, span = (action.source for action in result.actions)
    assert result.actions[0].index.startswith("oam-transactions-") and result.actions[1].index.startswith("oam-spans-")
    assert (tx["transaction"], tx["trace"], tx["parent"]) == (
        {"id": "01" * 8, "name": "GET /orders/{id}", "type": "http.server"}, {"id": GTX}, {"id": "ff" * 8})
    assert tx["event"]["outcome"] == "failure" and 4.9e8 < tx["event"]["duration"] < 5.1e8
    assert tx["service"] == {"name": "shop", "version": "1.4.0", "environment": "prod"}
    assert tx["labels"] == {"sentry_project": "5", "tenant_id": "acme"}
    assert (span["span"], span["transaction"], span["parent"]) == (
        {"id": "02" * 8, "name": "SELECT orders", "type": "db"}, {"id": "01" * 8}, {"id": "01" * 8})
    assert span["event"]["outcome"] == "success"


def test_a_transaction_without_trace_ids_is_refused_and_named():
    result = envelope_actions(_envelope({"type": "transaction", "start_timestamp": NOW, "timestamp": NOW}), "5")
    assert result.actions == [] and len(result.failed) == 1 and "contexts.trace" in result.failed[0]


def test_stack_frames_are_kept_and_rendered_as_the_platform_prints_them():
    from collector.sentry import store_action

    frames = [{"filename": "app.js", "function": "main", "lineno": 3, "colno": 5, "in_app": True},
              {"filename": "orders.js", "function": "load", "lineno": 10, "colno": 7, "in_app": True}]

    def stored(platform: str) -> dict:
        event = {"event_id": "b" * 32, "platform": platform, "timestamp": NOW,
                 "exception": {"values": [{"type": "TypeError", "value": "x is undefined",
                                           "stacktrace": {"frames": frames}}]}}
        return store_action(json.dumps(event).encode(), "5").actions[0].source["error"]

    node = stored("node")
    assert node["stack_trace"] == ("TypeError: x is undefined\n    at load (orders.js:10:7)\n"
                                   "    at main (app.js:3:5)")
    assert node["stack_frames"] == frames
    python = stored("python")
    assert python["stack_trace"].splitlines() == ["Traceback (most recent call last):",
                                                  '  File "app.js", line 3, in main',
                                                  '  File "orders.js", line 10, in load', "TypeError: x is undefined"]
