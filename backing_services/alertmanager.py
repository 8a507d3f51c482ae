"""Prometheus Alertmanager (Debian's ``prometheus-alertmanager``) on loopback: one server, or clustered peers.

Usage::

    server = AlertmanagerServer(Path("/tmp/am1"), config=yaml_text, web_port=9093)
    server.start()              # waits until /-/ready answers 200
    server.url                  # "http://127.0.0.1:9093"

    cluster = AlertmanagerCluster(Path("/tmp/am"), config=yaml_text, size=2, peer_timeout="2s")
    cluster.start()             # each peer names the others (--cluster.peer); waits until all see each
                                # other and their gossip settled
    cluster.urls                # every peer's URL: senders post to each of them

Each server keeps its silences and notification log in its own ``<base_dir>/data`` (the
cluster's peers gossip them, so a notification sent by one is not sent by the other).
"""
from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import requests

from foundation.waiting import NotReady, wait_until

from .ports import LOOPBACK, free_ports, port_in_use
from .process import ManagedProcess, ProcessService, ServiceError

BINARY = "prometheus-alertmanager"


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
    except requests.RequestException as exc:
        raise NotReady(type(exc).__name__) from None


class AlertmanagerServer(ProcessService):
    """One Alertmanager process with its own directory, config file and ports."""

    def __init__(self, base_dir: Path, config: str, web_port: int, cluster_port: int | None = None,
                 peers: Sequence[str] = (), host: str = LOOPBACK, peer_timeout: str = "15s",
                 gossip_interval: str = "200ms", log_level: str = "info", die_with_parent: bool = True) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.config = config
        self.web_port, self.cluster_port, self.host = web_port, cluster_port, host
        binary = shutil.which(BINARY) or f"/usr/bin/{BINARY}"
        argv = [binary, f"--config.file={self.base_dir / 'alertmanager.yml'}",
                f"--storage.path={self.base_dir / 'data'}", f"--web.listen-address={host}:{web_port}",
                f"--log.level={log_level}"]
        if cluster_port is None:
            argv.append("--cluster.listen-address=")  # no clustering
        else:
            argv += [f"--cluster.listen-address={host}:{cluster_port}",
                     f"--cluster.advertise-address={host}:{cluster_port}",
                     f"--cluster.peer-timeout={peer_timeout}", f"--cluster.gossip-interval={gossip_interval}",
                     "--cluster.pushpull-interval=2s", "--cluster.settle-timeout=5s",
                     *(f"--cluster.peer={peer}" for peer in peers)]
        self.process = ManagedProcess(
            f"alertmanager-{web_port}", argv, cwd=self.base_dir, log_path=self.base_dir / "alertmanager.log",
            pid_file=self.base_dir / "alertmanager.pid", marker=str(self.base_dir), die_with_parent=die_with_parent)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    def start(self, timeout: float = 30.0) -> None:
        if not Path(self.process.argv[0]).exists():
            raise ServiceError(f"{BINARY} is not installed; run scripts/setup")
        for port in (self.web_port, self.cluster_port):
            if port is not None and port_in_use(port, self.host):
                raise ServiceError(f"port {port} on {self.host} is already in use")
        (self.base_dir / "data").mkdir(parents=True, exist_ok=True)
        (self.base_dir / "alertmanager.yml").write_text(self.config)
        self.process.start_ready(lambda: _ready(self.url), timeout=timeout, interval=0.2, label="alertmanager",
                                 what=f"Alertmanager on {self.url} to be ready")

    def settled(self) -> bool:
        """Has the cluster's gossip settled (or its settle timeout passed)? Until then a peer holds
        its notifications back, and a notification log not yet shared could send one twice."""
        text = self.process.log_tail(400)
        return "gossip settled" in text or "gossip not settled but continuing" in text

    def peers(self) -> int:
        """How many cluster members this server sees (itself included)."""
        status = requests.get(f"{self.url}/api/v2/status", timeout=2).json()
        return len((status.get("cluster") or {}).get("peers") or [])


class AlertmanagerCluster:
    """``size`` clustered Alertmanagers on free ports, each started with the others as ``--cluster.peer``."""

    def __init__(self, base_dir: Path, config: str, size: int = 2, host: str = LOOPBACK,
                 peer_timeout: str = "15s", die_with_parent: bool = True) -> None:
        ports = free_ports(2 * size, host)
        web, cluster = ports[:size], ports[size:]
        addresses = [f"{host}:{port}" for port in cluster]
        self.servers = [AlertmanagerServer(Path(base_dir) / f"am{n + 1}", config, web[n], cluster[n],
                                           [a for a in addresses if a != addresses[n]], host, peer_timeout,
                                           die_with_parent=die_with_parent)
                        for n in range(size)]

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def start(self, timeout: float = 60.0) -> None:
        try:
            for server in self.servers:
                server.start(timeout)

            def joined() -> bool:
                seen = [server.peers() for server in self.servers]
                if min(seen) < len(self.servers):
                    raise NotReady(f"peers seen: {seen}")
                if not all(server.settled() for server in self.servers):
                    raise NotReady("gossip not settled yet")
                return True

            wait_until(joined, timeout=timeout, interval=0.3, what="the Alertmanager peers to see each other",
                       retry_on=(requests.RequestException, ValueError))
        except (ServiceError, TimeoutError):
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        for server in self.servers:
            server.stop(timeout)
