"""Input limits at every collector door: depth, size, code points, timestamp window, Sentry field types."""
from __future__ import annotations

import gzip
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from collector.limits import InputLimits, LimitError, json_depth, replace_lone_surrogates
from collector.sentry_event import SentryError, read_event
from telemetry.ecs import timestamp

DEEP = '{"x": ' + "[" * 2000 + "]" * 2000 + "}"
GTX = "4bf92f3577b34da6a3ce929d0e0e4736"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _line(marker: str, **fields: object) -> str:
    return json.dumps({"_kind": "logs", "_id": marker, "@timestamp": timestamp(), "message": marker, **fields})


def _ingest(app, *lines: str):
    return app.client.post("/v1/ingest", data=gzip.compress("\n".join(lines).encode()),
                           headers={**_auth(app.token), "Content-Encoding": "gzip"})


def _delivered(app, doc_id: str) -> list[dict]:
    return [action.source for action in app.sink.delivered if action.id == doc_id]


def test_depth_is_measured_without_recursion_and_refused_past_the_limit() -> None:
    bounds = InputLimits(max_json_depth=3).at()
    assert json_depth(json.loads("[[[1]]]")) == 3 and json_depth(7) == 0 and json_depth({"a": []}) == 2
    assert bounds.loads(b'{"a": [[1]], "b": [2], "c": {"d": 3}}') == {"a": [[1]], "b": [2], "c": {"d": 3}}
    with pytest.raises(LimitError, match="nested deeper than 3 levels"):
        bounds.loads(b'{"a": [[[1]]], "b": [], "c": [], "d": {}}')
    with pytest.raises(LimitError, match="nested deeper than 64 levels"):
        InputLimits().at().loads(DEEP.encode(), "line")  # past orjson's own 1024 as well


def test_a_lone_surrogate_escape_becomes_the_replacement_character_and_pairs_stay() -> None:
    bounds = InputLimits().at()
    assert bounds.loads(rb'{"m": "a \ud800 b \udfff", "\udc00k": 1}') == {"m": "a \ufffd b \ufffd", "\ufffdk": 1}
    assert bounds.loads(rb'{"m": "\ud83d\ude00 \\ud800"}') == {"m": "\U0001F600 \\ud800"}  # a pair; an escaped "\"
    assert replace_lone_surrogates(rb'"\ud800\u0041"') == rb'"\ufffd\u0041"'
    with pytest.raises(LimitError, match="invalid JSON"):
        bounds.loads(b'{"m": "\xed\xa0\x80"}')  # raw surrogate bytes are not UTF-8, so not JSON text


def test_the_window_is_days_back_and_seconds_ahead_of_receipt() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    bounds = InputLimits(max_age_days=7, max_ahead_seconds=3600).at(now)
    bounds.check_time(now - timedelta(days=7), "@timestamp")
    bounds.check_time(now + timedelta(hours=1), "@timestamp")
    with pytest.raises(LimitError, match=r"@timestamp 2026-11-24T11:59:59Z is outside the accepted window "
                                         r"2026-11-24T12:00:00Z \.\. 2026-12-01T13:00:00Z"):
        bounds.check_time(now - timedelta(days=7, seconds=1), "@timestamp")
    with pytest.raises(LimitError):
        bounds.check_time(now + timedelta(hours=1, seconds=1), "@timestamp")


@pytest.mark.parametrize("bad, problem", [
    (DEEP, "line is nested deeper than 64 levels"),
    (json.dumps({"_kind": "logs", "@timestamp": "2554-07-21T00:00:00Z", "message": "future"}), "outside the accepted"),
    (json.dumps({"_kind": "logs", "@timestamp": 0, "message": "1970"}), "outside the accepted window"),
    (json.dumps({"_kind": "logs", "@timestamp": timestamp(), "message": "x" * (1 << 20)}), "over the limit"),
])
def test_a_bad_ingest_line_is_named_and_its_good_neighbour_delivered(collector_app, bad: str, problem: str) -> None:
    answer = _ingest(collector_app, _line("good-before"), bad, _line("good-after"))
    assert answer.status_code == 400
    assert answer.json["accepted"] == 2 and answer.json["failed"][0]["line"] == 2
    assert problem in answer.json["failed"][0]["error"] and problem in answer.json["error"]
    assert _delivered(collector_app, "good-before") and _delivered(collector_app, "good-after")


def test_a_surrogate_in_a_line_is_delivered_replaced(collector_app) -> None:
    line = _line("surrogate").replace('"message": "surrogate"', r'"message": "a \ud800 b"')
    answer = _ingest(collector_app, line)
    assert answer.status_code == 200, answer.json
    [doc] = _delivered(collector_app, "surrogate")
    assert doc["message"] == "a \ufffd b"
    json.dumps(doc, ensure_ascii=False).encode("utf-8")  # encodable: no surrogate left


@pytest.mark.parametrize("event, field", [
    ({"exception": {"values": "abc"}}, "exception.values"),
    ({"exception": {"values": [1]}}, "exception.values.0"),
    ({"timestamp": 1e300}, "timestamp"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"timestamp": 1.0}, "timestamp"),  # 1970: outside the window
])
def test_a_malformed_core_field_of_a_sentry_event_is_a_400_naming_it(collector_app, event: dict, field: str) -> None:
    answer = collector_app.client.post("/api/1/store/", json=event,
                                       headers={"X-Sentry-Auth": f"Sentry sentry_key={collector_app.token}"})
    assert answer.status_code == 400 and answer.json["error"].startswith(f"event field {field}")


@pytest.mark.parametrize("event, dropped", [
    ({"contexts": "x"}, "contexts"),
    ({"contexts": {"trace": "x"}}, "contexts.trace"),
    ({"tags": "x"}, "tags"),
    ({"logentry": 5}, "logentry"),
    ({"event_id": "not-an-id"}, "event_id"),
])
def test_a_malformed_descriptive_field_is_dropped_and_the_event_kept(collector_app, event: dict, dropped: str) -> None:
    event = {"exception": {"values": [{"type": "KeyError", "value": "k"}]}, "timestamp": time.time(), **event}
    answer = collector_app.client.post("/api/1/store/", json=event,
                                       headers={"X-Sentry-Auth": f"Sentry sentry_key={collector_app.token}"})
    assert answer.status_code == 200, answer.json
    assert answer.json["dropped"][0].startswith(f"{dropped}: ")
    [doc] = _delivered(collector_app, answer.json["id"])
    assert doc["error"]["type"] == "KeyError" and doc["labels"]["sentry_dropped"].startswith(f"{dropped}: ")


def test_sentry_accepts_what_older_sdks_send() -> None:
    event, dropped = read_event({"logentry": "plain text", "exception": [{"type": "E", "value": 42}],
                                 "tags": [["trace.id", GTX]], "event_id": "9EC79C33-EC99-42AB-8353-589FCB2E04DC"})
    assert dropped == []
    assert event.logentry.formatted == "plain text" and event.exception.values[0].value == "42"
    assert event.tags == {"trace.id": GTX} and event.event_id == "9ec79c33ec9942ab8353589fcb2e04dc"
    with pytest.raises(SentryError, match="not a JSON object"):
        read_event([1])


def test_an_envelope_keeps_its_good_event_and_names_the_bad_one(collector_app) -> None:
    good = json.dumps({"event_id": "ab" * 16, "timestamp": time.time(), "message": "fine"})
    data = "\n".join(['{"event_id": "' + "ab" * 16 + '"}', '{"type": "event"}', DEEP, '{"type": "event"}', good])
    answer = collector_app.client.post("/api/1/envelope/", data=data.encode(),
                                       headers={"X-Sentry-Auth": f"Sentry sentry_key={collector_app.token}"})
    assert answer.status_code == 400 and answer.json["accepted"] == 1
    assert answer.json["failed"] == ["item 1: event is nested deeper than 64 levels (max_json_depth)"]
    assert _delivered(collector_app, "ab" * 16)[0]["error"]["message"] == "fine"


def _otlp_span(span_id: str, start: int, name: str) -> dict:
    return {"traceId": GTX, "spanId": span_id, "name": name, "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start)}


def test_otlp_json_answers_partial_success_for_far_future_and_too_deep_spans(collector_app) -> None:
    now = time.time_ns()
    deep = _otlp_span("03" * 8, now, "deep")
    deep["attributes"] = [{"key": "k", "value": json.loads("[" * 80 + "]" * 80)}]
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [
        _otlp_span("01" * 8, now, "good"), _otlp_span("02" * 8, 18446744073709551615, "future"), deep]}]}]}
    answer = collector_app.client.post("/v1/traces", json=body, headers=_auth(collector_app.token))
    assert answer.status_code == 200
    partial = answer.json["partialSuccess"]
    assert partial["rejectedSpans"] == 2
    assert "span 3 'deep': it is nested deeper than 64 levels" in partial["errorMessage"]
    assert "'future' (0202020202020202): @timestamp 2554-07-21" in partial["errorMessage"]
    [good] = _delivered(collector_app, "01" * 8)
    assert good["transaction"]["name"] == "good"
    assert not any(action.index.endswith("2554.07.21") for action in collector_app.sink.delivered)


def test_otlp_protobuf_answers_partial_success_in_its_response_message(collector_app) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
    )

    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    records.add(time_unix_nano=time.time_ns()).body.string_value = "kept"
    records.add(time_unix_nano=18446744073709551615).body.string_value = "far future"
    answer = collector_app.client.post("/v1/logs", data=request.SerializeToString(),
                                       headers={**_auth(collector_app.token), "Content-Type": "application/x-protobuf"})
    assert answer.status_code == 200
    response = ExportLogsServiceResponse.FromString(answer.data)
    assert response.partial_success.rejected_log_records == 1
    assert response.partial_success.error_message.startswith("log record 2: @timestamp 2554-07-21")
    assert any(action.source.get("message") == "kept" for action in collector_app.sink.delivered)


def test_an_otlp_body_that_is_deep_everywhere_is_a_400(collector_app) -> None:
    answer = collector_app.client.post("/v1/traces", data=DEEP, headers={**_auth(collector_app.token),
                                                                          "Content-Type": "application/json"})
    assert answer.status_code == 400 and "nested deeper than 64 levels" in answer.json["error"]


@pytest.mark.parametrize("gtx", [GTX + "%0A", GTX + "%20", GTX.upper(), GTX[:-1], "0" * 32])
def test_a_gtx_that_is_not_exactly_32_lowercase_hex_is_a_400(collector_app, gtx: str) -> None:
    answer = collector_app.client.get(f"/api/traces/{gtx}", headers=_auth(collector_app.read_token))
    assert answer.status_code == 400 and "malformed GTX" in answer.json["error"]
