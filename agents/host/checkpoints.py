"""Where each tailed file was read up to, persisted atomically so a crash repeats and loses nothing.

The store is one JSON file, replaced by write-to-temp + fsync + rename: after a SIGKILL it holds
either the old or the new checkpoints, never a torn mix. Offsets are committed only once the
collector acknowledged the lines before them.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class FileState:
    """One file the agent knows, by content: ``head_hash`` is the SHA-1 of its first ``head_len`` bytes."""

    file_id: str
    path: str
    dev: int
    inode: int
    head_len: int
    head_hash: str
    offset: int = 0          # acknowledged up to here
    done: bool = False       # rotated away and read to the end
    last_seen: float = 0.0   # when a scan last found it (states unseen for a day are forgotten)


class CheckpointStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.states: dict[str, FileState] = {}
        self.load()

    def load(self) -> None:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except ValueError as exc:
            raise ValueError(f"checkpoint file {self.path} is corrupt: {exc}") from exc
        self.states = {item["file_id"]: FileState(**item) for item in raw.get("files", [])}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = json.dumps({"version": 1, "files": [asdict(s) for s in self.states.values()]})
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
