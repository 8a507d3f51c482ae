"""Change events: every committed CMDB change as an ECS document (``event.category: configuration``).

They are appended as JSON lines to a local spool file and fsynced; the host agent or the
collector ships the file to Elasticsearch later. Usage::

    spool = ChangeSpool(Path("/var/lib/oam/spool/cmdb-changes.jsonl"))
    spool.emit(configuration_event(record))
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundation.version import __version__
from telemetry.ecs import ServiceInfo, change_event, read_shipping_line, shipping_line, stable_id

if TYPE_CHECKING:
    from .records import ChangeRecord

SPOOL_ENV = "OAM_CMDB_SPOOL"
SPOOL_FILE = "cmdb-changes.jsonl"


def configuration_event(record: ChangeRecord, service: ServiceInfo | None = None) -> dict[str, Any]:
    """The ECS change event of one committed change record."""
    environment, owner = record.key.split("/")[:2]
    info = service or ServiceInfo("oam-cmdb", __version__, environment=environment)
    doc = change_event(info, f"cmdb-{record.action}", record.user, target=record.key,
                       old=record.old if record.had_value else None,
                       new=record.new if record.has_value else None,
                       comment=record.comment, at=record.at,
                       labels={"cmdb_version": record.version, "cmdb_service": owner})
    doc.setdefault("event", {})["id"] = stable_id("cmdb", record.key, record.version, record.change_id)
    return doc


class ChangeSpool:
    """An append-only JSON-lines file of change events, safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def emit(self, document: dict[str, Any]) -> None:
        """Append one event and fsync it, so an acknowledged change is never lost from the spool."""
        line = shipping_line("changes", document) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)

    def read(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open() as handle:
            for line in handle:
                if line.strip():
                    yield read_shipping_line(line)
