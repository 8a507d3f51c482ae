"""Digest ACLs on a real ZooKeeper: writers write, readers only read, scoped accounts stay in their
subtrees, secrets keep no history, the root is closed, and a refusal says why."""
from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NoNodeError
from kazoo.security import OPEN_ACL_UNSAFE

from backing_services.zookeeper import four_letter_word
from cmdb import Cmdb, HostFacts, PermissionDenied
from dashboard.users import UserStore
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


# -- the closed ZooKeeper ------------------------------------------------------------------------
def test_an_unauthenticated_client_cannot_create_nodes_at_the_root_or_in_zookeepers_own(zookeeper):
    raw = KazooClient(hosts=zookeeper.address)  # the server's real root, not the tests' namespace
    raw.start(timeout=15)
    try:
        for path in ("/anything", "/zookeeper/anything", "/zookeeper/quota/anything"):
            with pytest.raises(NoAuthError):
                raw.create(path, b"x")
        with pytest.raises(NoAuthError):
            raw.set_acls("/", OPEN_ACL_UNSAFE)
        assert "anything" not in raw.get_children("/")
    finally:
        raw.stop()
        raw.close()


def test_only_the_health_four_letter_words_answer(zookeeper):
    assert four_letter_word(zookeeper.client_port, "ruok") == "imok"
    assert "Mode: standalone" in four_letter_word(zookeeper.client_port, "srvr")
    for word in ("mntr", "stat", "conf", "cons", "envi", "dump", "wchc"):
        assert four_letter_word(zookeeper.client_port, word) == f"{word} is not executed because it is not in the whitelist.\n"


# -- one account per role, each on its own subtrees ----------------------------------------------
ROLE_PASSWORDS = {"agent": "agent-pw", "dashboard": "dash-pw", "deployer": "deploy-pw", "viewer": "viewer-pw"}


@pytest.fixture
def roles(open_cmdb):
    """admin; agent (hosts + its config), dashboard (tree + secrets/dashboard), deployer (deploy keys, locks)."""
    admin = open_cmdb("admin", "admin-pw")
    admin.store.set("dev/oam-agent/config", {"interval": 5})
    admin.store.set("dev/web/db", {"host": "db1"})
    admin.assign("agent", ROLE_PASSWORDS["agent"], [("writer", ["hosts"]),
                                                    ("reader", ["config/*/oam-agent", "history/*/oam-agent"])])
    admin.assign("dashboard", ROLE_PASSWORDS["dashboard"], [("writer", []), ("writer", ["secrets/dashboard"])])
    admin.assign("deployer", ROLE_PASSWORDS["deployer"],
                 [("reader", []), ("writer", ["config/*/*/deploy", "history/*/*/deploy", "locks"])])
    admin.assign("viewer", ROLE_PASSWORDS["viewer"], [("reader", [])])
    return admin


def as_role(open_cmdb, role: str) -> Cmdb:
    return open_cmdb(role, ROLE_PASSWORDS[role])


def test_the_agent_registers_itself_and_reads_its_config_and_nothing_else(roles, open_cmdb):
    agent = as_role(open_cmdb, "agent")
    agent.inventory.register(HostFacts("web-1", role="web", environment="dev"))
    assert "web-1" in roles.inventory.live()
    assert agent.store.get("dev/oam-agent/config").value == {"interval": 5}
    assert agent.store.history("dev/oam-agent/config")[0].new == {"interval": 5}
    with pytest.raises(PermissionDenied):
        agent.store.get("dev/web/db")
    with pytest.raises(PermissionDenied):
        agent.store.set("dev/web/db", {"host": "evil"})
    with pytest.raises(PermissionDenied):
        agent.store.set("dev/oam-agent/config", {"interval": 1})
    assert roles.store.get("dev/web/db").value == {"host": "db1"}
    assert roles.store.get("dev/oam-agent/config").version == 1


def test_the_deployer_writes_deploy_keys_and_takes_locks_but_changes_no_other_key(roles, open_cmdb):
    deployer = as_role(open_cmdb, "deployer")
    assert deployer.store.set("dev/shop/deploy", {"hosts": ["h1"]}).version == 1
    assert deployer.store.set("dev/shop/deploy", {"hosts": ["h2"]}).version == 2
    with deployer.lock("deploy-dev-shop"):
        assert deployer.lock("deploy-dev-shop").holder().who == "deployer"
    assert deployer.store.get("dev/web/db").value == {"host": "db1"}
    with pytest.raises(PermissionDenied):
        deployer.store.set("dev/web/db", {"host": "evil"})
    with pytest.raises(PermissionDenied):
        deployer.inventory.register(HostFacts("intruder"))
    assert as_role(open_cmdb, "viewer").store.get("dev/shop/deploy").value == {"hosts": ["h2"]}


def test_secrets_are_read_by_their_grantee_and_admins_only_and_keep_no_old_value(roles, open_cmdb, zookeeper):
    dashboard = as_role(open_cmdb, "dashboard")
    users = UserStore(dashboard)
    users.save("alice", "first-password", "operator")
    old_hash = dashboard.secrets.get("dashboard/users/alice")[0]["password_hash"]
    users.save("alice", "second-password", "operator")
    assert users.authenticate("alice", "second-password") and not users.authenticate("alice", "first-password")
    assert roles.secrets.get("dashboard/users/alice")[0]["password_hash"] != old_hash  # admins read the current one
    for role in ("viewer", "agent", "deployer"):
        with pytest.raises(PermissionDenied):
            as_role(open_cmdb, role).secrets.get("dashboard/users/alice")
    # Every node a non-admin account can read, read with the raw client: no hash, old or current.
    for role in ("viewer", "dashboard", "agent", "deployer"):
        seen = _readable_data(zookeeper, role, roles.layout.root)
        assert seen or role == "agent", f"{role} read nothing at all"  # the agent may not list the tree
        assert old_hash.encode() not in b"".join(seen)
        if role != "dashboard":
            assert b"scrypt:" not in b"".join(seen)


def test_users_of_older_versions_move_to_the_secrets_with_their_history_deleted(roles, open_cmdb):
    for password in ("old-password-1", "old-password-2"):  # the old layout: a config key with history
        roles.store.set("oam/dashboard/users/bob", {"password_hash": f"scrypt:{password}", "role": "viewer"})
    users = UserStore(as_role(open_cmdb, "dashboard"))
    assert users.move_legacy() == ["bob"]
    assert [u.name for u in users.list()] == ["bob"]
    assert roles.store.versions("oam/dashboard/users/bob") == [] and roles.store.keys("oam") == []
    assert users.move_legacy() == []


def _readable_data(zookeeper, role: str, root: str) -> list[bytes]:
    client = KazooClient(hosts=zookeeper.connection_string,
                         auth_data=[("digest", f"{role}:{ROLE_PASSWORDS[role]}")])
    client.start(timeout=15)
    found: list[bytes] = []

    def walk(path: str) -> None:
        with contextlib.suppress(NoAuthError, NoNodeError):
            found.append(client.get(path)[0])
        try:
            children = client.get_children(path)
        except (NoAuthError, NoNodeError):
            children = []
        for child in children:
            walk(f"{path}/{child}")

    try:
        walk(root)
        for name in ("secrets", "secrets/dashboard", "secrets/dashboard/users", "secrets/dashboard/users/alice"):
            with contextlib.suppress(NoAuthError, NoNodeError):  # even knowing the path does not help
                found.append(client.get(f"{root}/{name}")[0])
    finally:
        client.stop()
        client.close()
    return found
