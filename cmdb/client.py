"""The CMDB client: one ZooKeeper connection with credentials and timeouts, and the recipes on it.

Usage::

    from cmdb import Cmdb

    with Cmdb("10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181", user="deployer", password=secret) as cmdb:
        cmdb.store.set("prod/web/db", {"host": "db1", "pool": 20}, comment="bigger pool")
        cmdb.store.get("prod/web/db").value
        cmdb.watch("prod/web/db", lambda change: print(change.version, change.value))
        with cmdb.lock("deploy-web"):
            ...

The connection string may name several servers (an ensemble); kazoo moves to another one when
a server goes away, and the session (with its ephemeral nodes and watches) survives as long as
a server is back within the session timeout.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import acl
from .connection import Connection
from .hosts import HostRegistry
from .lock import NamedLock
from .schema import SchemaRegistry
from .secrets import SecretStore
from .store import ConfigStore
from .watch import Change, KeyWatch


class Cmdb(Connection):
    """A connected CMDB: the config store, secrets, schemas, hosts, watches and locks under one root."""

    def __init__(self, hosts: str, **options: Any) -> None:
        """Connect to ``hosts``; ``options`` as :class:`~cmdb.connection.Connection` takes them."""
        super().__init__(hosts, **options)
        self._watches: list[KeyWatch] = []
        self.schemas = SchemaRegistry(self)
        self.store = ConfigStore(self, self.schemas)
        self.inventory = HostRegistry(self)
        self.secrets = SecretStore(self)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        for watch in self._watches:
            watch.stop()
        self.inventory.unregister_all()
        super().close()

    def __enter__(self) -> Cmdb:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- recipes ---------------------------------------------------------------------------
    def watch(self, key: str, callback: Callable[[Change], Any]) -> KeyWatch:
        """Call ``callback`` with the key's current value, then once per committed change, in order."""
        with self.translated("read", key):  # e.g. no read access: the CMDB's one-line error, not kazoo's
            watch = KeyWatch(self, self.store, key, callback)
        self._watches.append(watch)
        return watch

    def lock(self, name: str, who: str | None = None) -> NamedLock:
        """A named distributed lock that records who holds it and since when."""
        return NamedLock(self, name, who or self.actor)

    def grant(self, user: str, password: str, role: acl.Role, scopes: Iterable[str] = ()) -> int:
        """Give ``user`` a role (admin, writer, reader) on ``scopes`` (none: the whole tree, secrets
        excepted); returns nodes updated (0 if it had that already)."""
        self.ensure_root()
        with self.translated("change the ACLs of", self.layout.root):
            return acl.grant(self.client, self.layout, user, password, role, scopes)

    def assign(self, user: str, password: str, roles: Iterable[tuple[acl.Role, Iterable[str]]]) -> int:
        """Replace every grant of ``user`` by ``roles``: (role, scopes) pairs; returns nodes updated."""
        self.ensure_root()
        with self.translated("change the ACLs of", self.layout.root):
            return acl.assign(self.client, self.layout, user, password, roles)

    def revoke(self, user: str) -> int:
        self.ensure_root()
        with self.translated("change the ACLs of", self.layout.root):
            return acl.revoke(self.client, self.layout, user)

    def access(self) -> list[tuple[str, str]]:
        """(user, role) for every grant in the tree's policy; a scoped one reads ``writer on hosts``."""
        with self.translated("read the ACLs of", self.layout.root):
            return [(acl.acl_user(g.acl) or f"{g.acl.id.scheme}:{g.acl.id.id}",
                     acl.role_of(g.acl) + (f" on {g.scope}" if g.scope else ""))
                    for g in acl.policy(self.client, self.layout)]
