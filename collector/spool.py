"""A bounded on-disk spool of index actions: fsynced on append, replayed oldest first.

Usage::

    spool = Spool(Path("/var/lib/oam/collector/spool"), max_bytes=1 << 30)
    spool.append(actions)               # durable when it returns; SpoolFull when over the bound
    segment = spool.oldest()            # the oldest batch, or None
    spool.finish(segment, remaining)    # delete it, or keep only what still needs delivering

Each append is one segment file (NDJSON of actions) written to a temporary name, fsynced, renamed
and the directory fsynced, so a crash (even SIGKILL) leaves whole segments or none. Segment names
are increasing sequence numbers, which is the replay order. One collector owns a spool directory at
a time (an advisory lock, released by the kernel if the process dies).
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .decode import Action

SUFFIX = ".ndjson"


class SpoolFull(Exception):
    """Appending would take the spool over its bound."""


class SpoolLocked(RuntimeError):
    """Another running collector owns this spool directory."""


@dataclass(frozen=True)
class Segment:
    path: Path
    size: int

    def actions(self) -> list[Action]:
        with open(self.path, "rb") as handle:
            return [Action.from_json(json.loads(line)) for line in handle if line.strip()]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _encode(actions: list[Action]) -> bytes:
    return b"".join(json.dumps(action.to_json(), separators=(",", ":")).encode() + b"\n" for action in actions)


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.directory / ".lock", "a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise SpoolLocked(f"spool directory {self.directory} is in use by another collector") from None
        self._mutex = threading.Lock()
        for leftover in self.directory.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)  # a crash mid-append: that batch was never acknowledged
        self._segments = {path: path.stat().st_size for path in self.directory.glob(f"*{SUFFIX}")}
        self._next = max((int(path.stem) for path in self._segments), default=0) + 1

    def close(self) -> None:
        self._lock_file.close()

    @property
    def bytes(self) -> int:
        with self._mutex:
            return sum(self._segments.values())

    def __len__(self) -> int:
        with self._mutex:
            return len(self._segments)

    def empty(self) -> bool:
        with self._mutex:
            return not self._segments

    def append(self, actions: list[Action]) -> None:
        """Write ``actions`` as one segment and fsync it; raises :class:`SpoolFull` over the bound."""
        if not actions:
            return
        data = _encode(actions)
        with self._mutex:
            if sum(self._segments.values()) + len(data) > self.max_bytes:
                raise SpoolFull(f"spool {self.directory} would exceed {self.max_bytes} bytes")
            sequence = self._next
            self._next += 1
            path = self.directory / f"{sequence:020d}{SUFFIX}"
            self._segments[path] = len(data)  # reserve the space before the slow write
        tmp = self.directory / f".{sequence:020d}.tmp"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            _fsync_dir(self.directory)
        except BaseException:
            tmp.unlink(missing_ok=True)
            with self._mutex:
                self._segments.pop(path, None)
            raise

    def oldest(self) -> Segment | None:
        """The segment to replay next; only whole (renamed) segments are listed."""
        with self._mutex:
            ready = sorted(path for path in self._segments if path.exists())
            return Segment(ready[0], self._segments[ready[0]]) if ready else None

    def finish(self, segment: Segment, remaining: list[Action] | None = None) -> None:
        """Drop a replayed segment, or rewrite it with the actions that still need delivering."""
        if remaining:
            data = _encode(remaining)
            tmp = segment.path.with_name(f".{segment.path.stem}.tmp")
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, segment.path)
            with self._mutex:
                self._segments[segment.path] = len(data)
        else:
            segment.path.unlink(missing_ok=True)
            with self._mutex:
                self._segments.pop(segment.path, None)
        _fsync_dir(self.directory)
