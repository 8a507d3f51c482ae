"""The versioned store against a real ZooKeeper: round trip, compare-and-set, history, schemas, events."""
from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from cmdb import ChangeSpool, Cmdb, InvalidKey, KeyNotFound, SchemaViolation, VersionConflict
from foundation.waiting import wait_until


@pytest.fixture
def open_cmdb(zookeeper) -> Iterator[Callable[..., Cmdb]]:
    """Opens CMDB clients on a fresh root of the session's ZooKeeper; closes them after the test."""
    root = f"/oam-test-{uuid.uuid4().hex[:10]}/cmdb"
    opened: list[Cmdb] = []

    def open_(user: str | None = "admin", password: str = "admin-pw", **kwargs) -> Cmdb:
        handle = Cmdb(zookeeper.connection_string, user=user, password=password, root=root, **kwargs)
        opened.append(handle)
        return handle

    yield open_
    for handle in opened:
        handle.close()


def test_set_get_history_diff_rollback_round_trip(open_cmdb):
    store = open_cmdb().store
    first = store.set("prod/web/db", {"host": "db1", "pool": 10}, comment="first db")
    second = store.set("prod/web/db", {"host": "db2", "pool": 10}, expect_version=1, comment="move to db2")
    assert (first.version, first.action, second.version, second.action) == (1, "create", 2, "update")
    assert store.get("prod/web/db").value == {"host": "db2", "pool": 10}
    assert store.get("prod/web/db", version=1).value == {"host": "db1", "pool": 10}

    history = store.history("prod/web/db")
    assert [(r.version, r.user, r.comment) for r in history] == [(1, "admin", "first db"), (2, "admin", "move to db2")]
    assert history[1].old == {"host": "db1", "pool": 10} and history[1].new == {"host": "db2", "pool": 10}
    assert not history[0].had_value and history[0].at.endswith("Z")

    diff = store.diff("prod/web/db", 1, 2)
    changed = [line for line in diff.splitlines()[2:] if line[:1] in "+-"]
    assert changed == ['-  "host": "db1",', '+  "host": "db2",']

    back = store.rollback("prod/web/db", 1, comment="db2 is sick")
    assert (back.version, back.action, back.comment) == (3, "rollback", "db2 is sick")
    assert store.get("prod/web/db").value == {"host": "db1", "pool": 10}
    assert store.diff("prod/web/db", 1) == ""  # version 3 equals version 1
    assert [r.version for r in store.history("prod/web/db")] == [1, 2, 3]


def test_two_concurrent_writers_of_one_key_one_wins_the_other_gets_a_conflict(open_cmdb):
    alice, bob = open_cmdb().store, open_cmdb().store
    alice.set("prod/web/flags", {"beta": False})
    for round_ in range(5):
        base = alice.version("prod/web/flags")
        barrier = threading.Barrier(2)
        outcomes: dict[str, object] = {}

        def write(name: str, store, value: dict, barrier=barrier, outcomes=outcomes, base=base) -> None:
            barrier.wait()
            try:
                outcomes[name] = store.set("prod/web/flags", value, expect_version=base)
            except VersionConflict as exc:
                outcomes[name] = exc

        threads = [threading.Thread(target=write, args=("alice", alice, {"beta": True, "round": round_})),
                   threading.Thread(target=write, args=("bob", bob, {"beta": False, "round": round_}))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        conflicts = [o for o in outcomes.values() if isinstance(o, VersionConflict)]
        wins = [o for o in outcomes.values() if not isinstance(o, VersionConflict)]
        assert len(wins) == 1 and len(conflicts) == 1
        assert conflicts[0].current == base + 1
        assert f"current version is {base + 1}" in str(conflicts[0])
        records = alice.history("prod/web/flags")
        assert [r.version for r in records][-1] == base + 1 and len(records) == base + 1
        assert records[-1].new == wins[0].new == alice.get("prod/web/flags").value


def test_a_history_record_exists_for_exactly_each_committed_change(open_cmdb):
    writers = [open_cmdb().store for _ in range(4)]
    writers[0].set("prod/api/limits", {"rps": 0})
    committed, conflicted = [], []
    lock = threading.Lock()

    def hammer(store, worker: int) -> None:
        for i in range(15):
            try:
                record = store.set("prod/api/limits", {"rps": worker * 100 + i})
                with lock:
                    committed.append(record)
            except VersionConflict:
                with lock:
                    conflicted.append(worker)

    threads = [threading.Thread(target=hammer, args=(store, n)) for n, store in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = writers[0].history("prod/api/limits")
    assert len(committed) + len(conflicted) == 60
    assert writers[0].version("prod/api/limits") == 1 + len(committed) == len(history)
    assert sorted(r.change_id for r in committed) == sorted(r.change_id for r in history[1:])
    for before, after in zip(history, history[1:]):  # an unbroken chain: nobody overwrote unseen
        assert after.old == before.new


def test_history_is_bounded_per_key(open_cmdb):
    store = open_cmdb(history_limit=3).store
    for n in range(1, 8):
        store.set("dev/web/build", {"n": n})
    assert [r.version for r in store.history("dev/web/build")] == [5, 6, 7]
    with pytest.raises(KeyNotFound, match=r"no version 2 in its history \(kept: 5..7\)"):
        store.diff("dev/web/build", 2)
    assert store.get("dev/web/build").version == 7


def test_writers_with_different_history_limits_keep_writing_and_the_shortest_limit_wins(open_cmdb):
    long_kept, medium_kept, short_kept = (open_cmdb(history_limit=n).store for n in (8, 4, 3))
    for n in range(1, 8):
        long_kept.set("dev/web/cache", {"n": n})
    short_kept.set("dev/web/cache", {"n": 8})  # its write trims version 5
    medium_kept.set("dev/web/cache", {"n": 9})  # would trim version 5 too, already gone: still written
    short_kept.set("dev/web/cache", {"n": 10})  # trims 7; the tenth version sweeps what is left older
    assert short_kept.get("dev/web/cache").value == {"n": 10}
    # the sweep is not waited for by the write
    wait_until(lambda: short_kept.versions("dev/web/cache") == [8, 9, 10], timeout=10, what="the sweep")
    assert [r.new for r in short_kept.history("dev/web/cache")] == [{"n": 8}, {"n": 9}, {"n": 10}]


def test_a_value_that_breaks_its_schema_is_refused_and_changes_nothing(open_cmdb):
    handle = open_cmdb()
    handle.schemas.register("*/web/db", {"type": "object", "required": ["host"],
                                         "properties": {"pool": {"type": "integer", "minimum": 1}}})
    handle.store.set("prod/web/db", {"host": "db1", "pool": 5})
    with pytest.raises(SchemaViolation, match=r"'host' is a required property"):
        handle.store.set("prod/web/db", {"pool": 5})
    with pytest.raises(SchemaViolation, match=r"0 is less than the minimum of 1 \(at /pool\)"):
        handle.store.set("staging/web/db", {"host": "db9", "pool": 0})
    assert handle.store.get("prod/web/db").value == {"host": "db1", "pool": 5}
    assert handle.store.version("prod/web/db") == 1 and not handle.store.exists("staging/web/db")
    handle.store.set("prod/api/db", {"pool": 0})  # the pattern does not match: no schema applies


def test_missing_keys_and_bad_keys_are_named(open_cmdb):
    store = open_cmdb().store
    with pytest.raises(KeyNotFound, match="no such key: prod/web/nothing"):
        store.get("prod/web/nothing")
    with pytest.raises(InvalidKey, match="expected environment/service/name"):
        store.set("prod/web", 1)
    with pytest.raises(InvalidKey, match="invalid key segment '..'"):
        store.get("prod/../etc")
    store.set("prod/web/gone", 1)
    store.delete("prod/web/gone", comment="unused")
    with pytest.raises(KeyNotFound, match=r"deleted at version 2"):
        store.get("prod/web/gone")
    assert store.rollback("prod/web/gone", 1).version == 3 and store.get("prod/web/gone").value == 1


def test_keys_are_listed_by_prefix_with_nested_names(open_cmdb):
    store = open_cmdb().store
    for key in ("prod/web/db", "prod/web/db/replica", "prod/api/db", "dev/web/db"):
        store.set(key, {"k": key})
    assert store.keys("prod") == ["prod/api/db", "prod/web/db", "prod/web/db/replica"]
    assert store.keys("prod/web") == ["prod/web/db", "prod/web/db/replica"]
    assert len(store.keys()) == 4 and store.get("prod/web/db/replica").value == {"k": "prod/web/db/replica"}


def test_each_change_is_spooled_as_an_ecs_configuration_event(open_cmdb, tmp_path):
    spool = ChangeSpool(tmp_path / "spool" / "cmdb.jsonl")
    store = open_cmdb(spool=spool).store
    store.set("prod/web/db", {"host": "db1"}, comment="first")
    store.set("prod/web/db", {"host": "db2"})
    with pytest.raises(VersionConflict):
        store.set("prod/web/db", {"host": "db3"}, expect_version=1)
    events = list(spool.read())
    assert len(events) == 2  # the refused write emitted nothing
    last = events[1]
    assert last["event"]["category"] == "configuration" and last["event"]["action"] == "cmdb-update"
    assert last["user"]["name"] == "admin" and last["change"]["target"] == "prod/web/db"
    assert json.loads(last["change"]["old"]) == {"host": "db1"} and json.loads(last["change"]["new"]) == {"host": "db2"}
    assert last["labels"]["cmdb_version"] == 2 and last["service"]["environment"] == "prod"
    assert events[0]["change"]["comment"] == "first" and events[0]["event"]["id"] != last["event"]["id"]
