"""Appends encoded lines to files from one background thread, a batch at a time.

The request thread only appends an item to a deque: ``submit`` *is* the deque's ``append``
(no Python frame, no lock, no wake-up). Waking a writer thread for every log record costs more
than the record itself, because each wake-up makes the threads of a busy service pass the GIL
back and forth. Instead the writer thread wakes every ``interval`` seconds and takes what each
of its writers holds. A writer whose items are records of :mod:`agents.app.lines` (it was given
a :class:`~agents.app.lines.LineFormat`) hands them to the thread's line encoder process
(:mod:`agents.app.encoder_process`), which makes the lines and writes the file off the
service's GIL; any other writer, or one whose encoder process is gone, encodes them here and
writes its file with one ``write`` call.

Writers made with the same intervals share one thread (the app agent's span and log files
wake it once, not twice), and the thread waits on a lock's timed ``acquire`` (one C call)
rather than an ``Event`` (a dozen Python calls per wake-up).

While items come the thread wakes every 0.1 s. A wake-up has a price of its own (the thread
must win the GIL from busy request threads, and a batch's first lines run with cold caches):
in the sample backend under load the writer took 27 us of CPU per request waking every
20 ms, 18 us every 0.1 s and 16 us every 0.25 s, while the garbage collector's share grew by
about 1.5 us per request from 20 ms to 0.1 s (items kept longer live through more young
collections). While nothing comes, the wait doubles up to ``idle_interval``, so an idle
service is not woken ten times a second.

If the thread cannot keep up (a stalled disk), a writer keeps the newest ``max_pending``
items: older ones are dropped rather than piling up in memory, and the drop is logged.
"""
from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .encoder_process import EncoderProcess
from .lines import LineFormat

log = logging.getLogger(__name__)
ENCODER_SETTING = "OAM_APP_AGENT_LINES"
"""``process`` (the default): records of a LineFormat go to a line encoder process; ``thread``: made here."""
_slots = itertools.count(1)


class _WriterThread:
    """One daemon thread that flushes its writers every ``interval`` (longer while idle).

    Writers join and leave under ``_threads_lock``; the thread stops when the last one leaves.
    """

    def __init__(self, interval: float, idle_interval: float, name: str) -> None:
        self.interval, self.idle_interval, self.name = interval, idle_interval, name
        self.writers: tuple[BatchLineWriter, ...] = ()
        self.stopped = False
        in_process = os.environ.get(ENCODER_SETTING, "process").strip().lower() == "thread"
        self.encoder: EncoderProcess | None = None if in_process else EncoderProcess()
        self._start()

    def _start(self) -> None:
        self._wake = threading.Lock()  # held while no wake-up is pending; release() wakes the thread
        self._wake.acquire()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def after_fork(self) -> None:
        for writer in self.writers:
            writer.forget_after_fork()
        if not self.stopped:
            self._start()  # the parent's thread did not come along

    def wake(self) -> None:
        try:
            self._wake.release()
        except RuntimeError:  # a wake-up is already pending
            pass

    def stop(self) -> None:
        self.stopped = True
        self.wake()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        if self.encoder is not None:
            self.encoder.close()

    def _run(self) -> None:
        wait = self.interval
        while not self.stopped:
            self._wake.acquire(timeout=wait)
            written = 0
            for writer in self.writers:
                try:
                    written += writer.write_pending()
                except Exception:  # the thread must outlive a full disk; the batch in hand is lost
                    log.exception("cannot write to %s", writer.path)
            wait = self.interval if written else min(wait * 2, self.idle_interval)


_threads: dict[tuple[float, float], _WriterThread] = {}
_threads_lock = threading.Lock()


def _join(writer: BatchLineWriter, interval: float, idle_interval: float, name: str) -> _WriterThread:
    """The running thread for these intervals (started if there is none), with ``writer`` added."""
    with _threads_lock:
        thread = _threads.get((interval, idle_interval))
        if thread is None:
            thread = _threads[(interval, idle_interval)] = _WriterThread(interval, idle_interval, name)
        thread.writers = (*thread.writers, writer)
        return thread


def _leave(writer: BatchLineWriter, thread: _WriterThread) -> None:
    with _threads_lock:
        thread.writers = tuple(w for w in thread.writers if w is not writer)
        last = not thread.writers
        if last:
            del _threads[(thread.interval, thread.idle_interval)]
    if last:
        thread.stop()


def _after_fork_in_child() -> None:
    global _threads_lock
    _threads_lock = threading.Lock()  # another thread may have held it at the fork
    for thread in _threads.values():
        thread.after_fork()  # a forked worker (a pre-forking server) gets a writer thread of its own


os.register_at_fork(after_in_child=_after_fork_in_child)


class BatchLineWriter:
    """``submit(item)`` from any thread; each item becomes one line of ``path``.

    ``encode`` is either ``item -> line`` (bytes, no newline), run on the writer thread, or a
    :class:`~agents.app.lines.LineFormat`, whose records the line encoder process may encode.
    """

    def __init__(self, path: Path, encode: Callable[[Any], bytes] | LineFormat, interval: float = 0.1,
                 idle_interval: float = 0.5, max_pending: int = 100_000, name: str = "oam-line-writer") -> None:
        self.path = Path(path).absolute()  # the encoder process may start after a chdir
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._format = encode if isinstance(encode, LineFormat) else None
        self._encode = encode.encode_function() if isinstance(encode, LineFormat) else encode
        self._slot = next(_slots)
        self._sent = False  # has the encoder process been handed any of this writer's records?
        self._pending: collections.deque[Any] = collections.deque(maxlen=max_pending)
        self.submit: Callable[[Any], None] = self._pending.append
        """Queue ``item`` for writing (the deque's own ``append``: safe from any thread, no Python frame)."""
        self._drain_lock = threading.Lock()
        self._file = open(self.path, "ab")
        self._closed = False
        self._thread = _join(self, interval, max(interval, idle_interval), name)

    def forget_after_fork(self) -> None:
        """In a forked child: drop what the parent had queued (the parent writes it) and its lock."""
        self._pending.clear()  # the parent writes what it had queued
        self._drain_lock = threading.Lock()

    def write_pending(self) -> int:
        """Hand everything submitted so far to the encoder process, or encode and write it here; how many items."""
        with self._drain_lock:
            pending = self._pending
            count = len(pending)
            if not count:
                return 0
            if count >= pending.maxlen:  # type: ignore[operator]
                log.warning("lines for %s dropped: the writer could not keep up (%d waiting; the oldest went)",
                            self.path, count)
            popleft = pending.popleft
            items = [popleft() for _ in range(count)]  # what others append meanwhile waits for the next time
            encoder = self._thread.encoder if self._format is not None else None
            if encoder is not None:
                if encoder.send(self._slot, self.path, self._format, items):
                    self._sent = True
                    return count
                if self._sent:  # lines made here go after those the encoder process still holds
                    encoder.sync()
            lines = []
            for item in items:
                try:
                    lines.append(self._encode(item))
                except Exception:  # one bad item never costs the others their line
                    log.exception("cannot encode %r for %s", type(item).__name__, self.path)
            if lines and not self._file.closed:
                self._file.write(b"\n".join(lines) + b"\n")
                self._file.flush()
        return count

    def flush(self) -> None:
        """Write everything submitted so far, from any thread; returns once it is in the file.

        With an encoder process that is too slow (10 s) or gone, it returns without waiting
        longer; that is logged.
        """
        self.write_pending()
        encoder = self._thread.encoder if self._format is not None else None
        if encoder is not None:
            encoder.sync()

    def close(self) -> None:
        """Write what is pending, leave the writer thread (which stops with its last writer), close the file."""
        if self._closed:
            return
        self._closed = True
        self.flush()
        _leave(self, self._thread)  # the last writer to leave ends the thread and its encoder process
        self.flush()  # what came meanwhile (made here if the encoder process has ended)
        with self._drain_lock:
            self._file.close()
