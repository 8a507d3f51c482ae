"""A local ZooKeeper: a standalone server, or an ensemble of several on loopback.

Usage::

    zk = ZooKeeperServer(base_dir=Path("/tmp/zk1"), client_port=2181)
    zk.start()                      # waits until it answers ``ruok`` with ``imok``
    zk.connection_string            # "127.0.0.1:2181"
    zk.stop()

    ensemble = ZooKeeperEnsemble(base_dir=Path("/tmp/zk3"), size=3)
    ensemble.start()                # waits until every node serves as leader or follower
    ensemble.nodes[0].stop()        # the other two keep quorum
"""
from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from foundation.waiting import NotReady

from .java import java_home
from .ports import LOOPBACK, free_ports, port_in_use
from .process import ManagedProcess, ServiceError

ZOOKEEPER_JARS = ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar")
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


def four_letter_word(port: int, word: str = "ruok", host: str = LOOPBACK, timeout: float = 2.0) -> str:
    """Send a ZooKeeper four-letter command and return the answer ('' if none)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(word.encode())
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
    except OSError:
        return ""
    return b"".join(chunks).decode(errors="replace")


def server_mode(port: int, host: str = LOOPBACK) -> str:
    """'standalone', 'leader' or 'follower' as ``srvr`` reports it; '' if not serving."""
    for line in four_letter_word(port, "srvr", host).splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return ""


@dataclass(frozen=True)
class Peer:
    """One ensemble member's id and ports (quorum and leader election)."""

    server_id: int
    client_port: int
    quorum_port: int
    election_port: int
    host: str = LOOPBACK

    def config_line(self) -> str:
        return f"server.{self.server_id}={self.host}:{self.quorum_port}:{self.election_port}"


class ZooKeeperServer:
    """One ZooKeeper server process in its own directory."""

    def __init__(
        self,
        base_dir: Path,
        client_port: int = 2181,
        host: str = LOOPBACK,
        server_id: int | None = None,
        peers: Sequence[Peer] = (),
        heap_mb: int = 256,
        die_with_parent: bool = True,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.client_port = client_port
        self.host = host
        self.server_id = server_id
        self.peers = tuple(peers)
        self.heap_mb = heap_mb
        java = java_home() / "bin" / "java"
        argv = [str(java), f"-Xmx{self.heap_mb}m", "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-cp", ":".join(ZOOKEEPER_JARS), MAIN_CLASS, str(self.base_dir / "zoo.cfg")]
        self.process = ManagedProcess(
            f"zookeeper-{client_port}", argv, cwd=self.base_dir,
            log_path=self.base_dir / "zookeeper.log", pid_file=self.base_dir / "zookeeper.pid",
            marker=str(self.base_dir), die_with_parent=die_with_parent,
        )

    @property
    def connection_string(self) -> str:
        return f"{self.host}:{self.client_port}"

    def prepare(self) -> None:
        missing = [jar for jar in ZOOKEEPER_JARS if not Path(jar).exists()]
        if missing:
            raise ServiceError(f"ZooKeeper is not installed ({', '.join(missing)} missing); run scripts/setup")
        data = self.base_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = [
            "tickTime=2000",
            "initLimit=10",
            "syncLimit=5",
            f"dataDir={data}",
            f"clientPort={self.client_port}",
            f"clientPortAddress={self.host}",
            "admin.enableServer=false",
            "4lw.commands.whitelist=ruok,srvr,mntr,stat,conf",
            "autopurge.snapRetainCount=3",
            "autopurge.purgeInterval=1",
        ]
        if self.peers:
            config += [peer.config_line() for peer in self.peers]
            (data / "myid").write_text(f"{self.server_id}\n")
        (self.base_dir / "zoo.cfg").write_text("\n".join(config) + "\n")

    def start(self, timeout: float = 60.0, wait: bool = True) -> None:
        if port_in_use(self.client_port, self.host):
            raise ServiceError(f"port {self.client_port} on {self.host} is already in use")
        self.prepare()
        self.process.start()
        if wait:
            try:
                self.wait_serving(timeout)
            except ServiceError:
                self.process.stop(timeout=10)
                raise

    def wait_serving(self, timeout: float) -> str:
        """Wait until the server answers ``imok`` and serves requests; returns its mode."""
        def serving() -> str:
            if four_letter_word(self.client_port, "ruok", self.host) != "imok":
                raise NotReady("no imok answer to ruok")
            mode = server_mode(self.client_port, self.host)
            if not mode:
                raise NotReady("no mode in its srvr answer yet")
            return mode

        return self.process.wait_ready(serving, timeout=timeout, interval=0.2, label="ZooKeeper",
                                       what=f"ZooKeeper on {self.connection_string} to serve")

    def healthy(self) -> bool:
        return four_letter_word(self.client_port, "ruok", self.host) == "imok"

    def stop(self, timeout: float = 20.0) -> None:
        self.process.stop(timeout)

    def running(self) -> bool:
        return self.process.running()


class ZooKeeperEnsemble:
    """``size`` ZooKeeper servers forming one ensemble on loopback (free ports unless given)."""

    def __init__(self, base_dir: Path, size: int = 3, client_ports: Sequence[int] | None = None,
                 host: str = LOOPBACK) -> None:
        if size < 1:
            raise ValueError("an ensemble needs at least one server")
        ports = free_ports(size * 3, host)
        clients = list(client_ports) if client_ports else ports[:size]
        self.peers = [Peer(i + 1, clients[i], ports[size + i], ports[2 * size + i], host) for i in range(size)]
        self.nodes = [
            ZooKeeperServer(Path(base_dir) / f"node{p.server_id}", p.client_port, host, p.server_id, self.peers)
            for p in self.peers
        ]

    @property
    def connection_string(self) -> str:
        return ",".join(node.connection_string for node in self.nodes)

    def start(self, timeout: float = 90.0) -> None:
        for node in self.nodes:
            node.start(wait=False)
        try:
            for node in self.nodes:
                node.wait_serving(timeout)
        except ServiceError:
            self.stop()
            raise

    def modes(self) -> list[str]:
        return [server_mode(node.client_port, node.host) for node in self.nodes]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
