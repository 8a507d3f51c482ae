"""Live reload: a watch delivers every committed change in order, also across a lost session."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from kazoo.protocol.states import KazooState

from backing_services.ports import free_port
from backing_services.zookeeper import ZooKeeperServer
from cmdb import Change, Cmdb, HostFacts
from foundation.waiting import wait_until


class Recorder:
    """Collects the changes a watch delivers and lets a test wait for a version."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self._arrived = threading.Condition()

    def __call__(self, change: Change) -> None:
        with self._arrived:
            self.changes.append(change)
            self._arrived.notify_all()

    def wait_for(self, version: int, timeout: float = 20.0) -> None:
        with self._arrived:
            if not self._arrived.wait_for(lambda: self.changes and self.changes[-1].version >= version, timeout):
                got = [c.version for c in self.changes]
                raise AssertionError(f"version {version} not delivered within {timeout}s; got {got}")

    @property
    def versions(self) -> list[int]:
        return [c.version for c in self.changes]


@pytest.fixture
def open_cmdb(zookeeper) -> Iterator[Callable[..., Cmdb]]:
    root = f"/oam-test-{uuid.uuid4().hex[:10]}/cmdb"
    opened: list[Cmdb] = []

    def open_(hosts: str | None = None, **kwargs) -> Cmdb:
        handle = Cmdb(hosts or zookeeper.connection_string, user="admin", password="admin-pw", root=root, **kwargs)
        opened.append(handle)
        return handle

    yield open_
    for handle in opened:
        handle.close()


def test_a_watch_gets_the_current_value_then_every_change_in_order(open_cmdb):
    writer, reader = open_cmdb(), open_cmdb()
    writer.store.set("prod/web/db", {"n": 0})
    seen = Recorder()
    reader.watch("prod/web/db", seen)
    seen.wait_for(1)
    for n in range(1, 60):  # faster than one watch round trip: the history fills the gaps
        writer.store.set("prod/web/db", {"n": n}, comment=f"step {n}")
    writer.store.delete("prod/web/db")
    seen.wait_for(61)
    assert seen.versions == list(range(1, 62))
    assert [c.value for c in seen.changes[:-1]] == [{"n": n} for n in range(60)]
    assert seen.changes[0].record is None and seen.changes[55].record.comment == "step 55"
    assert not seen.changes[-1].exists and all(c.missed == 0 for c in seen.changes)


def test_a_watch_on_a_key_that_does_not_exist_yet_sees_it_appear(open_cmdb):
    handle = open_cmdb()
    seen = Recorder()
    watch = handle.watch("prod/web/new", seen)
    seen.wait_for(0)
    handle.store.set("prod/web/new", "hello")
    seen.wait_for(1)
    assert [(c.version, c.exists, c.value) for c in seen.changes] == [(0, False, None), (1, True, "hello")]
    watch.stop()
    handle.store.set("prod/web/new", "bye")
    time.sleep(0.5)
    assert seen.versions == [0, 1]


def test_a_watch_goes_on_after_a_server_restart_and_an_expired_session(run_dir):
    """The server goes down; while it is away from the watcher, its session expires and other
    clients commit changes; when the server is back on its old port the watcher gets a new
    session and receives every change it missed, in order, then the new ones."""
    port = free_port()
    data_dir = run_dir / f"zookeeper-cmdb-restart-{port}"
    server = ZooKeeperServer(data_dir, client_port=port, namespace="/oam-tests")
    server.start()
    elsewhere = None
    root = f"/watch-{uuid.uuid4().hex[:8]}/cmdb"
    watcher = writer = None
    try:
        watcher = Cmdb(server.connection_string, user="admin", password="pw", root=root, session_timeout=4)
        states: list[str] = []
        watcher.client.add_listener(states.append)
        watcher.store.set("prod/web/db", {"n": 0})
        first_session = watcher.client.client_id[0]
        seen = Recorder()
        watcher.watch("prod/web/db", seen)
        watcher.inventory.register(HostFacts("web-1", role="web", environment="prod"))
        seen.wait_for(1)

        server.stop()
        # The same data, served on another port: the watcher cannot reach it, so its session
        # times out there (4 s) while another client keeps committing changes.
        elsewhere = ZooKeeperServer(data_dir, client_port=free_port(), namespace="/oam-tests")
        elsewhere.start()
        with Cmdb(elsewhere.connection_string, user="admin", password="pw", root=root) as other:
            for n in range(1, 4):
                other.store.set("prod/web/db", {"n": n})
            time.sleep(4 * 1.5 + 1)
        elsewhere.stop()
        elsewhere = None

        server = ZooKeeperServer(data_dir, client_port=port, namespace="/oam-tests")
        server.start()
        seen.wait_for(4, timeout=30)
        assert KazooState.LOST in states and watcher.client.client_id[0] != first_session
        writer = Cmdb(server.connection_string, user="admin", password="pw", root=root)
        for n in range(4, 7):
            writer.store.set("prod/web/db", {"n": n})
        seen.wait_for(7)
        assert seen.versions == list(range(1, 8))
        assert [c.value for c in seen.changes] == [{"n": n} for n in range(7)]
        # The host's ephemeral registration died with the old session and came back with the new one.
        wait_until(lambda: "web-1" in writer.inventory.live(), timeout=10, interval=0.1,
                   what="web-1's registration to come back")
        assert writer.inventory.live()["web-1"].facts.role == "web"
    finally:
        for handle in (watcher, writer):
            if handle is not None:
                handle.close()
        if elsewhere is not None:
            elsewhere.stop()
        server.stop()
