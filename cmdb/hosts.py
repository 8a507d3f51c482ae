"""Live hosts and the known-host inventory.

An agent registers its host as an ephemeral znode carrying its facts; the node lives as long
as the agent's ZooKeeper session, and the registration re-creates it after a session is lost.
The facts are also kept in a persistent "known hosts" node, so a host that went away is listed
as down rather than forgotten::

    cmdb.inventory.register(HostFacts("web-1", role="web", environment="prod",
                                      addresses=["10.0.0.5"], services=["web"]))
    for host in cmdb.inventory.hosts():
        print(host.facts.name, "up" if host.live else "DOWN")
    cmdb.inventory.hosts_running("prod", "web")
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.protocol.states import KazooState

from foundation.clock import utc_now_iso

from .errors import CmdbError, KeyNotFound
from .paths import validate_segment

if TYPE_CHECKING:
    from .connection import Connection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostFacts:
    """What the inventory knows about one host."""

    name: str
    role: str = ""
    environment: str = ""
    addresses: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        validate_segment(self.name, "host name")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostFacts:
        known = {"name", "role", "environment", "addresses", "labels", "services"}
        unknown = set(data) - known
        if unknown:
            raise CmdbError(f"unknown host fact(s): {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass(frozen=True)
class HostStatus:
    facts: HostFacts
    live: bool
    since: str = ""  # when the live registration was made


class HostRegistry:
    """Register this process's host, and list live and known hosts."""

    def __init__(self, cmdb: Connection) -> None:
        self._cmdb = cmdb
        self._registered: dict[str, HostFacts] = {}
        self._lock = threading.Lock()
        self._listening = False

    # -- registration ----------------------------------------------------------------------
    def register(self, facts: HostFacts) -> None:
        """Record ``facts`` as known and announce the host live for as long as this session lives."""
        cmdb = self._cmdb
        cmdb.ensure_root(cmdb.layout.live_host(facts.name))
        self.remember(facts)
        with self._lock:
            self._registered[facts.name] = facts
            if not self._listening:
                cmdb.client.add_listener(self._on_state)
                self._listening = True
        self._announce(facts)

    def unregister(self, name: str) -> None:
        cmdb = self._cmdb
        with self._lock:
            self._registered.pop(name, None)
        try:
            cmdb.client.delete(cmdb.layout.live_host(name))
        except (NoNodeError, KazooException):
            pass

    def unregister_all(self) -> None:
        for name in list(self._registered):
            self.unregister(name)
        if self._listening:
            self._cmdb.client.remove_listener(self._on_state)
            self._listening = False

    def _announce(self, facts: HostFacts) -> None:
        cmdb = self._cmdb
        path = cmdb.layout.live_host(facts.name)
        data = json.dumps({**facts.to_json(), "since": utc_now_iso()}, sort_keys=True).encode()
        with cmdb.translated("register host", path):
            try:
                cmdb.client.retry(cmdb.client.create, path, data, acl=cmdb.acl_for(path), ephemeral=True)
            except NodeExistsError:
                _, stat = cmdb.client.retry(cmdb.client.get, path)
                if stat.ephemeralOwner == cmdb.client.client_id[0]:
                    return  # still ours (a reconnection within the session)
                # Left behind by an earlier session of this host that has not expired yet.
                cmdb.client.retry(cmdb.client.delete, path)
                cmdb.client.retry(cmdb.client.create, path, data, acl=cmdb.acl_for(path), ephemeral=True)

    def _on_state(self, state: str) -> None:
        if state == KazooState.CONNECTED:  # called on the connection thread: never block it
            self._cmdb.client.handler.spawn(self._reannounce)

    def _reannounce(self) -> None:
        with self._lock:
            registered = list(self._registered.values())
        for facts in registered:
            try:
                self._announce(facts)
            except (CmdbError, KazooException) as exc:
                log.warning("could not re-register host %s: %s", facts.name, exc)

    # -- inventory -------------------------------------------------------------------------
    def remember(self, facts: HostFacts) -> None:
        """Create or update a known host (without announcing it live)."""
        cmdb = self._cmdb
        path = cmdb.layout.known_host(facts.name)
        cmdb.ensure_root(path)
        data = json.dumps(facts.to_json(), sort_keys=True).encode()
        with cmdb.translated("write host", path):
            try:
                cmdb.client.retry(cmdb.client.create, path, data, acl=cmdb.acl_for(path))
            except NodeExistsError:
                cmdb.client.retry(cmdb.client.set, path, data)

    def forget(self, name: str) -> None:
        cmdb = self._cmdb
        with cmdb.translated("delete host", cmdb.layout.known_host(name)):
            try:
                cmdb.client.retry(cmdb.client.delete, cmdb.layout.known_host(name))
            except NoNodeError as exc:
                raise KeyNotFound(f"no such host: {name}") from exc

    def known(self) -> dict[str, HostFacts]:
        return {name: HostFacts.from_json(data) for name, (data, _) in self._read(self._cmdb.layout.known_hosts).items()}

    def live(self) -> dict[str, HostStatus]:
        out = {}
        for name, (data, _) in self._read(self._cmdb.layout.live_hosts).items():
            since = data.pop("since", "")
            out[name] = HostStatus(HostFacts.from_json(data), True, since)
        return out

    def hosts(self) -> list[HostStatus]:
        """Live hosts, and known hosts that are down, sorted by name."""
        live = self.live()
        rows = dict(live)
        for name, facts in self.known().items():
            if name not in live:
                rows[name] = HostStatus(facts, False)
        return [rows[name] for name in sorted(rows)]

    def hosts_running(self, environment: str, service: str) -> list[HostStatus]:
        """The hosts (live or down) of ``environment`` that run ``service``."""
        return [h for h in self.hosts() if h.facts.environment == environment and service in h.facts.services]

    def _read(self, parent: str) -> dict[str, tuple[dict[str, Any], Any]]:
        cmdb = self._cmdb
        try:
            names = cmdb.retry(cmdb.client.get_children, parent)
        except NoNodeError:
            return {}
        out = {}
        for name in sorted(names):
            try:
                data, stat = cmdb.retry(cmdb.client.get, f"{parent}/{name}")
            except NoNodeError:
                continue
            out[name] = (json.loads(data), stat)
        return out
