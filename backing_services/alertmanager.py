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

A cluster refuses a configuration whose ``group_interval`` is shorter than twice the peers'
wait (``peer_timeout`` per position): a waiting peer works from the alerts it read when its
flush began, so with flushes closer together than its wait it keeps reading them before the
first peer's latest notification and mails a resolved alert as firing again.
"""
from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import requests
import yaml

from foundation.waiting import NotReady, wait_until

from .ports import LOOPBACK, free_ports, port_in_use
from .process import ManagedProcess, ProcessService, ServiceError

BINARY = "prometheus-alertmanager"
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
DEFAULT_GROUP_INTERVAL = "5m"  # Alertmanager's own


def seconds(duration: str) -> float:
    """An Alertmanager duration (``"500ms"``, ``"10s"``, ``"1h30m"``) in seconds."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration.strip():
        raise ValueError(f"not a duration: {duration!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def check_cluster_timing(config: str, size: int, peer_timeout: str) -> None:
    """Refuse a ``group_interval`` (top-level route) under twice the last peer's wait (see the
    module's docstring)."""
    route = (yaml.safe_load(config) or {}).get("route") or {}
    interval = str(route.get("group_interval", DEFAULT_GROUP_INTERVAL))
    wait = (size - 1) * seconds(peer_timeout)
    if seconds(interval) < 2 * wait:
        raise ServiceError(f"group_interval {interval} is shorter than twice the last of {size} peers' wait "
                           f"({size - 1} x peer timeout {peer_timeout}): resolved alerts would be mailed as "
                           f"firing again")


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
            pid_file=self.base_dir / "alertmanager.pid", die_with_parent=die_with_parent)

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

    def cluster(self) -> dict:
        """This server's view of its cluster (``/api/v2/status``): ``status`` is ``ready`` once its
        gossip settled (or its settle timeout passed), ``settling`` before; ``peers`` lists the
        members it sees, itself included."""
        return requests.get(f"{self.url}/api/v2/status", timeout=2).json().get("cluster") or {}


class AlertmanagerCluster:
    """``size`` clustered Alertmanagers on free ports, each started with the others as ``--cluster.peer``."""

    def __init__(self, base_dir: Path, config: str, size: int = 2, host: str = LOOPBACK,
                 peer_timeout: str = "15s", die_with_parent: bool = True) -> None:
        check_cluster_timing(config, size, peer_timeout)
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
                views = [server.cluster() for server in self.servers]
                seen = [len(view.get("peers") or []) for view in views]
                if min(seen) < len(self.servers):
                    raise NotReady(f"peers seen: {seen}")
                if any(view.get("status") != "ready" for view in views):  # a settling peer holds mail back
                    raise NotReady(f"cluster status: {[view.get('status') for view in views]}")
                return True

            wait_until(joined, timeout=timeout, interval=0.3, what="the Alertmanager peers to see each other",
                       retry_on=(requests.RequestException, ValueError))
        except (ServiceError, TimeoutError):
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        for server in self.servers:
            server.stop(timeout)
