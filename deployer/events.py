"""Change events for the dashboard's chart markers, appended as JSON lines to a local file.

The host agent ships such files to the collector, like any other log.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from telemetry.ecs import ServiceInfo, change_event, shipping_line


def deployment_event(record: dict[str, Any], environment: str = "production") -> dict[str, Any]:
    """The ECS change event (``event.category: deployment``) for a deployment record."""
    hosts = record.get("hosts", [])
    previous = sorted({h.get("previous") for h in hosts if h.get("previous")})
    labels = {"deployment_id": record.get("id", ""), "result": record["result"],
              "rolled_back": record.get("rolled_back", False), "hosts": len(hosts)}
    comment = f"{record['result']} on {len(hosts)} host(s)"
    doc = change_event(ServiceInfo(record["service"], version=record["version"], environment=environment),
                       "deployment", record["action"], record.get("user", ""), target=record["service"],
                       old=previous or None, new=record["version"], comment=comment,
                       at=record.get("finished"), labels=labels)
    doc.setdefault("event", {})["outcome"] = "success" if record["result"] == "succeeded" else "failure"
    return doc


def append_event(path: Path, event: dict[str, Any]) -> None:
    """Append one JSON line, locked against concurrent writers and fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (shipping_line("changes", event) + "\n").encode()
    with open(path, "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
