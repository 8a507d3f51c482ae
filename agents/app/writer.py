"""Appends encoded lines to a file from a background thread, a batch at a time.

The request thread only appends an item to a deque (no lock, no wake-up): waking a writer
thread for every log record costs more than the record itself, because each wake-up makes
the threads of a busy service pass the GIL back and forth. The writer wakes every
``interval`` seconds, or early when ``batch`` items wait, encodes them and writes them with
one ``write`` call. If it cannot keep up (a stalled disk), items beyond ``max_pending`` are
dropped and counted rather than piling up in memory; the count is reported in the log.

The interval is short (20 ms) while items come: a span or record kept longer outlives the
garbage collector's young generations, and every object promoted to the old one brings the
next full collection of the service's whole heap closer (it measurably doubled the collector's
time in a busy backend). While nothing comes, the wait doubles up to ``idle_interval``, so an
idle service is not woken fifty times a second.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class BatchLineWriter:
    """``submit(item)`` from any thread; ``encode(item)`` -> one line (bytes, no newline), run on the writer thread."""

    def __init__(self, path: Path, encode: Callable[[Any], bytes], interval: float = 0.02,
                 idle_interval: float = 0.5, batch: int = 1024, max_pending: int = 100_000,
                 name: str = "oam-line-writer") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._encode = encode
        self._interval = interval
        self._idle_interval = max(interval, idle_interval)
        self._batch = batch
        self._max_pending = max_pending
        self.dropped = 0
        self._pending: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._file = open(self.path, "ab")
        self._closed = False
        self._name = name
        self._start_thread()
        # A forked worker (a pre-forking server) gets a writer thread of its own.
        this = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (writer := this()) is not None and writer._after_fork())

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _after_fork(self) -> None:
        self._pending.clear()  # the parent writes what it had queued
        self._wake, self._drain_lock = threading.Event(), threading.Lock()
        if not self._closed:
            self._start_thread()

    def submit(self, item: Any) -> None:
        waiting = len(self._pending)
        if waiting >= self._batch:
            if waiting >= self._max_pending:
                self.dropped += 1
                return
            self._wake.set()
        self._pending.append(item)

    def _run(self) -> None:
        wait = self._interval
        while not self._closed:
            self._wake.wait(wait)
            self._wake.clear()
            try:
                written = self.flush()
            except Exception:  # the writer must outlive a full disk; the batch in hand is lost
                log.exception("cannot write to %s", self.path)
                written = 0
            wait = self._interval if written else min(wait * 2, self._idle_interval)

    def flush(self) -> int:
        """Encode and write everything submitted so far (callable from any thread); how many lines."""
        with self._drain_lock:
            lines = []
            pending = self._pending
            while pending:
                item = pending.popleft()
                try:
                    lines.append(self._encode(item))
                except Exception:  # one bad item never costs the others their line
                    log.exception("cannot encode %r for %s", type(item).__name__, self.path)
            if lines and not self._file.closed:
                self._file.write(b"\n".join(lines) + b"\n")
                self._file.flush()
        if self.dropped:
            dropped, self.dropped = self.dropped, 0
            log.warning("%d lines for %s dropped: the writer could not keep up", dropped, self.path)
        return len(lines)

    def close(self) -> None:
        """Write what is pending, stop the thread and close the file."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()
        with self._drain_lock:
            self._file.close()
