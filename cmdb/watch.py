"""Live reload: ``watch(key, callback)`` delivers the current value, then every committed change in order.

Built on :class:`~cmdb.node_watch.NodeWatch`, which reads the node again whenever
the client reconnects, including after the session expired. When the watch fires it reads the
history records between the last version it delivered and the current one, so changes made
while the watch was being re-armed (or while ZooKeeper was away) are still delivered, one by
one, in version order::

    def reload(change: Change) -> None:
        print(change.version, change.value if change.exists else "(deleted)")

    watch = cmdb.watch("prod/web/db", reload)
    ...
    watch.stop()

If records were trimmed from the history in the meantime, the next change delivered carries
``missed`` (how many versions were skipped) so the caller knows.
"""
from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import ZnodeStat

from .errors import CmdbError, KeyNotFound
from .node_watch import NodeWatch
from .paths import validate_key
from .records import ChangeRecord

if TYPE_CHECKING:
    from .connection import Connection
    from .store import ConfigStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """One delivery to a watch callback: the key's value at ``version``.

    ``record`` (who, when, comment) is read from the history on first access; it is None for
    the first delivery (the value as it was when the watch started) or if it was trimmed.
    """

    key: str
    version: int
    exists: bool
    value: Any
    missed: int = 0
    initial: bool = False
    _load: Callable[[], ChangeRecord | None] | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def record(self) -> ChangeRecord | None:
        return None if self.initial or self._load is None else self._load()


class KeyWatch:
    """A watch on one key; see the module docstring."""

    def __init__(self, cmdb: Connection, store: ConfigStore, key: str, callback: Callable[[Change], Any]) -> None:
        self.key = validate_key(key)
        self._cmdb = cmdb
        self._store = store
        self._callback = callback
        self._delivered: int | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._node_watch = NodeWatch(cmdb.client, cmdb.layout.value(self.key), self._on_data)

    @property
    def version(self) -> int | None:
        """The last version delivered to the callback."""
        return self._delivered

    def stop(self) -> None:
        """No more callbacks."""
        self._stopped = True
        self._node_watch.stop()

    def _on_data(self, data: bytes | None, stat: ZnodeStat | None, *_: Any) -> bool | None:
        if self._stopped:
            return False
        with self._lock:
            try:
                self._catch_up(data, stat)
            except CmdbError as exc:  # ZooKeeper went away mid catch-up: try again shortly
                log.warning("watch on %s: %s; retrying", self.key, exc)
                self._retry_later()
            except Exception:
                log.exception("watch callback for %s failed", self.key)
        return None

    def _reread(self) -> None:
        if self._stopped:
            return
        try:
            data, stat = self._cmdb.retry(self._cmdb.client.get, self._cmdb.layout.value(self.key))
        except NoNodeError:
            data, stat = None, None
        except CmdbError:
            self._retry_later()
            return
        self._on_data(data, stat)

    def _retry_later(self) -> None:
        retry = threading.Timer(1.0, self._reread)
        retry.daemon = True
        retry.start()

    def _catch_up(self, data: bytes | None, stat: ZnodeStat | None) -> None:
        current = stat.version if stat is not None else 0
        if self._delivered is None or current < self._delivered:
            # First call, or the tree was wiped and rebuilt: start from what is there now.
            self._deliver(Change(self.key, current, bool(data), json.loads(data) if data else None, initial=True))
            return
        missed = 0
        for version in range(self._delivered + 1, current + 1):
            if self._stopped:
                return
            if version == current:  # the watch handed us this value already
                self._deliver(Change(self.key, version, bool(data), json.loads(data) if data else None, missed,
                                     _load=functools.partial(self._record_or_none, version)))
                return
            record = self._record_or_none(version)
            if record is None:
                missed += 1
                continue
            change = Change(self.key, version, record.has_value, record.new, missed)
            change.__dict__["record"] = record  # already read: no second fetch
            self._deliver(change)
            missed = 0

    def _record_or_none(self, version: int) -> ChangeRecord | None:
        try:
            return self._store.record(self.key, version)
        except KeyNotFound:
            return None

    def _deliver(self, change: Change) -> None:
        self._delivered = change.version
        self._callback(change)
