"""Pure conversions: Sentry envelopes, OTLP exports and trace trees."""
from __future__ import annotations

import json
import time

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from collector.otlp import OtlpError, log_actions, parse, span_actions
from collector.sentry import SentryError, envelope_actions, parse_envelope, sentry_key
from collector.traces import build_tree, render_tree, valid_gtx

GTX = "4bf92f3577b34da6a3ce929d0e0e4736"
NOW_NS = time.time_ns() // 1_000_000_000 * 1_000_000_000  # a whole second, inside the accepted window


def _envelope(*items: tuple[dict, bytes], header: dict | None = None) -> bytes:
    parts = [json.dumps(header or {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc"}).encode()]
    for item_header, payload in items:
        parts += [json.dumps(item_header).encode(), payload]
    return b"\n".join(parts) + b"\n"


def test_envelope_items_with_and_without_length() -> None:
    event = json.dumps({"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "timestamp": NOW_NS / 1e9,
                        "exception": {"values": [{"type": "KeyError", "value": "'x'"}]},
                        "contexts": {"trace": {"trace_id": GTX, "span_id": "00f067aa0ba902b7"}}}).encode()
    payload_with_newline = b'{"a":\n1}'
    data = _envelope(({"type": "attachment", "length": len(payload_with_newline)}, payload_with_newline),
                     ({"type": "event"}, event), ({"type": "session"}, b'{"sid": "x"}'))
    _header, items = parse_envelope(data)
    assert [item[0]["type"] for item in items] == ["attachment", "event", "session"]
    assert items[0][1] == payload_with_newline
    result = envelope_actions(data, "1")
    assert result.event_id == "9ec79c33ec9942ab8353589fcb2e04dc" and not result.failed and not result.dropped
    [action] = result.actions  # only the event is stored
    assert action.id == "9ec79c33ec9942ab8353589fcb2e04dc" and action.index.startswith("oam-errors-")
    assert action.source["trace"]["id"] == GTX and action.source["error"]["type"] == "KeyError"


def test_an_unreadable_envelope_is_a_400_and_an_unreadable_event_is_named() -> None:
    with pytest.raises(SentryError) as bad:
        envelope_actions(b'not json\n{"type": "event"}\n{}\n', "1")
    assert bad.value.status == 400 and "envelope header" in str(bad.value)
    result = envelope_actions(b'{}\n{"type": "event"}\nnot json\n', "1")
    assert result.actions == [] and result.failed[0].startswith("item 1: invalid JSON")


def test_sentry_key_from_header_or_query() -> None:
    assert sentry_key("Sentry sentry_version=7, sentry_key=abc123, sentry_client=sentry.python/2.0", None) == "abc123"
    assert sentry_key(None, "def") == "def" and sentry_key(None, None) is None


def test_otlp_parent_child_become_transaction_and_spans_of_it() -> None:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for span_id, parent, name in (("01" * 8, "", "GET /"), ("02" * 8, "01" * 8, "db"), ("03" * 8, "02" * 8, "row")):
        span = spans.add(trace_id=bytes.fromhex(GTX), span_id=bytes.fromhex(span_id), name=name,
                         start_time_unix_nano=NOW_NS, end_time_unix_nano=NOW_NS + 5_000_000)
        if parent:
            span.parent_span_id = bytes.fromhex(parent)
    message, unreadable = parse(ExportTraceServiceRequest, request.SerializeToString(), "application/x-protobuf")
    export = span_actions(message)
    assert unreadable == [] and export.rejected == []
    actions = export.actions
    kinds = [action.index.split("-")[1] for action in actions]
    assert kinds == ["transactions", "spans", "spans"]
    assert [action.source["transaction"]["id"] for action in actions] == ["01" * 8] * 3
    assert actions[2].source["span"] == {"id": "03" * 8, "name": "row", "type": "internal"}
    assert actions[0].source["event"]["duration"] == 5_000_000


def test_otlp_log_levels_are_canonical() -> None:
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    cases = [("WARN", 13, "warning"), ("", 14, "warning"), ("", 21, "critical"), ("FATAL", 0, "critical"),
             ("", 1, "debug"), ("", 0, "info"), ("Information", 9, "info"), ("Level 7", 5, "level 7")]
    for text, number, _ in cases:
        record = records.add(time_unix_nano=NOW_NS, severity_text=text, severity_number=number)
        record.body.string_value = "x"
    levels = [action.source["log"]["level"] for action in log_actions(request).actions]
    assert levels == [level for _, _, level in cases]


def test_otlp_bad_content_type_is_a_415_and_a_span_with_bad_ids_is_rejected_alone() -> None:
    with pytest.raises(OtlpError) as media:
        parse(ExportTraceServiceRequest, b"", "text/plain")
    assert media.value.status == 415
    good = {"traceId": GTX, "spanId": "01" * 8, "name": "good", "startTimeUnixNano": str(NOW_NS)}
    message, unreadable = parse(ExportTraceServiceRequest, json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "zz", "spanId": "01", "name": "bad"}, good]}]}]}).encode(), "application/json")
    assert len(unreadable) == 1 and unreadable[0].startswith("span 1 'bad': traceId 'zz' is not hex")
    [action] = span_actions(message).actions
    assert action.source["transaction"]["name"] == "good" and action.id == "01" * 8


def test_tree_orders_children_by_time_and_attaches_logs_and_errors() -> None:
    hits = [
        ("transactions", {"@timestamp": "2026-11-24T10:00:00Z", "transaction": {"id": "t1", "name": "GET /"},
                          "span": {"id": "t1"}, "event": {"duration": 9_000_000}}),
        ("spans", {"@timestamp": "2026-11-24T10:00:00.300Z", "span": {"id": "s2", "name": "second"},
                   "parent": {"id": "t1"}}),
        ("spans", {"@timestamp": "2026-11-24T10:00:00.100Z", "span": {"id": "s1", "name": "first"},
                   "parent": {"id": "t1"}}),
        ("errors", {"@timestamp": "2026-11-24T10:00:00.350Z", "error": {"type": "E", "message": "boom"},
                    "span": {"id": "s2"}}),
        ("logs", {"@timestamp": "2026-11-24T10:00:00.050Z", "message": "hello", "log": {"level": "info"},
                  "transaction": {"id": "t1"}, "span": {"id": "unknown"}}),
        ("spans", {"@timestamp": "2026-11-24T10:00:01Z", "span": {"id": "orphan", "name": "orphan"},
                   "parent": {"id": "elsewhere"}}),
    ]
    roots = build_tree(hits)
    assert [root["name"] for root in roots] == ["GET /", "orphan"]
    assert [child["name"] for child in roots[0]["children"]] == ["[info] hello", "first", "second"]
    assert roots[0]["children"][2]["children"][0]["name"] == "E: boom"
    assert roots[0]["duration_ms"] == 9.0
    lines = render_tree({"trace_id": GTX, "counts": {"spans": 3}, "roots": roots})
    assert lines[1].startswith("├─ transaction: GET /") and lines[-1].startswith("└─ span: orphan")


def test_gtx_validation() -> None:
    assert valid_gtx(GTX)
    assert not valid_gtx(GTX.upper()) and not valid_gtx("0" * 32) and not valid_gtx(GTX[:-1])
