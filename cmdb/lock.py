"""A named distributed lock (kazoo's :class:`~kazoo.recipe.lock.Lock`) that says who holds it and since when.

Usage (the deployer around a rollout)::

    with cmdb.lock("deploy-web", who="alice"):
        ...                                  # one rollout of web at a time

    holder = lock_holder(cmdb, "deploy-web") # LockHolder(who='alice', host='ops-1', pid=4242, since=...)

The lock node disappears with its owner's session, so a crashed deployer never holds it forever.
"""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import KazooException, NoNodeError
from kazoo.exceptions import LockTimeout as KazooLockTimeout
from kazoo.recipe.lock import Lock

from foundation.clock import utc_now_iso

from .errors import CmdbError

if TYPE_CHECKING:
    from .connection import Connection


class LockTimeout(CmdbError):
    """The lock stayed held by someone else for the whole timeout."""


@dataclass(frozen=True)
class LockHolder:
    name: str
    who: str
    host: str
    pid: int
    since: str
    waiting: int = 0  # contenders queued behind the holder

    @classmethod
    def parse(cls, name: str, identifier: str, waiting: int) -> LockHolder:
        try:
            data = json.loads(identifier)
            return cls(name, data.get("who", ""), data.get("host", ""), int(data.get("pid", 0)),
                       data.get("since", ""), waiting)
        except (ValueError, AttributeError):  # a contender that is not ours
            return cls(name, identifier, "", 0, "", waiting)


def _identity(who: str, since: str) -> str:
    return json.dumps({"who": who, "host": socket.gethostname(), "pid": os.getpid(), "since": since},
                      sort_keys=True)


class NamedLock:
    """One named lock; reentrant use is not supported (like kazoo's)."""

    def __init__(self, cmdb: Connection, name: str, who: str) -> None:
        self.name = name
        self.who = who
        self._cmdb = cmdb
        self.path = cmdb.layout.lock(name)
        self._lock: Lock | None = None

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; False if ``blocking`` is off and it is held, :class:`LockTimeout` on timeout."""
        cmdb = self._cmdb
        cmdb.ensure_root(self.path)
        self._lock = Lock(cmdb.client, self.path, _identity(self.who, utc_now_iso()))
        with cmdb.translated("take the lock", self.path):
            try:
                got = self._lock.acquire(blocking=blocking, timeout=timeout)
            except KazooLockTimeout as exc:
                holder = self.holder()
                by = f" by {holder.who} on {holder.host} since {holder.since}" if holder else ""
                raise LockTimeout(f"lock {self.name!r} still held{by} after {timeout:g}s") from exc
            if got and self._lock.node:
                # Record the moment we got it (the identifier was written when we started waiting).
                cmdb.client.retry(cmdb.client.set, f"{self.path}/{self._lock.node}",
                                  _identity(self.who, utc_now_iso()).encode())
        return got

    def release(self) -> None:
        if self._lock is not None:
            try:
                self._lock.release()
            except KazooException:
                pass  # the session is gone, and the lock node with it

    def holder(self) -> LockHolder | None:
        return lock_holder(self._cmdb, self.name)

    def __enter__(self) -> NamedLock:
        self.acquire()
        return self

    def __exit__(self, *_: Any) -> None:
        self.release()


def lock_holder(cmdb: Connection, name: str) -> LockHolder | None:
    """Who holds the lock ``name`` now, or None."""
    path = cmdb.layout.lock(name)
    with cmdb.translated("read the lock", path):
        if cmdb.client.retry(cmdb.client.exists, path) is None:
            return None
        try:
            contenders = Lock(cmdb.client, path).contenders()
        except NoNodeError:
            return None
    if not contenders:
        return None
    return LockHolder.parse(name, contenders[0], len(contenders) - 1)


def locks(cmdb: Connection) -> list[LockHolder]:
    """Every lock that is held now."""
    try:
        names = cmdb.retry(cmdb.client.get_children, cmdb.layout.locks)
    except NoNodeError:
        return []
    return [holder for name in sorted(names) if (holder := lock_holder(cmdb, name)) is not None]
