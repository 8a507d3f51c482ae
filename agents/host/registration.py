"""Announce this host as live in the CMDB, with its facts, for as long as the agent runs.

The registration is an ephemeral znode: it disappears when the agent's ZooKeeper session ends
(the agent stopped or the host died) and comes back by itself after a lost session.
"""
from __future__ import annotations

import platform
import socket
from typing import Any

import psutil

from foundation.clock import utc_iso
from foundation.version import __version__


def host_facts_labels(started: float) -> dict[str, str]:
    """The facts that go into the host's labels: OS, CPUs, memory, agent version, start time."""
    return {
        "os": f"{platform.system()} {platform.release()}",
        "os_name": _os_name(),
        "cpus": str(psutil.cpu_count() or 0),
        "memory_bytes": str(psutil.virtual_memory().total),
        "agent_version": __version__,
        "started": utc_iso(started),
        "hostname": socket.gethostname(),
    }


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        return ""


def addresses() -> list[str]:
    """This host's IP addresses (loopback left out unless it is all there is)."""
    found = []
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6) and not entry.address.startswith(("127.", "::1", "fe80")):
                found.append(entry.address.split("%")[0])
    return found or ["127.0.0.1"]


def register(cmdb: Any, name: str, role: str, environment: str, started: float) -> None:
    """Register ``name`` as a live host (``cmdb`` is a :class:`cmdb.Cmdb`)."""
    from cmdb import HostFacts

    cmdb.inventory.register(HostFacts(name, role=role, environment=environment, addresses=addresses(),
                                      labels=host_facts_labels(started)))
