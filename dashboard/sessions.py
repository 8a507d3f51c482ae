"""Dashboard login sessions kept on the server, in the CMDB's ZooKeeper tree, so they can be ended.

One znode per session, without history (a login is not a configuration change)::

    <cmdb root>/secrets/dashboard/sessions/<user>/<session id>    {"user_version": <version of the user's record>}

(in the CMDB's secrets: readable by admins and the dashboard's account only)

The signed cookie carries only the user name and the session id. A request is let in only while
the session's znode exists, is younger than the absolute limit, and the user's record still has
the version it had at login; the role is read from that record, never from the cookie. So
logout (delete the znode) ends that session, and saving or removing the user (a new record
version; :meth:`SessionTree.end_all` also deletes the znodes) ends every session of that user.
:class:`CheckedSessions` caches each answer for at most ``CACHE_SECONDS``, which bounds how long
another dashboard process may still let an ended session in. While ZooKeeper cannot be reached
(when nobody can end a session either) the last answer serves for up to ``OUTAGE_GRACE_SECONDS``,
so pages that read only Elasticsearch keep working through a short CMDB outage::

    tree = SessionTree(cmdb)
    sid = tree.start("alice", user_version=3)
    tree.read("alice", sid)        # Session(user_version=3, age_s=0.0)
    tree.end("alice", sid)         # that session only
    tree.end_all("alice")          # every session of alice
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import NodeExistsError, NoNodeError, NotEmptyError

from cmdb import Unreachable
from cmdb.paths import validate_segment

if TYPE_CHECKING:
    from cmdb import Cmdb

ABSOLUTE_LIMIT_S = 12 * 3600
MAX_SESSIONS_PER_USER = 50
CACHE_SECONDS = 1.0
OUTAGE_GRACE_SECONDS = 60.0
_SID_CHARS = set("0123456789abcdef")


@dataclass(frozen=True)
class Session:
    user_version: int
    age_s: float


def valid_sid(sid: Any) -> bool:
    return isinstance(sid, str) and len(sid) == 32 and set(sid) <= _SID_CHARS


class SessionTree:
    """The session znodes of one CMDB tree: start, read, end one, end all of a user."""

    def __init__(self, cmdb: Cmdb) -> None:
        self.cmdb = cmdb
        self.root = cmdb.layout.secret("dashboard/sessions")

    def _user_path(self, name: str) -> str:
        return f"{self.root}/{validate_segment(name, 'user name')}"

    def start(self, name: str, user_version: int) -> str:
        """A new session of ``name`` (its oldest ones beyond the per-user limit, or too old, removed)."""
        cmdb, sid = self.cmdb, secrets.token_hex(16)
        path = self._user_path(name)
        cmdb.ensure_root(path)
        data = json.dumps({"user_version": user_version}).encode()
        with cmdb.translated("write", path):
            try:
                cmdb.client.retry(cmdb.make_path, path)
                cmdb.client.retry(cmdb.client.create, f"{path}/{sid}", data, acl=cmdb.acl_for(f"{path}/{sid}"))
            except NodeExistsError:  # 128 random bits: only a retried create that had gone through
                pass
        self._prune(path)
        return sid

    def read(self, name: str, sid: str) -> Session | None:
        """The session, or None if it was ended, never existed or is past the absolute limit."""
        if not valid_sid(sid):
            return None
        cmdb, path = self.cmdb, f"{self._user_path(name)}/{sid}"
        try:
            data, stat = cmdb.retry(cmdb.client.get, path)
        except NoNodeError:
            return None
        age = time.time() - stat.ctime / 1000
        try:
            version = int(json.loads(data)["user_version"])
        except (ValueError, TypeError, KeyError):
            return None
        return Session(version, age) if age <= ABSOLUTE_LIMIT_S else None

    def end(self, name: str, sid: str) -> None:
        if valid_sid(sid):
            self._delete(f"{self._user_path(name)}/{sid}")

    def end_all(self, name: str) -> None:
        """End every session of ``name`` (after a password or role change, or removal)."""
        cmdb, path = self.cmdb, self._user_path(name)
        try:
            children = cmdb.retry(cmdb.client.get_children, path)
        except NoNodeError:
            return
        for sid in children:
            self._delete(f"{path}/{sid}")
        try:
            self._delete(path)
        except NotEmptyError:  # a login made meanwhile; its user version is already stale
            pass

    def _delete(self, path: str) -> None:
        cmdb = self.cmdb
        with cmdb.translated("write", path):
            try:
                cmdb.client.retry(cmdb.client.delete, path)
            except NoNodeError:
                pass

    def _prune(self, path: str) -> None:
        cmdb = self.cmdb
        stats = []
        for sid in cmdb.retry(cmdb.client.get_children, path):
            stat = cmdb.retry(cmdb.client.exists, f"{path}/{sid}")
            if stat is not None:
                stats.append((stat.ctime, sid))
        stats.sort(reverse=True)
        cutoff = (time.time() - ABSOLUTE_LIMIT_S) * 1000
        for index, (ctime, sid) in enumerate(stats):
            if index >= MAX_SESSIONS_PER_USER or ctime < cutoff:
                self._delete(f"{path}/{sid}")


class CheckedSessions:
    """Answers of ``verify(name, sid)`` cached for ``ttl`` seconds; ending a session here forgets it at once.
    If ``verify`` raises one of ``unavailable``, an answer up to ``grace`` seconds old stands in."""

    def __init__(self, verify: Callable[[str, str], Any], ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000,
                 unavailable: tuple[type[Exception], ...] = (Unreachable,),
                 grace: float = OUTAGE_GRACE_SECONDS) -> None:
        self._verify, self._ttl, self._clock, self._max = verify, ttl, clock, max_entries
        self._unavailable, self._grace = unavailable, grace
        self._answers: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def check(self, name: str, sid: str) -> Any:
        now = self._clock()
        with self._lock:
            cached = self._answers.get((name, sid))
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            answer = self._verify(name, sid)
        except self._unavailable:
            if cached is not None and now - cached[0] < self._grace:
                return cached[1]
            raise
        with self._lock:
            if len(self._answers) >= self._max:
                self._answers = {k: v for k, v in self._answers.items() if now - v[0] < self._ttl}
                if len(self._answers) >= self._max:
                    self._answers.clear()
            self._answers[(name, sid)] = (now, answer)
        return answer

    def forget(self, name: str) -> None:
        """Drop every cached answer about ``name``."""
        with self._lock:
            self._answers = {k: v for k, v in self._answers.items() if k[0] != name}
