"""Tail files by content, not by name: rotation by rename or copy-truncate loses and repeats nothing.

A file is known by the SHA-1 of its first bytes (``head``), and by its device and inode while it
keeps them:

* renamed (``app.log`` -> ``app.log.1``): same inode, same head — reading goes on where it was;
* copied then truncated: the copy has the old head, so it takes over the old file's position;
  the truncated original is new content and starts at offset 0;
* deleted while open: the open descriptor is read to the end first.

Only complete lines are read. :meth:`Tailer.read` moves an in-memory read position; the
acknowledged offset in the :class:`CheckpointStore` moves only by :meth:`Tailer.ack`, so lines
read but never acknowledged are read again after a restart, under the same document ids.
"""
from __future__ import annotations

import glob
import hashlib
import os
import time
from dataclasses import dataclass, field

from .checkpoints import CheckpointStore, FileState

HEAD_BYTES = 1024
FORGET_AFTER_SECONDS = 86400.0


@dataclass
class Line:
    file_id: str
    path: str
    offset: int   # where the line starts
    end: int      # just past its newline
    text: str


@dataclass
class _Open:
    state: FileState
    handle: object
    position: int
    missed_scans: int = 0
    lag: int = field(default=0)


def _head(path: str, length: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(length)


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class Tailer:
    def __init__(self, patterns: list[str], store: CheckpointStore, head_bytes: int = HEAD_BYTES,
                 chunk_bytes: int = 1 << 20) -> None:
        self.patterns = patterns
        self.store = store
        self.head_bytes = head_bytes
        self.chunk_bytes = chunk_bytes
        self.open: dict[str, _Open] = {}
        self._orphans: dict[str, int] = {}  # truncated files' read positions, for their copies

    # -- discovery ------------------------------------------------------------------------
    def _identify(self, path: str, st: os.stat_result) -> FileState | None:
        """The known file at ``path``, a new one, or None if it has no complete line yet."""
        candidates = [s for s in self.store.states.values() if not s.done and st.st_size >= s.head_len]
        same_inode = [s for s in candidates if (s.dev, s.inode) == (st.st_dev, st.st_ino)]
        for state in same_inode + [s for s in candidates if s not in same_inode]:
            if st.st_size >= state.offset and _sha1(_head(path, state.head_len)) == state.head_hash:
                return state
        head = _head(path, self.head_bytes)
        if b"\n" not in head and len(head) < self.head_bytes:
            return None  # wait for one complete line before naming the file
        head_hash = _sha1(head)
        file_id = _sha1(f"{st.st_dev}:{st.st_ino}:{head_hash}:{len(head)}".encode())[:20]
        state = FileState(file_id, path, st.st_dev, st.st_ino, len(head), head_hash, last_seen=time.time())
        self.store.states[file_id] = state
        self.store.save()  # named before anything of it is shipped: its ids never change
        return state

    def scan(self) -> None:
        """Find new, renamed, copied and truncated files matching the patterns."""
        seen: set[str] = set()
        now = time.time()
        paths = sorted({p for pattern in self.patterns for p in glob.glob(pattern)})
        for path in paths:
            try:
                st = os.stat(path)
                state = self._identify(path, st)
            except OSError:
                continue
            if state is None or state.file_id in seen:
                continue
            seen.add(state.file_id)
            state.last_seen = now
            current = self.open.get(state.file_id)
            moved = (state.dev, state.inode) != (st.st_dev, st.st_ino)
            if current is not None and not moved:
                current.missed_scans = 0
                state.path = path
                continue
            if current is not None:  # a copy took over (copy-truncate): read on from the copy
                current.handle.close()
            state.path, state.dev, state.inode = path, st.st_dev, st.st_ino
            handle = open(path, "rb")
            orphan = self._orphans.pop(state.file_id, None)
            start = current.position if current is not None else orphan if orphan is not None else state.offset
            handle.seek(start)
            self.open[state.file_id] = _Open(state, handle, start)
        for file_id, current in list(self.open.items()):
            if file_id not in seen:
                current.missed_scans += 1
        stale = [file_id for file_id, state in self.store.states.items()
                 if file_id not in self.open and now - state.last_seen > FORGET_AFTER_SECONDS]
        for file_id in stale:  # finished long ago, or truncated with no copy ever found
            del self.store.states[file_id]
            self._orphans.pop(file_id, None)

    # -- reading --------------------------------------------------------------------------
    def read(self, max_bytes: int = 4 << 20) -> list[Line]:
        """Complete lines not read yet, from every open file, up to about ``max_bytes``."""
        lines: list[Line] = []
        budget = max_bytes
        for file_id, current in list(self.open.items()):
            if budget <= 0:
                break
            size = os.fstat(current.handle.fileno()).st_size
            if size < current.position or not self._same_head(current):
                # Truncated in place (copy-truncate), perhaps already written again past our
                # position: stop reading this descriptor but keep the file's state open, so the
                # copy, when a scan finds it, resumes from our position.
                current.handle.close()
                self._orphans[file_id] = current.position
                del self.open[file_id]
                continue
            data = current.handle.read(min(self.chunk_bytes, budget))
            cut = data.rfind(b"\n") + 1
            if cut < len(data):
                current.handle.seek(current.position + cut)
            position = current.position
            for raw in data[:cut].split(b"\n")[:-1]:
                end = position + len(raw) + 1
                lines.append(Line(file_id, current.state.path, position, end, raw.decode("utf-8", "replace")))
                position = end
            current.position = position
            current.lag = size - position
            budget -= cut
            if cut == 0 and current.missed_scans >= 2 and size == current.position:
                self._finish(file_id)  # rotated away or deleted, and read to the end
        return lines

    @staticmethod
    def _same_head(current: _Open) -> bool:
        """True while the descriptor still holds the content the file is known by."""
        head = os.pread(current.handle.fileno(), current.state.head_len, 0)
        return _sha1(head) == current.state.head_hash

    def _finish(self, file_id: str) -> None:
        current = self.open.pop(file_id)
        current.handle.close()
        current.state.done = True

    def ack(self, file_id: str, end: int) -> None:
        """The collector has everything of ``file_id`` before ``end``."""
        state = self.store.states.get(file_id)
        if state is not None and end > state.offset:
            state.offset = end

    def lag(self) -> dict[str, int]:
        """Unread bytes per open file path."""
        return {current.state.path: current.lag for current in self.open.values()}

    def close(self) -> None:
        for current in self.open.values():
            current.handle.close()
        self.open.clear()
