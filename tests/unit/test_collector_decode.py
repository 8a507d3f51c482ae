"""Agent batches: gzip NDJSON to index actions and per-line errors."""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from functools import partial

import pytest

from collector import decode
from collector.compression import BodyError
from collector.limits import InputLimits
from telemetry.ecs import ServiceInfo, document_id, log_document

LIMIT = 1 << 20
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)  # the lines below arrive at noon of their day
decode_batch = partial(decode.decode_batch, bounds=InputLimits().at(NOW))


def _line(**fields: object) -> str:
    return json.dumps({"_kind": "logs", "@timestamp": "2026-11-24T10:00:00Z", "message": "hi", **fields})


def test_good_and_bad_lines_are_separated_by_line_number() -> None:
    lines = [_line(_id=f"id-{n}") for n in range(5)]
    lines[2] = "{not json"
    lines.insert(4, json.dumps({"_kind": "nope", "@timestamp": "2026-11-24T10:00:00Z"}))
    actions, errors = decode_batch(gzip.compress("\n".join(lines).encode()), LIMIT)
    assert [action.id for action in actions] == ["id-0", "id-1", "id-3", "id-4"]
    assert [error.line for error in errors] == [3, 5]
    assert "invalid JSON" in errors[0].error and "_kind 'nope'" in errors[1].error


def test_index_follows_kind_and_timestamp_and_metadata_is_stripped() -> None:
    actions, errors = decode_batch(gzip.compress(_line(_id="a", **{"service.name": "web"}).encode()), LIMIT)
    assert not errors
    assert actions[0].index == "oam-logs-2026.11.24"
    assert actions[0].source == {"@timestamp": "2026-11-24T10:00:00Z", "message": "hi", "service": {"name": "web"}}
    assert actions[0].bulk()["_op_type"] == "create"


def test_missing_id_is_derived_deterministically() -> None:
    doc = log_document(ServiceInfo("web", host_name="h1", agent_id="ag"), "x", file_path="/var/log/a", offset=7,
                       at="2026-11-24T10:00:00.000000Z")
    line = json.dumps({"_kind": "logs", **doc}).encode()
    first, _ = decode_batch(gzip.compress(line), LIMIT)
    again, _ = decode_batch(gzip.compress(line), LIMIT)
    assert first[0].id == again[0].id == document_id("logs", doc)


@pytest.mark.parametrize("line, problem", [
    ('{"_kind": "logs"}', "missing @timestamp"),
    ('{"@timestamp": "2026-11-24T10:00:00Z"}', "missing _kind"),
    ('{"_kind": "logs", "@timestamp": "yesterday"}', "bad @timestamp"),
    ('[1, 2]', "expected a JSON object"),
    ('{"_kind": "logs", "@timestamp": "2026-11-24T10:00:00Z", "_id": 5}', "_id must be"),
])
def test_each_kind_of_bad_line_is_named(line: str, problem: str) -> None:
    actions, errors = decode_batch(gzip.compress(line.encode()), LIMIT)
    assert actions == [] and problem in errors[0].error


def test_a_body_that_is_not_gzip_is_refused_with_415() -> None:
    with pytest.raises(BodyError) as not_gzip:
        decode_batch(b'{"_kind": "logs"}', LIMIT)
    assert not_gzip.value.status == 415 and "gzip" in str(not_gzip.value)


def test_nested_lines_are_indexed_as_they_are_and_dotted_ones_are_nested() -> None:
    nested = {"_kind": "logs", "@timestamp": "2026-11-24T10:00:00Z", "log": {"level": "info"},
              "labels": {"shard.id": "2"}}
    dotted = {"_kind": "logs", "@timestamp": "2026-11-24T10:00:00Z", "log.level": "info", "labels.shard.id": "2"}
    body = gzip.compress((json.dumps(nested) + "\n" + json.dumps(dotted)).encode())
    actions, errors = decode_batch(body, LIMIT)
    assert not errors
    assert actions[0].source == actions[1].source == {"@timestamp": "2026-11-24T10:00:00Z", "log": {"level": "info"},
                                                      "labels": {"shard.id": "2"}}


def test_multi_member_gzip_is_read_whole() -> None:
    body = gzip.compress(_line(_id="a").encode() + b"\n") + gzip.compress(_line(_id="b").encode())
    actions, errors = decode_batch(body, LIMIT)
    assert [action.id for action in actions] == ["a", "b"] and not errors
