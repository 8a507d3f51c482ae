"""The CMDB accounts of ``oam up``: one per piece, each with only what that piece does.

On every start (idempotent) ZooKeeper's superuser makes the nodes above the CMDB root (``/oam``)
readable by all and owned by the admin; the admin (``oam-suite``) makes the tree and assigns:

| account | may |
|---|---|
| ``oam-agent`` | write ``hosts`` (register itself: known and live); read its config ``<env>/oam-agent/*`` |
| ``oam-collector`` | read its settings ``<env>/oam-collector/*`` |
| ``oam-dashboard`` | read and write the tree (operators' edits, deploys, locks; the dashboard checks their role) and ``secrets/dashboard`` (users) |
| ``oam-alerts`` | read the tree (its rules, the hosts it expects); write its state ``alert-state`` and its election ``locks/alerts-<env>`` |
| ``oam-deployer`` | read the tree; write the deploy keys ``<env>/<service>/deploy``, ``locks`` and ``deployments`` |
| ``oam-suite`` | admin: everything, ``secrets`` and grants included |
"""
from __future__ import annotations

from kazoo.security import make_acl, make_digest_acl

from backing_services.zookeeper import ZooKeeperServer
from cmdb import Cmdb, Layout
from cmdb.acl import Role

from .config import Settings
from .sandbox import ENVIRONMENT
from .suite_secrets import cmdb_credentials


def _keys(pattern: str) -> list[str]:
    """The scopes of config keys matching ``pattern``: their values and their history."""
    return [f"config/{pattern}", f"history/{pattern}"]


ACCOUNTS: dict[str, list[tuple[Role, list[str]]]] = {
    "agent": [("writer", ["hosts"]), ("reader", _keys("*/oam-agent"))],
    "collector": [("reader", _keys("*/oam-collector"))],
    "dashboard": [("writer", []), ("writer", ["secrets/dashboard"])],
    "deployer": [("reader", []), ("writer", [*_keys("*/*/deploy"), "locks", "deployments"])],
    "alerts": [("reader", []), ("writer", ["alert-state", f"locks/alerts-{ENVIRONMENT}"])],
}


def provision(settings: Settings, server: ZooKeeperServer) -> list[str]:
    """Make the CMDB tree and give each role account its grants; returns the accounts changed."""
    admin = cmdb_credentials(settings, "admin")
    user, password = admin["OAM_CMDB_USER"], admin["OAM_CMDB_PASSWORD"]
    layout = Layout(settings.cmdb.root)
    parts = layout.root.strip("/").split("/")
    owned = [make_acl("world", "anyone", read=True), make_digest_acl(user, password, all=True)]
    with server.superuser() as zk:
        for depth in range(1, len(parts)):
            path = "/" + "/".join(parts[:depth])
            if zk.exists(path) is None:
                zk.create(path, acl=owned)
            else:
                zk.set_acls(path, owned)
    changed = []
    with Cmdb(server.connection_string, user=user, password=password, root=layout.root, actor="oam up") as cmdb:
        cmdb.ensure_root()
        for role, roles in ACCOUNTS.items():
            account = cmdb_credentials(settings, role)
            if cmdb.assign(account["OAM_CMDB_USER"], account["OAM_CMDB_PASSWORD"], roles):
                changed.append(account["OAM_CMDB_USER"])
    return changed
