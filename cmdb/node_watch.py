"""Follow one ZooKeeper node's value until told to stop, on kazoo's public API only.

kazoo's ``DataWatch`` recipe can only be stopped by its callback returning False at the next
change, and stopping the client fires every watch once more, so a stopped ``DataWatch`` still
reads from a closing connection (kazoo has no public way to remove a watch:
https://github.com/python-zk/kazoo/issues/233). :class:`NodeWatch` does the same job with
``client.get``/``client.exists`` and a one-shot watch it re-arms itself; :meth:`NodeWatch.stop`
takes effect at once::

    watch = NodeWatch(client, "/oam/config/prod/web/db", lambda data, stat: print(data))
    ...
    watch.stop()

The callback gets ``(data, stat)`` now and after every change (``(None, None)`` while the node
does not exist), never twice for the same version, and again after the client reconnects.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError, NoNodeError
from kazoo.protocol.states import KazooState, WatchedEvent, ZnodeStat

log = logging.getLogger(__name__)

NodeCallback = Callable[[bytes | None, ZnodeStat | None], object]


class NodeWatch:
    """Calls ``callback(data, stat)`` with a node's value now and on every change until :meth:`stop`."""

    def __init__(self, client: KazooClient, path: str, callback: NodeCallback) -> None:
        self._client = client
        self._path = path
        self._callback = callback
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._called = False
        self._version: int | None = None
        client.add_listener(self._on_state)
        try:
            self._read()
        except BaseException:  # the first read failed (no access, no connection): leave nothing behind
            self.stop()
            raise

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        """No more callbacks, starting now; a read already running finishes without calling back."""
        self._stopped.set()
        self._client.remove_listener(self._on_state)

    def _on_event(self, _event: WatchedEvent) -> None:
        self._read()

    def _on_state(self, state: str) -> None:
        # Watches survive a reconnect within the session but not an expired one: read again.
        if state == KazooState.CONNECTED and not self.stopped:
            self._client.handler.spawn(self._read)

    def _read(self) -> None:
        with self._lock:  # the event thread and a reconnect may both ask at once
            if self.stopped:
                return
            try:
                data, stat = self._current()
            except ConnectionClosedError:  # the client is stopping
                return
            version = stat.mzxid if stat is not None else None
            if self._called and version == self._version or self.stopped:
                return
            self._called, self._version = True, version
            try:
                if self._callback(data, stat) is False:
                    self.stop()
            except Exception:  # a failing callback must not stop the watch for later changes
                log.exception("callback for %s failed", self._path)

    def _current(self) -> tuple[bytes | None, ZnodeStat | None]:
        retry = self._client.retry
        while True:
            try:
                return retry(self._client.get, self._path, watch=self._on_event)
            except NoNodeError:
                if retry(self._client.exists, self._path, watch=self._on_event) is None:
                    return None, None
                # created between the two calls: read it
