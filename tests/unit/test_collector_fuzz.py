"""Property-based fuzzing of the collector's decoders and doors: no input gives a 5xx or an exception.

Each decoder gets JSON-shaped input that follows its protocol with hostile values (deep nesting,
lone surrogates, huge numbers, wrong types) and raw bytes. Every case is counted; each test checks
its count and the run prints the totals (``fuzz cases run:`` in the summary).
"""
from __future__ import annotations

import gzip
import json
import time
from urllib.parse import quote

import orjson
from fuzzing import CASES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.decode import decode_ndjson
from collector.otlp import OtlpError, log_request_actions, trace_request_actions
from collector.sentry import SentryError, envelope_actions, store_action

DECODER_CASES = 1500
APP_CASES = 300
FUZZ = settings(max_examples=DECODER_CASES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
NOW = time.time()
GTX = "4bf92f3577b34da6a3ce929d0e0e4736"

# -- strategies -------------------------------------------------------------------------------
surrogate_text = st.text(st.characters(codec=None, categories=None), max_size=20)  # includes lone surrogates
keys = st.one_of(st.sampled_from(["@timestamp", "_kind", "_id", "message", "log.level", "labels", "service",
                                  "a.b", ".", "", "labels.x.y", "trace", "event"]), surrogate_text)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False,
                    allow_infinity=False), surrogate_text, st.sampled_from(["logs", "spans", "errors", "nope"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(keys, inner, max_size=4)), max_leaves=20)
timestamps = st.one_of(st.floats(allow_nan=False), st.integers(-2**64, 2**64),
                       st.sampled_from([NOW, NOW * 1000, 1e300, -1.0, "2026-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59",
                                        "0001-01-01T00:00:00+23:59", "now", ""]), surrogate_text)


def deep(value: str, depth: int) -> str:
    return "[" * depth + value + "]" * depth


def dumps(value: object) -> bytes:
    """JSON text keeping lone surrogates as escapes (as a hostile sender writes them)."""
    return json.dumps(value, ensure_ascii=True).encode()


raw_lines = st.one_of(
    st.builds(dumps, st.fixed_dictionaries({"_kind": st.sampled_from(["logs", "metrics", "x"]), "@timestamp": timestamps},
                                           optional={"_id": json_values, "message": json_values,
                                                     "labels": json_values, "log.level": json_values})),
    st.builds(dumps, json_values),
    st.builds(lambda depth: ('{"_kind": "logs", "x": ' + deep("1", depth) + "}").encode(), st.integers(0, 3000)),
    st.binary(max_size=200),
)


def run_counted(name: str, fuzz, cases: int = DECODER_CASES) -> None:
    """Run the property ``fuzz`` (which counts each case under ``name``) and check it ran them all."""
    before = CASES[name]
    fuzz()
    ran = CASES[name] - before
    assert ran >= cases, f"{name}: {ran} of {cases} cases ran (Hypothesis stopped early)"


def _must_encode(actions: list) -> None:
    """What reaches Elasticsearch is JSON orjson can write: valid UTF-8, no NaN."""
    for action in actions:
        orjson.dumps(action.source)


# -- agent ingest -----------------------------------------------------------------------------
@FUZZ
@given(st.lists(raw_lines, min_size=1, max_size=5))
def _ingest_batches(lines: list[bytes]) -> None:
    CASES["ingest decoder"] += 1
    body = b"\n".join(lines)
    actions, errors = decode_ndjson(body)
    _must_encode(actions)
    assert len(actions) + len(errors) == sum(1 for line in body.split(b"\n") if line.strip())


def test_ingest_decoder_never_raises() -> None:
    run_counted("ingest decoder", _ingest_batches)


# -- Sentry -----------------------------------------------------------------------------------
frames = st.lists(st.one_of(st.dictionaries(st.sampled_from(["module", "function", "lineno", "in_app", "filename",
                                                             "context_line", "abs_path"]), json_values), json_values),
                  max_size=3)
exception_values = st.lists(st.one_of(st.fixed_dictionaries({}, optional={
    "type": json_values, "value": json_values, "stacktrace": st.one_of(st.fixed_dictionaries({"frames": frames}),
                                                                       json_values)}), json_values), max_size=3)
sentry_events = st.fixed_dictionaries({}, optional={
    "event_id": st.one_of(st.just("9ec79c33ec9942ab8353589fcb2e04dc"), json_values),
    "timestamp": st.one_of(st.just(NOW), timestamps, json_values),
    "exception": st.one_of(st.fixed_dictionaries({"values": exception_values}), exception_values, json_values),
    "logentry": json_values, "message": json_values, "tags": json_values, "level": json_values,
    "release": json_values, "server_name": json_values, "logger": json_values, "environment": json_values,
    "contexts": st.one_of(st.fixed_dictionaries({"trace": st.one_of(st.fixed_dictionaries(
        {"trace_id": st.one_of(st.just(GTX), json_values), "span_id": json_values}), json_values)}), json_values),
})
sentry_bodies = st.one_of(st.builds(dumps, sentry_events), st.builds(dumps, json_values), st.binary(max_size=200),
                          st.builds(lambda depth: ('{"exception": ' + deep("1", depth) + "}").encode(),
                                    st.integers(0, 3000)))
envelopes = st.builds(lambda header, items: b"\n".join([header] + [part for item in items for part in item]),
                      st.one_of(st.just(b'{"event_id": "9ec79c33ec9942ab8353589fcb2e04dc"}'), st.binary(max_size=30)),
                      st.lists(st.tuples(st.sampled_from([b'{"type": "event"}', b'{"type": "event", "length": 3}',
                                                          b'{"type": "session"}', b"[]", b"x"]), sentry_bodies),
                               max_size=3))


@FUZZ
@given(sentry_bodies, envelopes)
def _sentry_events(body: bytes, envelope: bytes) -> None:
    CASES["sentry decoder"] += 1
    for decode, data in ((store_action, body), (envelope_actions, envelope)):
        try:
            result = decode(data, "1")
        except SentryError as exc:
            assert 400 <= exc.status < 500
        else:
            _must_encode(result.actions)


def test_sentry_decoder_never_raises() -> None:
    run_counted("sentry decoder", _sentry_events)


# -- OTLP -------------------------------------------------------------------------------------
nanos = st.one_of(st.just(str(int(NOW * 1e9))), st.integers(0, 2**64 - 1).map(str), json_values)
any_values = st.recursive(st.one_of(st.fixed_dictionaries({"stringValue": surrogate_text}),
                                    st.fixed_dictionaries({"intValue": st.integers(-2**63, 2**63 - 1).map(str)}),
                                    json_values),
                          lambda inner: st.one_of(st.fixed_dictionaries({"arrayValue": st.fixed_dictionaries(
                              {"values": st.lists(inner, max_size=3)})}), st.fixed_dictionaries({"kvlistValue": (
                                  st.fixed_dictionaries({"values": st.lists(st.fixed_dictionaries(
                                      {"key": surrogate_text, "value": inner}), max_size=3)}))})), max_leaves=10)
attributes = st.lists(st.one_of(st.fixed_dictionaries({"key": surrogate_text, "value": any_values}), json_values),
                      max_size=3)
ids = st.one_of(st.just(GTX), st.just("01" * 8), st.text("0123456789abcdefxyz", max_size=34), json_values)
spans = st.fixed_dictionaries({"traceId": ids, "spanId": ids}, optional={
    "parentSpanId": ids, "name": json_values, "kind": json_values, "startTimeUnixNano": nanos,
    "endTimeUnixNano": nanos, "attributes": attributes, "status": json_values})
records = st.fixed_dictionaries({}, optional={"timeUnixNano": nanos, "observedTimeUnixNano": nanos,
                                              "severityNumber": json_values, "severityText": json_values,
                                              "body": any_values, "attributes": attributes, "traceId": ids,
                                              "spanId": ids})
resource = st.fixed_dictionaries({}, optional={"attributes": attributes})
trace_exports = st.fixed_dictionaries({"resourceSpans": st.lists(st.fixed_dictionaries(
    {"resource": resource, "scopeSpans": st.lists(st.fixed_dictionaries({"spans": st.lists(
        st.one_of(spans, json_values), max_size=3)}), max_size=2)}), max_size=2)})
log_exports = st.fixed_dictionaries({"resourceLogs": st.lists(st.fixed_dictionaries(
    {"resource": resource, "scopeLogs": st.lists(st.fixed_dictionaries({"logRecords": st.lists(
        st.one_of(records, json_values), max_size=3)}), max_size=2)}), max_size=2)})


@FUZZ
@given(st.one_of(st.builds(dumps, trace_exports), st.builds(dumps, json_values)),
       st.one_of(st.builds(dumps, log_exports), st.builds(dumps, json_values)), st.binary(max_size=300))
def _otlp_exports(traces: bytes, logs: bytes, protobuf: bytes) -> None:
    CASES["otlp decoder"] += 1
    for decode, data, media in ((trace_request_actions, traces, "application/json"),
                                (log_request_actions, logs, "application/json"),
                                (trace_request_actions, protobuf, "application/x-protobuf"),
                                (log_request_actions, protobuf, "application/x-protobuf")):
        try:
            export = decode(data, media)
        except OtlpError as exc:
            assert 400 <= exc.status < 500
        else:
            _must_encode(export.actions)


def test_otlp_decoder_never_raises() -> None:
    run_counted("otlp decoder", _otlp_exports)


# -- the doors themselves, through the Flask app ----------------------------------------------
def test_no_request_to_any_door_gets_a_5xx(collector_app) -> None:
    sentry_auth = {"X-Sentry-Auth": f"Sentry sentry_key={collector_app.token}"}
    bearer = {"Authorization": f"Bearer {collector_app.token}"}
    reader = {"Authorization": f"Bearer {collector_app.read_token}"}
    paths = st.sampled_from([("/v1/ingest", bearer, "gzip"), ("/api/1/store/", sentry_auth, None),
                             ("/api/1/envelope/", sentry_auth, None), ("/v1/traces", bearer, "json"),
                             ("/v1/logs", bearer, "json"), ("/v1/traces", bearer, "protobuf")])
    bodies = st.one_of(st.lists(raw_lines, max_size=3).map(b"\n".join), sentry_bodies, envelopes,
                       st.builds(dumps, trace_exports), st.builds(dumps, log_exports))

    @settings(FUZZ, max_examples=APP_CASES)
    @given(paths, bodies, st.one_of(st.text(max_size=40), st.just(GTX + "\n"), st.just(GTX.upper())))
    def requests(door: tuple, body: bytes, gtx: str) -> None:
        CASES["collector doors"] += 1
        path, headers, kind = door
        headers = dict(headers)
        if kind == "gzip":
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        elif kind:
            headers["Content-Type"] = {"json": "application/json", "protobuf": "application/x-protobuf"}[kind]
        assert collector_app.client.post(path, data=body, headers=headers).status_code < 500
        # a refusal, or the 308 redirect Werkzeug answers for a path it normalises (never a 5xx)
        answer = collector_app.client.get(f"/api/traces/{quote(gtx, safe='')}", headers=reader)
        assert answer.status_code in (308, 400, 404), (gtx, answer.status_code)

    run_counted("collector doors", requests, APP_CASES)
