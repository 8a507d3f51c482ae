"""The line encoder process: span and log records in, ECS JSON lines written to their files.

A Python service runs its threads one at a time (the GIL), so every microsecond the agent
spends making lines is taken from request handling, even on a background thread. The writer
thread therefore hands its records, a batch every interval, to a helper process that makes the
lines and writes the files, on another core: the service pays only for a :mod:`marshal` dump
and a pipe write per batch::

    encoder = EncoderProcess()
    if not encoder.send(slot, path, LineFormat("logs", prefix), records):
        ...                                   # no encoder process: make the lines here
    encoder.sync()                            # every line sent so far is in its file

Both ends of the pipe are in this module. Frames are a 4-byte length and a marshalled tuple:
``(OPEN, slot, path, kind, prefix)``, ``(LINES, slot, records)``, ``(SYNC, seq)``; the process
answers ``0`` (8 bytes) once it is ready, and each ``SYNC`` with its ``seq`` once every earlier
line is written. It is started with ``python -m agents.app.encoder_process`` in a session of its
own and ignores SIGINT and SIGTERM (a Ctrl-C or a stop signal meant for the service does not cut
it short): it ends when its standard input closes, that is when the service closes its writers,
exits or is killed, after writing what it was sent. A file it cannot open or write is reported
on stderr and its lines are lost, as a full disk costs the writer thread its batch; the others
go on.

If the process cannot be started, or dies, :meth:`EncoderProcess.send` says so and the writer
makes its lines itself; a new process is tried after ``restart_after`` seconds. Records it was
handed and had not written when it died are lost. A forked child lets go of its parent's
processes (see :func:`_after_fork_in_child`) and starts its own when it needs one.
"""
from __future__ import annotations

import logging
import marshal
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, BinaryIO

from .lines import LineFormat

log = logging.getLogger(__name__)

OPEN, LINES, SYNC = 0, 1, 2
_LENGTH = struct.Struct(">I")
_SEQ = struct.Struct(">Q")
_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])  # where the ``agents`` package lives
_inherited: list[subprocess.Popen] = []  # a parent's encoder seen from a forked child: never waited for here
_live: "weakref.WeakSet[EncoderProcess]" = weakref.WeakSet()
# held while pipes to a process are made or closed, and by a fork: a forked child finds each
# process's pipes either not yet made or recorded on its EncoderProcess, never half-way
_pipes_lock = threading.Lock()


class EncoderProcess:
    """One line encoder process, started on first use; safe to call from any thread."""

    def __init__(self, restart_after: float = 30.0, sync_timeout: float = 10.0) -> None:
        self.restart_after, self.sync_timeout = restart_after, sync_timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._opened: set[int] = set()
        self._seq = 0
        self._failed_at: float | None = None
        self._closed = False
        _live.add(self)

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def send(self, slot: int, path: Path, line_format: LineFormat, records: list[Any]) -> bool:
        """Hand ``records`` for ``path`` to the process; False if it cannot take them (make the lines here)."""
        try:
            frame = _frame((LINES, slot, records))
        except ValueError:  # not plain data (see agents.app.lines): these lines are made in the service
            return False
        with self._lock:
            process = self._running()
            if process is None:
                return False
            if slot not in self._opened:
                frame = _frame((OPEN, slot, str(path), line_format.kind, line_format.prefix)) + frame
            if not self._write(process, frame):
                return False
            self._opened.add(slot)
            return True

    def sync(self) -> bool:
        """Wait until every line sent so far is written (False if the process is gone or too slow)."""
        with self._lock:
            process = self._process
            if process is None:
                return False
            self._seq += 1
            seq = self._seq
            if not self._write(process, _frame((SYNC, seq))):
                return False
            return self._await_ack(process, seq)

    def close(self) -> None:
        """End the process once it has written everything it was sent."""
        with self._lock:
            self._closed = True
            process = self._process
            if process is not None:
                _end(process, timeout=self.sync_timeout)
                self._process = None

    def forget_after_fork(self) -> None:
        """In a forked child: let go of the parent's process (its pipes only) and start afresh when needed.

        Called for every live encoder by the at-fork hook below, whichever writer thread owns it.
        """
        self._lock = threading.Lock()  # another thread may have held it at the fork
        process, self._process = self._process, None
        self._opened, self._failed_at = set(), None
        if process is not None:
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()  # unbuffered: closes this process's copy of the pipe, writes nothing
            _inherited.append(process)

    # -- with the lock held ------------------------------------------------------------------

    def _running(self) -> subprocess.Popen | None:
        process = self._process
        if process is not None:
            return process
        if self._closed or self._failed_at is not None and time.monotonic() - self._failed_at < self.restart_after:
            return None
        try:
            with _pipes_lock:
                process = self._process = _start()
            _await_ready(process, self.sync_timeout)
        except OSError as exc:
            if self._process is not None:
                _end(self._process, timeout=1)
            self._process, self._failed_at = None, time.monotonic()
            log.warning("no line encoder process (%s): lines are made in this process for %.0f s", exc,
                        self.restart_after)
            return None
        self._opened, self._failed_at = set(), None
        return process

    def _write(self, process: subprocess.Popen, frame: bytes) -> bool:
        try:
            view = memoryview(frame)
            while view:
                view = view[process.stdin.write(view):]  # type: ignore[union-attr]
            return True
        except (OSError, ValueError):  # the process is gone (a broken pipe) or its pipe closed
            self._lost(process)
            return False
        except BaseException:  # a KeyboardInterrupt mid-frame: the stream is cut, so is the process
            self._lost(process)
            raise

    def _await_ack(self, process: subprocess.Popen, seq: int) -> bool:
        try:
            _read_acks(process, seq, self.sync_timeout)
            return True
        except TimeoutError:
            log.warning("the line encoder process did not write its lines within %.0f s", self.sync_timeout)
            return False
        except OSError:  # its output ended: it is gone
            self._lost(process)
            return False

    def _lost(self, process: subprocess.Popen) -> None:
        if self._process is process:
            self._process, self._failed_at = None, time.monotonic()
            code = process.poll()
            log.warning("the line encoder process (pid %d) is gone%s: lines are made in this process for %.0f s",
                        process.pid, f" (exit code {code})" if code is not None else "", self.restart_after)
            _end(process, timeout=1)


def _read_acks(process: subprocess.Popen, seq: int, timeout: float) -> None:
    """Read acks until ``seq``; TimeoutError after ``timeout`` s, OSError if the output ends."""
    # Not a polling loop (kept off foundation.waiting): it blocks in poll() on the pipe for what is left.
    deadline = time.monotonic() + timeout
    fd = process.stdout.fileno()  # type: ignore[union-attr]
    poller = select.poll()  # not select(): a pipe's fd may be above 1023 in a busy service
    poller.register(fd, select.POLLIN)
    acked, pending = -1, b""
    while acked < seq:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            raise TimeoutError(f"no answer within {timeout:.0f} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise OSError("the line encoder process's output ended")
        pending += chunk
        while len(pending) >= _SEQ.size:
            (acked,) = _SEQ.unpack_from(pending)
            pending = pending[_SEQ.size:]


def _await_ready(process: subprocess.Popen, timeout: float) -> None:
    """Wait for the process's ready answer (0): it has started and imported what it needs."""
    try:
        _read_acks(process, 0, timeout)
    except OSError as exc:
        code = process.poll()
        raise OSError(f"it did not start{f' (exit code {code})' if code is not None else ''}: {exc}") from None


def _after_fork_in_child() -> None:
    global _pipes_lock
    _pipes_lock = threading.Lock()
    for encoder in list(_live):
        encoder.forget_after_fork()


def _before_fork() -> None:
    _pipes_lock.acquire()


def _after_fork_in_parent() -> None:
    _pipes_lock.release()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


def _frame(message: tuple[Any, ...]) -> bytes:
    body = marshal.dumps(message)
    return _LENGTH.pack(len(body)) + body


def _start() -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PROJECT_ROOT, env.get("PYTHONPATH"))))
    return subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            bufsize=0, env=env, start_new_session=True)


def _end(process: subprocess.Popen, timeout: float) -> None:
    with _pipes_lock:
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- the process's side ------------------------------------------------------------------------


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    while data is not None and 0 < len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            return None
        data += more
    return data if data and len(data) == size else None


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Read frames from ``requests`` until it ends, writing each file's lines; acks go to ``answers``."""
    files: dict[int, tuple[BinaryIO, Any, str] | None] = {}
    answers.write(_SEQ.pack(0))  # ready
    answers.flush()
    try:
        while True:
            header = _read_exactly(requests, _LENGTH.size)
            if header is None:
                return
            body = _read_exactly(requests, _LENGTH.unpack(header)[0])
            if body is None:
                return
            message = marshal.loads(body)
            if message[0] == LINES:
                _write_lines(files.get(message[1]), message[2])
            elif message[0] == SYNC:
                answers.write(_SEQ.pack(message[1]))
                answers.flush()
            elif message[0] == OPEN:
                _, slot, path, kind, prefix = message
                try:
                    files[slot] = (open(path, "ab"), LineFormat(kind, prefix).encode_function(), path)
                except OSError as exc:
                    log.error("cannot open %s: %s; its lines are lost", path, exc)
                    files[slot] = None
    finally:
        for target in files.values():
            if target is not None:
                target[0].close()


def _write_lines(target: tuple[BinaryIO, Any, str] | None, records: list[Any]) -> None:
    if target is None:
        log.error("%d records lost: their file could not be opened", len(records))
        return
    file, encode, path = target
    lines = []
    for record in records:
        try:
            lines.append(encode(record))
        except Exception:  # one bad record never costs the others
            log.exception("cannot encode a record for %s", path)
    if lines:
        try:
            file.write(b"\n".join(lines) + b"\n")
            file.flush()
        except OSError as exc:  # a full disk: this batch is lost, the next may fit
            log.error("cannot write %d lines to %s: %s", len(lines), path, exc)


def main() -> None:
    for stop_signal in (signal.SIGINT, signal.SIGTERM):  # the end of its input ends this process
        signal.signal(stop_signal, signal.SIG_IGN)
    logging.basicConfig(format=f"oam line encoder [{os.getpid()}]: %(message)s")
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
