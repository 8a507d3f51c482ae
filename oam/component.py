"""The pieces ``oam up`` runs, each behind one small interface: start, stop, probe.

A component's ``probe`` asks the running service itself (HTTP, ``ruok``, ``PING``, or its pid
file for a process without a port), so ``oam status`` works from any other process. The
components themselves: :mod:`oam.servers` (backing servers), :mod:`oam.programs` (the suite's
own processes), :mod:`oam.sandbox` (the deployer's SSH hosts); :func:`oam.stack.plan` lists them.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backing_services.process import ManagedProcess, reap_stale

if TYPE_CHECKING:
    from backing_services.elasticsearch import ElasticsearchServer
    from backing_services.redis import RedisServer
    from backing_services.sshd import SshServer
    from backing_services.zookeeper import ZooKeeperServer


@dataclass
class ServiceStatus:
    name: str
    address: str
    healthy: bool
    detail: str


class Component(ABC):
    name: str
    port: int | None

    @abstractmethod
    def start(self, timeout: float) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def running(self) -> bool: ...

    @abstractmethod
    def probe(self) -> ServiceStatus: ...

    @property
    @abstractmethod
    def process(self) -> ManagedProcess: ...

    def reap(self) -> bool:
        """Stop what an earlier, killed run left behind; True if something was stopped."""
        return reap_stale(self.process.pid_file)


class ServerComponent(Component):
    """A backing server from :mod:`backing_services` (it starts, stops and runs itself)."""

    server: ElasticsearchServer | ZooKeeperServer | RedisServer | SshServer

    def start(self, timeout: float) -> None:
        self.server.start(timeout=timeout)

    def stop(self) -> None:
        self.server.stop()

    def running(self) -> bool:
        return self.server.running()

    @property
    def process(self) -> ManagedProcess:
        return self.server.process
