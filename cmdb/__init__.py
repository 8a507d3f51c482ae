"""The CMDB on ZooKeeper: a versioned configuration tree, live hosts, watches, locks and ACLs.

Usage::

    from cmdb import Cmdb, HostFacts

    with Cmdb("127.0.0.1:2181", user="deployer", password=secret) as cmdb:
        cmdb.store.set("prod/web/db", {"host": "db1"}, expect_version=0, comment="first db")
        cmdb.watch("prod/web/db", lambda change: print(change.version, change.value))
        cmdb.inventory.register(HostFacts("web-1", role="web", environment="prod", services=["web"]))
        with cmdb.lock("deploy-web"):
            ...
"""
from __future__ import annotations

from .client import Cmdb
from .connection import Credentials, connect
from .errors import (
    CmdbError,
    InvalidKey,
    InvalidValue,
    KeyNotFound,
    PermissionDenied,
    SchemaViolation,
    Unreachable,
    VersionConflict,
)
from .events import ChangeSpool, configuration_event
from .hosts import HostFacts, HostRegistry, HostStatus
from .lock import LockHolder, LockTimeout, NamedLock, lock_holder, locks
from .paths import DEFAULT_ROOT, Layout
from .records import ChangeRecord, Entry
from .schema import SchemaRegistry
from .secrets import SecretStore
from .store import ConfigStore
from .transfer import PlannedChange, dump_yaml, export_tree, import_tree, load_yaml
from .watch import Change, KeyWatch

__all__ = [
    "DEFAULT_ROOT", "Change", "ChangeRecord", "ChangeSpool", "Cmdb", "CmdbError", "ConfigStore", "Credentials",
    "Entry", "HostFacts", "HostRegistry", "HostStatus", "InvalidKey", "InvalidValue", "KeyNotFound", "KeyWatch",
    "Layout", "LockHolder", "LockTimeout", "NamedLock", "PermissionDenied", "PlannedChange", "SchemaRegistry",
    "SchemaViolation", "SecretStore", "Unreachable", "VersionConflict", "configuration_event", "connect", "dump_yaml",
    "export_tree", "import_tree", "load_yaml", "lock_holder", "locks",
]
