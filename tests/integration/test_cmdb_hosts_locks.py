"""Live hosts (ephemeral znodes), the known-host inventory, and the named lock with its holder."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from cmdb import Cmdb, HostFacts, LockTimeout, lock_holder, locks


@pytest.fixture
def open_cmdb(zookeeper) -> Iterator[Callable[..., Cmdb]]:
    root = f"/oam-test-{uuid.uuid4().hex[:10]}/cmdb"
    opened: list[Cmdb] = []

    def open_(user: str = "admin") -> Cmdb:
        handle = Cmdb(zookeeper.connection_string, user=user, password="pw", root=root)
        opened.append(handle)
        return handle

    yield open_
    for handle in opened:
        handle.close()


def test_live_hosts_and_known_hosts_that_are_down(open_cmdb):
    web1, web2, operator = open_cmdb(), open_cmdb(), open_cmdb()
    web1.inventory.register(HostFacts("web-1", role="web", environment="prod", addresses=["10.0.0.5"],
                                      labels={"rack": "a"}, services=["web", "worker"]))
    web2.inventory.register(HostFacts("web-2", role="web", environment="prod", services=["web"]))
    operator.inventory.remember(HostFacts("db-1", role="db", environment="prod", services=["postgres"]))
    rows = {h.facts.name: h for h in operator.inventory.hosts()}
    assert {name: row.live for name, row in rows.items()} == {"db-1": False, "web-1": True, "web-2": True}
    assert rows["web-1"].facts.addresses == ["10.0.0.5"] and rows["web-1"].facts.labels == {"rack": "a"}
    assert rows["web-1"].since.endswith("Z")
    assert [h.facts.name for h in operator.inventory.hosts_running("prod", "worker")] == ["web-1"]

    web2.close()  # the agent stops: its session and ephemeral node go, the known entry stays
    rows = {h.facts.name: h.live for h in operator.inventory.hosts()}
    assert rows == {"db-1": False, "web-1": True, "web-2": False}


def test_a_lock_says_who_holds_it_and_since_when_and_excludes_others(open_cmdb):
    admin = open_cmdb("admin")
    for user, role in (("alice", "writer"), ("bob", "writer"), ("viewer", "reader")):
        admin.grant(user, "pw", role)
    alice, bob, viewer = open_cmdb("alice"), open_cmdb("bob"), open_cmdb("viewer")
    assert lock_holder(viewer, "deploy-web") is None
    inside = threading.Event()
    release = threading.Event()
    before = time.strftime("%Y-%m-%dT%H:%M", time.gmtime())

    def hold() -> None:
        with alice.lock("deploy-web"):
            inside.set()
            release.wait(10)

    holder_thread = threading.Thread(target=hold)
    holder_thread.start()
    assert inside.wait(10)
    try:
        holder = lock_holder(viewer, "deploy-web")
        assert (holder.who, holder.waiting) == ("alice", 0) and holder.since >= before and holder.pid > 0
        assert [h.name for h in locks(viewer)] == ["deploy-web"]
        with pytest.raises(LockTimeout, match=r"lock 'deploy-web' still held by alice on .* since .* after 0.5s"):
            bob.lock("deploy-web").acquire(timeout=0.5)
        assert bob.lock("deploy-web").acquire(blocking=False) is False
    finally:
        release.set()
        holder_thread.join()
    bob_lock = bob.lock("deploy-web")
    assert bob_lock.acquire(timeout=5)
    assert lock_holder(viewer, "deploy-web").who == "bob"
    bob.close()  # a holder that goes away releases the lock with its session
    assert lock_holder(viewer, "deploy-web") is None
