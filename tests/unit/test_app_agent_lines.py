"""The app agent's hand-written ECS lines are the documents the telemetry builders make; its Sentry set-up."""
from __future__ import annotations

import json
import logging
import os
import time
from datetime import datetime, timezone

import pytest
import sentry_sdk
from flask import Flask
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from sentry_sdk.transport import Transport

from agents.app import AppAgent
from agents.app.errors import init_sentry
from agents.app.logs import EcsJsonFormatter
from agents.app.writer import ENCODER_SETTING, BatchLineWriter
from foundation.waiting import wait_until
from telemetry.context import TraceIds, span, transaction
from telemetry.ecs import LogOrigin, ServiceInfo, flatten, log_document, span_document, transaction_document

SERVICE = ServiceInfo("orders", "2.1.0", "test", "host-7", agent_id="agent-3")


@pytest.fixture(autouse=True, params=["process", "thread"])
def lines_made_in(request, monkeypatch):
    """Every test here runs with the lines made by the line encoder process and on the writer thread."""
    monkeypatch.setenv(ENCODER_SETTING, request.param)
    return request.param


def lines(path) -> list[dict]:
    return [flatten(json.loads(line)) for line in path.read_text().splitlines()]


def test_span_and_transaction_lines_match_the_builders(tmp_path):
    agent = AppAgent(SERVICE, tmp_path).start()
    try:
        with transaction("GET /orders/<id>", traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                         attributes={"http.request.method": "GET", "url.path": "/orders/7",
                                     "labels.tenant": "a \"quoted\" name"}):
            with span("shard-1 SELECT", kind=SpanKind.CLIENT, attributes={"span.type": "db", "labels.shard": "1"}):
                pass
            with span("redis GET \u00e9"):
                pass
    finally:
        agent.shutdown()
    docs = {d["span.name"] if "span.name" in d else d["transaction.name"]: d for d in lines(agent.span_file)}
    tx = docs["GET /orders/<id>"]
    ids = TraceIds(tx["trace.id"], tx["transaction.id"], tx["span.id"], "00f067aa0ba902b7")
    assert agent.service.host and agent.service.pid  # the agent adds this host's and process's details
    expected = flatten(transaction_document(agent.service, "GET /orders/<id>", "request", ids,
                                            duration_ns=tx["event.duration"], at=tx["@timestamp"],
                                            http={"request.method": "GET"}, url={"path": "/orders/7"},
                                            labels={"tenant": 'a "quoted" name'}))
    assert tx == {**expected, "_kind": "transactions"}

    for name, type_, labels in (("shard-1 SELECT", "db", {"shard": "1"}), ("redis GET \u00e9", "custom", None)):
        doc = docs[name]
        ids = TraceIds(tx["trace.id"], tx["transaction.id"], doc["span.id"], tx["span.id"])
        expected = flatten(span_document(agent.service, name, type_, ids, duration_ns=doc["event.duration"],
                                         at=doc["@timestamp"], labels=labels))
        assert doc == {**expected, "_kind": "spans"}


def test_a_failed_span_is_a_failure(tmp_path):
    agent = AppAgent(SERVICE, tmp_path).start()
    try:
        with transaction("job recompute", kind=SpanKind.CONSUMER):
            try:
                with span("shard-0 UPSERT"):
                    raise OSError("disk full")
            except OSError:
                pass
    finally:
        agent.shutdown()
    docs = {d.get("span.name") or d["transaction.name"]: d for d in lines(agent.span_file)}
    assert docs["shard-0 UPSERT"]["event.outcome"] == "failure"
    assert docs["job recompute"]["event.outcome"] == "success"
    assert docs["job recompute"]["transaction.type"] == "job"


def test_log_lines_match_the_builder(tmp_path):
    record = logging.LogRecord("orders.db", logging.WARNING, __file__, 1, "slow \"%s\" \u00e9", ("query",), None)
    record.created = 1_700_000_000.123456
    with transaction("GET /x") as ids:
        line = flatten(json.loads(EcsJsonFormatter(SERVICE).format(record)))
    expected = flatten(log_document(SERVICE, 'slow "query" \u00e9', "WARNING", "orders.db",
                                    at=datetime.fromtimestamp(record.created, timezone.utc), ids=ids,
                                    origin=LogOrigin(record.filename, 1, record.funcName or "", record.thread,
                                                     record.threadName)))
    assert line == {**expected, "_kind": "logs"}


def test_logged_errors_carry_their_stack(tmp_path):
    agent = AppAgent(SERVICE, tmp_path).start()
    try:
        try:
            raise KeyError("order-9")
        except KeyError:
            logging.getLogger("orders").exception("lookup failed")
    finally:
        agent.shutdown()
    (doc,) = [d for d in lines(agent.log_file) if d["message"] == "lookup failed"]
    assert doc["error.type"] == "KeyError" and doc["error.message"] == "'order-9'"
    assert "raise KeyError" in doc["error.stack_trace"] and doc["log.level"] == "error"


def test_the_writer_keeps_good_items_next_to_a_bad_one(tmp_path):
    writer = BatchLineWriter(tmp_path / "out.jsonl", lambda item: json.dumps({"n": 1 / item}).encode(), interval=60)
    try:
        for item in (1, 0, 2):
            writer.submit(item)
        writer.flush()
        assert [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()] == \
            [{"n": 1.0}, {"n": 0.5}]
    finally:
        writer.close()


def test_error_status_without_exception_is_a_failure(tmp_path):
    agent = AppAgent(SERVICE, tmp_path).start()
    try:
        with transaction("GET /y"):
            with span("call") as ids:
                trace.get_current_span().set_status(StatusCode.ERROR)
    finally:
        agent.shutdown()
    (doc,) = [d for d in lines(agent.span_file) if d.get("span.id") == ids.span_id]
    assert doc["event.outcome"] == "failure"


class _KeptEnvelopes(Transport):
    """sentry-sdk's transport interface, keeping what would be sent."""

    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope) -> None:
        self.envelopes.append(envelope)


def test_unhandled_flask_errors_reach_sentry_under_the_gtx_and_nothing_per_request_is_hooked(tmp_path):
    kept = _KeptEnvelopes()
    agent = AppAgent(SERVICE, tmp_path).start()
    error_log_handler = init_sentry("http://key@127.0.0.1:9/1", SERVICE, transport=kept)
    try:
        app = Flask("orders")

        @app.get("/boom")
        def boom():
            raise LookupError("no such shard")

        @app.get("/complain")
        def complain():
            logging.getLogger("orders").info("an info record is no event")
            logging.getLogger("orders").error("shard %d is read-only", 3)
            return "ok"

        agent.instrument_flask(app)
        response = app.test_client().get("/boom")
        sentry_sdk.flush()
        assert response.status_code == 500
        events = [item.payload.json for envelope in kept.envelopes for item in envelope.items
                  if item.type == "event"]
        assert [e["tags"]["trace.id"] for e in events] == [response.headers["X-Trace-Id"]]
        assert events[0]["exception"]["values"][-1]["type"] == "LookupError"
        hooked = set(sentry_sdk.get_client().integrations)
        assert not hooked & {"flask", "redis", "stdlib", "sqlite3", "logging"}, hooked
        assert "threading" in hooked

        # an ERROR log record is an event too, under its request's GTX; lower records are not
        kept.envelopes.clear()
        response = app.test_client().get("/complain")
        sentry_sdk.flush()
        events = [item.payload.json for envelope in kept.envelopes for item in envelope.items
                  if item.type == "event"]
        assert [(e["logentry"]["formatted"], e["level"], e["tags"]["trace.id"]) for e in events] == \
            [("shard 3 is read-only", "error", response.headers["X-Trace-Id"])]
    finally:
        logging.getLogger().removeHandler(error_log_handler)
        sentry_sdk.get_client().close()
        agent.shutdown()


def test_a_forked_child_writes_its_own_lines(tmp_path):
    writer = BatchLineWriter(tmp_path / "out.jsonl", str.encode, interval=0.05)
    try:
        pid = os.fork()
        if pid == 0:  # the child: its lines must reach the file without an explicit flush
            writer.submit("from-child")
            time.sleep(0.5)
            os._exit(0)
        os.waitpid(pid, 0)
        assert (tmp_path / "out.jsonl").read_text().splitlines() == ["from-child"]
    finally:
        writer.close()


def test_the_writer_writes_soon_while_busy_and_rests_while_idle(tmp_path, monkeypatch):
    writer = BatchLineWriter(tmp_path / "out.jsonl", str.encode, interval=0.02, idle_interval=0.4)
    flushes = []
    original_write_pending = writer.write_pending
    monkeypatch.setattr(writer, "write_pending", lambda: flushes.append(time.monotonic()) or original_write_pending())
    try:
        writer.submit("first")
        wait_until(lambda: (tmp_path / "out.jsonl").read_text(), timeout=2, interval=0.01, what="the first line")
        assert (tmp_path / "out.jsonl").read_text() == "first\n"
        flushes.clear()
        time.sleep(1.5)  # idle: the waits double to 0.4 s, so a handful of wake-ups, not 75
        assert 2 <= len(flushes) <= 8, len(flushes)
    finally:
        writer.close()


def test_attribute_fields_nest_by_dot_and_keep_labels_flat():
    from agents.app.encoding import LineEncoder

    encoder = LineEncoder(SERVICE)
    attributes = {"http.request.method": "GET", "labels.a.b": 1, "url.path": "/x", "span.type": "db",
                  "http.response.status_code": 200}
    fields = encoder.attribute_fields(attributes, ("labels.", "http.", "url."))
    assert json.loads(b"{" + fields[1:] + b"}") == {
        "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
        "labels": {"a.b": 1}, "url": {"path": "/x"}}
    again = encoder.attribute_fields({**attributes, "url.path": "/y \"q\""}, ("labels.", "http.", "url."))
    assert json.loads(b"{" + again[1:] + b"}")["url"] == {"path": '/y "q"'}  # same keys: new values
    assert encoder.attribute_fields({"span.type": "db"}, ("labels.",)) == b""


def test_an_attribute_that_clashes_with_another_is_left_out_and_the_line_kept(tmp_path, caplog, capfd):
    agent = AppAgent(SERVICE, tmp_path).start()
    try:
        with transaction("GET /b", attributes={"http.a": 1, "http.a.b": 2, "url.path": "/b"}):
            pass
    finally:
        agent.shutdown()
    (doc,) = lines(agent.span_file)
    assert doc["transaction.name"] == "GET /b" and doc["http.a"] == 1 and doc["url.path"] == "/b"
    assert "http.a.b" not in doc
    assert "'http.a.b' left out" in caplog.text + capfd.readouterr().err  # the encoder process's stderr is the service's


def test_writers_with_the_same_intervals_share_one_thread_and_each_writes_its_own_file(tmp_path):
    spans = BatchLineWriter(tmp_path / "spans.jsonl", str.encode, interval=0.03)
    logs = BatchLineWriter(tmp_path / "logs.jsonl", str.encode, interval=0.03)
    try:
        assert spans._thread is logs._thread  # one wake-up serves both files
        spans.submit("a span")
        logs.submit("a log line")
        wait_until(lambda: (tmp_path / "spans.jsonl").read_text() and (tmp_path / "logs.jsonl").read_text(),
                   timeout=2, interval=0.01, what="a line in each file")
        assert (tmp_path / "spans.jsonl").read_text() == "a span\n"
        assert (tmp_path / "logs.jsonl").read_text() == "a log line\n"
    finally:
        spans.close()
    assert logs._thread._thread.is_alive()  # the other writer still has its thread
    logs.submit("after the first closed")
    logs.close()
    assert not logs._thread._thread.is_alive()
    assert (tmp_path / "logs.jsonl").read_text().splitlines() == ["a log line", "after the first closed"]


def test_a_writer_that_falls_behind_keeps_the_newest_lines_and_says_so(tmp_path, caplog):
    writer = BatchLineWriter(tmp_path / "out.jsonl", str.encode, interval=60, max_pending=3)
    try:
        for item in "abcde":
            writer.submit(item)
        with caplog.at_level(logging.WARNING, logger="agents.app.writer"):
            writer.flush()
        assert (tmp_path / "out.jsonl").read_text().splitlines() == ["c", "d", "e"]
        assert "could not keep up" in caplog.text
    finally:
        writer.close()


def test_a_transaction_id_that_is_not_hex_is_escaped_in_span_and_log_lines(tmp_path):
    from agents.app.encoding import LineEncoder
    from agents.app.logs import LogEntry, log_line
    agent = AppAgent(SERVICE, tmp_path).start()
    try:
        with transaction("GET /z"):  # a span started with its own transaction.id keeps it
            agent.provider.get_tracer("t").start_span("call", attributes={"transaction.id": 'made "by hand"\n'}).end()
    finally:
        agent.shutdown()
    (doc,) = [d for d in lines(agent.span_file) if d.get("span.name") == "call"]
    assert doc["transaction.id"] == 'made "by hand"\n'
    entry = LogEntry(time.time(), "m", "INFO", "orders", 1, 2, 'also "odd"', None, None)
    assert json.loads(log_line(entry, LineEncoder(SERVICE)))["transaction"]["id"] == 'also "odd"'
    entry = entry._replace(transaction_id="00f067aa0ba902b7")
    assert json.loads(log_line(entry, LineEncoder(SERVICE)))["transaction"]["id"] == "00f067aa0ba902b7"
