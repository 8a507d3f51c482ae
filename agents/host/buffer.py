"""A bounded on-disk buffer for metric batches while no collector accepts them.

One file per batch, fsynced, named by sequence so they replay oldest first. When the buffer is
full the oldest batches are dropped (and counted): fresh metrics matter more than old ones.
Log lines never come here — their files are their buffer, and tailing pauses instead.
"""
from __future__ import annotations

import os
from pathlib import Path


class DiskBuffer:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.dropped_batches = 0
        existing = self._files()
        self._next = int(existing[-1].stem) + 1 if existing else 0

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("*.batch"), key=lambda p: int(p.stem))

    def size(self) -> int:
        return sum(path.stat().st_size for path in self._files())

    def __len__(self) -> int:
        return len(self._files())

    def put(self, lines: list[str]) -> None:
        data = ("\n".join(lines) + "\n").encode()
        files = self._files()
        total = sum(path.stat().st_size for path in files)
        while files and total + len(data) > self.max_bytes:
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink()
            self.dropped_batches += 1
        if len(data) > self.max_bytes:
            self.dropped_batches += 1
            return
        path = self.directory / f"{self._next:012d}.batch"
        self._next += 1
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def oldest(self) -> tuple[Path, list[str]] | None:
        files = self._files()
        if not files:
            return None
        return files[0], files[0].read_text().splitlines()

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
