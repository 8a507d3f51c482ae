"""Digest ACLs on a real ZooKeeper: writers write, readers only read, and a refusal says why."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from cmdb import Cmdb, HostFacts, PermissionDenied
from foundation.waiting import wait_until


@pytest.fixture
def open_cmdb(zookeeper) -> Iterator[Callable[..., Cmdb]]:
    root = f"/oam-test-{uuid.uuid4().hex[:10]}/cmdb"
    opened: list[Cmdb] = []

    def open_(user: str | None, password: str = "", **kwargs) -> Cmdb:
        handle = Cmdb(zookeeper.connection_string, user=user, password=password, root=root, **kwargs)
        opened.append(handle)
        return handle

    yield open_
    for handle in opened:
        handle.close()


@pytest.fixture
def secured(open_cmdb):
    """A tree made by 'admin', with 'viewer' as reader and 'deployer' as writer."""
    admin = open_cmdb("admin", "admin-pw")
    admin.store.set("prod/web/db", {"host": "db1"}, comment="first")
    admin.grant("viewer", "viewer-pw", "reader")
    admin.grant("deployer", "deployer-pw", "writer")
    return admin


def _snapshot(handle: Cmdb) -> tuple:
    store = handle.store
    return store.get("prod/web/db"), [r.change_id for r in store.history("prod/web/db")], store.keys()


def test_read_only_credentials_can_read_but_a_write_is_refused_and_changes_nothing(secured, open_cmdb):
    before = _snapshot(secured)
    viewer = open_cmdb("viewer", "viewer-pw")
    assert viewer.store.get("prod/web/db").value == {"host": "db1"}
    with pytest.raises(PermissionDenied) as refused:
        viewer.store.set("prod/web/db", {"host": "evil"}, comment="should not land")
    assert str(refused.value) == ("permission denied: user 'viewer' may not write prod/web/db; "
                                  "its credentials are read-only here")
    with pytest.raises(PermissionDenied, match="may not write prod/web/new"):
        viewer.store.set("prod/web/new", 1)
    with pytest.raises(PermissionDenied):
        viewer.store.delete("prod/web/db")
    with pytest.raises(PermissionDenied):
        viewer.inventory.register(HostFacts("intruder"))
    assert _snapshot(secured) == before


def test_writers_write_but_cannot_change_who_has_access(secured, open_cmdb):
    deployer = open_cmdb("deployer", "deployer-pw")
    assert deployer.store.set("prod/web/db", {"host": "db2"}).version == 2
    assert deployer.store.set("prod/api/url", "http://api").version == 1  # new nodes carry the same ACL
    assert open_cmdb("viewer", "viewer-pw").store.get("prod/api/url").value == "http://api"
    with pytest.raises(PermissionDenied, match="user 'deployer' may not change the ACLs of"):
        deployer.grant("viewer", "x", "admin")
    assert dict(secured.access()) == {"admin": "admin", "viewer": "reader", "deployer": "writer"}


def test_no_credentials_or_a_wrong_password_get_nothing(secured, open_cmdb):
    with pytest.raises(PermissionDenied, match="a client without credentials may not read prod/web/db; pass --cmdb-user"):
        open_cmdb(None).store.get("prod/web/db")
    with pytest.raises(PermissionDenied, match="no access here"):
        open_cmdb("viewer", "wrong").store.get("prod/web/db")
    with pytest.raises(PermissionDenied, match="a client without credentials may not write"):
        open_cmdb(None).store.set("prod/web/db", 1)


def test_revoked_readers_lose_access(secured, open_cmdb):
    secured.revoke("viewer")
    with pytest.raises(PermissionDenied):
        open_cmdb("viewer", "viewer-pw").store.get("prod/web/db")
    with pytest.raises(ValueError, match="last admin"):
        secured.revoke("admin")


def test_a_running_writer_gives_new_nodes_the_policy_granted_after_it_connected(secured, open_cmdb):
    deployer = open_cmdb("deployer", "deployer-pw")
    deployer.store.set("prod/web/before", 1)  # connected and adopted the policy
    secured.grant("auditor", "auditor-pw", "reader")
    auditor = open_cmdb("auditor", "auditor-pw")
    def readable() -> bool:
        deployer.store.set(f"prod/web/after-{int(time.monotonic() * 1000)}", 2)
        assert all(auditor.store.get(key).value for key in auditor.store.keys("prod/web"))
        return True

    # The policy reaches the running writer through a watch; until then its new nodes deny the auditor.
    wait_until(readable, timeout=5, interval=0.1, retry_on=(PermissionDenied,),
               what="the writer's new nodes to let the auditor read")
