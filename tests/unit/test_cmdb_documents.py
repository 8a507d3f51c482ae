"""Pure logic of the CMDB: keys and paths, values, change records, events, export documents, roles."""
from __future__ import annotations

import json

import pytest

from cmdb import ChangeRecord, InvalidKey, InvalidValue, Layout, SchemaViolation, configuration_event, load_yaml
from cmdb.acl import role_acl, role_of
from cmdb.events import ChangeSpool
from cmdb.paths import quote_pattern, unquote_pattern, validate_key
from cmdb.schema import check_schema, violation
from cmdb.store import encode, parse_json
from cmdb.transfer import PlannedChange


def test_keys_are_environment_service_name_with_optional_deeper_names():
    assert validate_key("/prod/web/db/") == "prod/web/db"
    assert validate_key("prod/web/db/replica") == "prod/web/db/replica"
    for bad in ("prod/web", "prod//db", "prod/web/../x", "prod/web/-x", "prod/web/a b", "prod/zookeeper/x"):
        with pytest.raises(InvalidKey):
            validate_key(bad)


def test_the_layout_keeps_values_history_and_hosts_apart():
    layout = Layout("/oam/cmdb/")
    assert layout.value("prod/web/db") == "/oam/cmdb/config/prod/web/db"
    assert layout.record("prod/web/db", 12) == "/oam/cmdb/history/prod/web/db/0000000012"
    assert layout.key_of(layout.value("prod/web/db/replica")) == "prod/web/db/replica"
    assert layout.live_host("web-1") == "/oam/cmdb/hosts/live/web-1"
    assert unquote_pattern(quote_pattern("*/web/db")) == "*/web/db" and "/" not in quote_pattern("*/web/db")
    with pytest.raises(InvalidKey):
        Layout("/")


def test_values_are_stored_as_canonical_json_and_bad_input_is_named():
    assert encode({"b": 1, "a": [True, None]}) == b'{"a":[true,null],"b":1}'
    with pytest.raises(InvalidValue, match="not JSON-serialisable"):
        encode({"when": object()})
    with pytest.raises(InvalidValue, match="too large|the limit is"):
        encode("x" * 1_000_000)
    with pytest.raises(InvalidValue, match=r"invalid JSON for prod/web/db: Expecting ',' delimiter at line 1 column 9"):
        parse_json('{"a": 1 "b": 2}', "prod/web/db")


def test_a_change_record_survives_its_json_form_and_tells_a_null_from_no_value():
    record = ChangeRecord("prod/web/db", 3, "update", "alice", "2026-01-01T00:00:00.000Z", "why", "c1",
                          True, None, True, {"x": 1})
    again = ChangeRecord.from_json("prod/web/db", json.loads(json.dumps(record.to_json())))
    assert again == record
    created = ChangeRecord("prod/web/db", 1, "create", "alice", "t", "", "c0", False, None, True, None)
    assert "old" not in created.to_json() and created.to_json()["new"] is None


def test_a_change_becomes_an_ecs_configuration_event(tmp_path):
    record = ChangeRecord("prod/web/db", 2, "update", "alice", "2026-01-01T00:00:00.000Z", "bigger pool", "c1",
                          True, {"pool": 10}, True, {"pool": 20})
    event = configuration_event(record)
    assert event["event"]["category"] == "configuration" and event["event"]["action"] == "cmdb-update"
    assert event["@timestamp"] == "2026-01-01T00:00:00.000Z" and event["user"]["name"] == "alice"
    assert json.loads(event["change"]["old"]) == {"pool": 10} and event["service"]["environment"] == "prod"
    assert event["message"] == "alice cmdb-update prod/web/db: bigger pool"
    spool = ChangeSpool(tmp_path / "a" / "changes.jsonl")
    spool.emit(event)
    spool.emit(event)
    assert list(spool.read()) == [event, event]


def test_schema_checks_name_the_problem():
    check_schema({"type": "object"})
    with pytest.raises(InvalidValue, match="invalid JSON schema"):
        check_schema({"type": 12})
    schema = {"type": "object", "properties": {"pool": {"type": "integer"}}}
    assert violation("prod/web/db", "*/web/db", schema, {"pool": 1}) is None
    assert violation("prod/web/db", "*/web/db", schema, {"pool": "x"}) == (
        "prod/web/db violates the schema for '*/web/db': 'x' is not of type 'integer' (at /pool)")
    assert issubclass(SchemaViolation, ValueError)


def test_roles_map_to_digest_acls():
    assert role_of(role_acl("a", "p", "admin")) == "admin"
    assert role_of(role_acl("a", "p", "writer")) == "writer"
    assert role_of(role_acl("a", "p", "reader")) == "reader"
    assert "p" not in role_acl("a", "p", "reader").id.id.split(":", 1)[1]
    with pytest.raises(ValueError):
        role_acl("a", "p", "owner")  # type: ignore[arg-type]


def test_a_planned_change_diffs_pretty_json():
    change = PlannedChange("config", "prod/web/db", {"pool": 1}, {"pool": 2})
    assert change.action == "update"
    assert change.diff().splitlines()[:2] == ["--- a/config:prod/web/db", "+++ b/config:prod/web/db"]


@pytest.mark.parametrize("text, message", [
    ("config: [\n", "invalid YAML in f.yaml at line 2"),
    ("- 1\n", "not a CMDB export"),
    ("format: other\n", "has format 'other'"),
    ("format: oam-cmdb/1\nconfig: {prod/web: 1}\n", "expected environment/service/name"),
    ("format: oam-cmdb/1\nsecrets: {}\n", "unknown section"),
    ("format: oam-cmdb/1\nhosts: {web-1: {colour: red}}\n", "unknown host fact"),
    ("format: oam-cmdb/1\nschemas: {'*/a/b': {type: 12}}\n", "invalid JSON schema"),
])
def test_bad_files_are_refused_with_the_reason(text, message):
    with pytest.raises(InvalidValue, match=message):
        load_yaml(text, "f.yaml")
