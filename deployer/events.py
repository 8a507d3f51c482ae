"""Change events for the dashboard's chart markers, appended as JSON lines to a local file.

The host agent ships such files to the collector, like any other log.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from telemetry.ecs import DEPLOYMENT_ACTIONS, ServiceInfo, change_event, shipping_line


def deployment_event(record: dict[str, Any], environment: str = "production") -> dict[str, Any]:
    """The ECS change event of a deployment record (``event.category: configuration``, ``event.type: change``,
    ``event.action: deployment-finished`` or ``rollback-finished``)."""
    hosts = record.get("hosts", [])
    previous = sorted({h.get("previous") for h in hosts if h.get("previous")})
    labels = {"deployment_id": record.get("id", ""), "result": record["result"],
              "rolled_back": record.get("rolled_back", False), "hosts": len(hosts)}
    comment = f"{record['result']} on {len(hosts)} host(s)" + "".join(f"; {v}" for v in verdict_notes(record))
    doc = change_event(ServiceInfo(record["service"], version=record["version"], environment=environment),
                       deployment_action(record["action"]), record.get("user", ""), target=record["service"],
                       old=previous or None, new=record["version"], comment=comment,
                       at=record.get("finished"), labels=labels)
    doc.setdefault("event", {})["outcome"] = "success" if record["result"] == "succeeded" else "failure"
    return doc


def deployment_action(action: str) -> str:
    """``event.action`` of a finished ``deploy`` or ``rollback`` (:data:`telemetry.ecs.DEPLOYMENT_ACTIONS`)."""
    return {"deploy": DEPLOYMENT_ACTIONS[0], "rollback": DEPLOYMENT_ACTIONS[1]}.get(action, f"{action}-finished")


def verdict_notes(record: dict[str, Any]) -> list[str]:
    """One short line per judged batch, for the marker's tooltip: the verdict and its deciding figures."""
    notes = []
    for report in record.get("analysis") or []:
        deciding = [c for c in report.get("checks", []) if c.get("result") == report.get("result")]
        figures = ", ".join(
            f"{c['check']} {_short(c.get('new'))} vs {_short(c.get('baseline'))}"
            + (f" p={c['p_value']:.2g}" if c.get("p_value") is not None else "")
            + f" n={c.get('new_count', 0)}/{c.get('baseline_count', 0)}" for c in deciding)
        notes.append(f"batch {report.get('batch')} verdict {report.get('result')}"
                     + (f": {figures}" if figures else (f": {report['reason']}" if report.get("reason") else "")))
    return notes


def _short(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}"


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
