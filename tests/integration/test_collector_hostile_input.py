"""Hostile input against the real collector and Elasticsearch: each attack is refused by name, never a 5xx,
and the good document beside it is indexed."""
from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Iterator

import pytest
import requests
from local_suite import collector_on_own_user

from backing_services.elasticsearch import ElasticsearchServer
from collector.testing import RunningCollector
from telemetry.ecs import timestamp

PREFIX = "oamhostile"
DEEP = '{"x": ' + "[" * 2000 + "]" * 2000 + "}"
GTX = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def running(tmp_path_factory, es_users, es_client) -> Iterator[tuple[RunningCollector, str]]:
    with collector_on_own_user(tmp_path_factory.mktemp("collector"), es_users, es_client, PREFIX, "hostile") as running:
        yield running


@pytest.fixture(autouse=True)
def no_tracebacks(caplog) -> Iterator[None]:
    """The collector logs no error (no traceback of an unexpected exception) for any of these requests."""
    with caplog.at_level(logging.ERROR, logger="collector"):
        yield
    assert not [record for record in caplog.records if record.name.startswith("collector")]


def _line(marker: str, message: str | None = None) -> str:
    return json.dumps({"_kind": "logs", "_id": marker, "@timestamp": timestamp(), "message": message or marker,
                       "labels": {"marker": marker}})


def _ingest(url: str, token: str, *lines: str) -> requests.Response:
    return requests.post(f"{url}/v1/ingest", data=gzip.compress("\n".join(lines).encode()), timeout=30,
                         headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"})


def _sentry(url: str, token: str, endpoint: str, data: bytes) -> requests.Response:
    return requests.post(f"{url}/api/1/{endpoint}/", data=data, timeout=30,
                         headers={"X-Sentry-Auth": f"Sentry sentry_key={token}"})


def _get(es_client, kind: str, doc_id: str, es: ElasticsearchServer | None = None) -> dict | bytes | None:
    """The stored document (with ``es``: its raw bytes as Elasticsearch sends them), or None."""
    es_client.indices.refresh(index=f"{PREFIX}-*")
    found = es_client.search(index=f"{PREFIX}-{kind}-*", query={"ids": {"values": [doc_id]}})
    if not found["hits"]["hits"]:
        return None
    hit = found["hits"]["hits"][0]
    if es is None:
        return hit
    return requests.get(f"{es.url}/{hit['_index']}/_doc/{doc_id}", verify=str(es.ca_file), auth=es.auth,
                        timeout=30).content


def test_a_2000_deep_line_is_refused_and_its_neighbour_indexed(running, es_client) -> None:
    collector, token = running
    answer = _ingest(collector.url, token, _line("deep-neighbour"), DEEP)
    assert answer.status_code == 400
    assert answer.json()["failed"] == [{"line": 2, "error": "line is nested deeper than 64 levels (max_json_depth)"}]
    assert _get(es_client, "logs", "deep-neighbour") is not None


def test_deep_sentry_events_are_refused_and_the_good_event_indexed(running, es_client) -> None:
    collector, token = running
    assert _sentry(collector.url, token, "store", DEEP.encode()).status_code == 400
    good = json.dumps({"event_id": "cd" * 16, "timestamp": time.time(), "message": "fine"})
    envelope = "\n".join(["{}", '{"type": "event"}', DEEP, '{"type": "event"}', good]).encode()
    answer = _sentry(collector.url, token, "envelope", envelope)
    assert answer.status_code == 400 and answer.json()["accepted"] == 1
    assert "item 1: event is nested deeper than 64 levels" in answer.json()["error"]
    assert _get(es_client, "errors", "cd" * 16) is not None


def test_a_lone_surrogate_is_stored_as_valid_utf8(running, elasticsearch, es_client) -> None:
    collector, token = running
    line = _line("surrogate").replace('"message": "surrogate"', r'"message": "a \ud800 b"')
    assert _ingest(collector.url, token, line).status_code == 200
    event = rb'{"event_id": "' + b"ef" * 16 + rb'", "message": "x \udfff y", "timestamp": ' + \
        str(time.time()).encode() + b"}"
    assert _sentry(collector.url, token, "store", event).status_code == 200
    for kind, doc_id, text in (("logs", "surrogate", "a \ufffd b"), ("errors", "ef" * 16, "x \ufffd y")):
        raw = _get(es_client, kind, doc_id, elasticsearch)
        assert raw is not None
        stored = json.loads(raw.decode("utf-8", errors="strict"))
        assert text in json.dumps(stored["_source"], ensure_ascii=False)


@pytest.mark.parametrize("event, status, named", [
    ({"exception": {"values": "abc"}}, 400, "exception.values"),
    ({"exception": {"values": [1]}}, 400, "exception.values.0"),
    ({"timestamp": 1e300}, 400, "timestamp"),
    ({"contexts": "x"}, 200, "contexts"),
    ({"contexts": {"trace": "x"}}, 200, "contexts.trace"),
    ({"tags": "x"}, 200, "tags"),
    ({"logentry": ["x"]}, 200, "logentry"),
])
def test_malformed_sentry_events_are_refused_or_kept_without_the_bad_field(running, es_client, event, status,
                                                                          named) -> None:
    collector, token = running
    answer = _sentry(collector.url, token, "store", json.dumps(event).encode())
    assert answer.status_code == status, answer.text
    if status == 400:
        assert answer.json()["error"].startswith(f"event field {named}")
    else:
        assert answer.json()["dropped"][0].startswith(f"{named}: ")
        assert _get(es_client, "errors", answer.json()["id"]) is not None


def test_a_far_future_span_is_rejected_in_a_partial_success_and_makes_no_index(running, es_client) -> None:
    collector, token = running
    now = time.time_ns()
    spans = [{"traceId": GTX, "spanId": "01" * 8, "name": "good", "startTimeUnixNano": str(now),
              "endTimeUnixNano": str(now + 1000)},
             {"traceId": GTX, "spanId": "02" * 8, "name": "future", "startTimeUnixNano": "18446744073709551615",
              "endTimeUnixNano": "18446744073709551615"}]
    answer = requests.post(f"{collector.url}/v1/traces", json={"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]},
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200
    assert answer.json()["partialSuccess"]["rejectedSpans"] == 1
    assert "outside the accepted window" in answer.json()["partialSuccess"]["errorMessage"]
    assert _get(es_client, "transactions", "01" * 8) is not None
    assert not es_client.indices.exists(index=f"{PREFIX}-transactions-2554.07.21")


@pytest.fixture(scope="module")
def reader(running) -> str:
    return running[0].collector.tokens.issue("hostile-reader", scope="read")


def test_a_gtx_with_a_trailing_newline_is_a_400(running, reader) -> None:
    collector, _token = running
    answer = requests.get(f"{collector.url}/api/traces/{GTX}%0A", headers={"Authorization": f"Bearer {reader}"},
                          timeout=30)
    assert answer.status_code == 400 and "malformed GTX" in answer.json()["error"]


def test_a_dsn_key_reads_no_trace_and_a_read_token_writes_nothing(running, reader, es_client) -> None:
    from click.testing import CliRunner

    from oam.cli import cli

    collector, dsn_key = running  # an ingest token: what a Sentry DSN carries
    gtx = "5" * 32  # a trace of this test alone
    event = json.dumps({"event_id": "ab" * 16, "timestamp": time.time(), "message": "traced",
                        "contexts": {"trace": {"trace_id": gtx}}}).encode()
    assert _sentry(collector.url, dsn_key, "store", event).status_code == 200
    stolen = requests.get(f"{collector.url}/api/traces/{gtx}", headers={"Authorization": f"Bearer {dsn_key}"},
                          timeout=30)
    assert stolen.status_code == 403 and "has scope ingest" in stolen.json()["error"]
    cli_answer = CliRunner().invoke(cli, ["trace", gtx, "--url", collector.url, "--token", dsn_key])
    assert cli_answer.exit_code == 1 and "HTTP 403" in cli_answer.output
    es_client.indices.refresh(index=f"{PREFIX}-*")
    allowed = requests.get(f"{collector.url}/api/traces/{gtx}", headers={"Authorization": f"Bearer {reader}"},
                           timeout=30)
    assert allowed.status_code == 200 and allowed.json()["counts"] == {"errors": 1}
    assert _ingest(collector.url, reader, _line("by-reader")).status_code == 403
    assert _sentry(collector.url, reader, "store", event).status_code == 403
    assert _get(es_client, "logs", "by-reader") is None
