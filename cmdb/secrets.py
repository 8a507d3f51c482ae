"""Secrets: JSON values under ``<root>/secrets/<name...>`` with no history at all.

A secret's old value is gone once it is replaced: there is no change record to read it back
from. The subtree is outside every grant on the whole tree (see :mod:`cmdb.acl`): only admins
and accounts granted a scope in it (``secrets/dashboard``) may read or write there::

    cmdb.secrets.set("dashboard/users/alice", {"password_hash": "scrypt:..."})
    value, version = cmdb.secrets.get("dashboard/users/alice")
    cmdb.secrets.set("dashboard/users/alice", {...}, expect_version=version)   # compare-and-set
    cmdb.secrets.names("dashboard/users")                                     # ["alice"]
    cmdb.secrets.delete("dashboard/users/alice")
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from .errors import KeyNotFound, VersionConflict
from .store import encode

if TYPE_CHECKING:
    from .connection import Connection


class SecretStore:
    """Values without history, readable by admins and by the accounts granted their subtree."""

    def __init__(self, cmdb: Connection) -> None:
        self._cmdb = cmdb

    def get(self, name: str) -> tuple[Any, int]:
        """(value, version); :class:`KeyNotFound` if there is none."""
        cmdb = self._cmdb
        path = cmdb.layout.secret(name)
        try:
            data, stat = cmdb.retry(cmdb.client.get, path)
        except NoNodeError:
            data, stat = b"", None
        if not data or stat is None:
            raise KeyNotFound(f"no such secret: {name}")
        return json.loads(data), stat.version

    def set(self, name: str, value: Any, *, expect_version: int | None = None) -> int:
        """Write ``value`` (with ``expect_version``: only if still at that version); the new version."""
        cmdb = self._cmdb
        path = cmdb.layout.secret(name)
        data = encode(value)
        cmdb.ensure_root(path)
        with cmdb.translated("write", path):
            try:
                return cmdb.client.retry(cmdb.client.set, path, data, -1 if expect_version is None else expect_version
                                         ).version
            except BadVersionError:
                raise VersionConflict(name, expect_version, self._version(path)) from None
            except NoNodeError:
                if expect_version not in (None, 0):
                    raise VersionConflict(name, expect_version, 0) from None
            cmdb.client.retry(cmdb.make_path, path.rsplit("/", 1)[0])
            try:
                cmdb.client.retry(cmdb.client.create, path, data, acl=cmdb.acl_for(path))
            except NodeExistsError:
                raise VersionConflict(name, expect_version, self._version(path)) from None
            return 0

    def delete(self, name: str) -> None:
        """Remove the secret; :class:`KeyNotFound` if there is none."""
        cmdb = self._cmdb
        path = cmdb.layout.secret(name)
        with cmdb.translated("delete", path):
            try:
                cmdb.client.retry(cmdb.client.delete, path)
            except NoNodeError:
                raise KeyNotFound(f"no such secret: {name}") from None

    def names(self, prefix: str) -> list[str]:
        """The names directly below ``prefix``, sorted."""
        cmdb = self._cmdb
        try:
            return sorted(cmdb.retry(cmdb.client.get_children, cmdb.layout.secret(prefix)))
        except NoNodeError:
            return []

    def _version(self, path: str) -> int:
        cmdb = self._cmdb
        stat = cmdb.retry(cmdb.client.exists, path)
        return stat.version if stat else 0
