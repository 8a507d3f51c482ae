"""A local ZooKeeper: a standalone server, or an ensemble of several on loopback.

Usage::

    zk = ZooKeeperServer(base_dir=Path("/tmp/zk1"), client_port=2181)
    zk.start()                      # waits until it answers ``ruok`` with ``imok``
    zk.connection_string            # "127.0.0.1:2181"
    zk.stop()

    ensemble = ZooKeeperEnsemble(base_dir=Path("/tmp/zk3"), size=3)
    ensemble.start()                # waits until every node serves as leader or follower
    ensemble.nodes[0].stop()        # the other two keep quorum

Closed by default: every start sets the ACL of ``/``, ``/zookeeper`` and ``/zookeeper/quota`` to
``world:anyone:r``, so a client without an account can read the top level but create nothing
there. The server's superuser (``super``, its password kept in ``<base_dir>/super.password``,
mode 600; ZooKeeper's ``superDigest``) passes every ACL: it makes the nodes others may build on::

    with zk.superuser() as client:
        client.create("/oam", acl=[...])

``namespace="/oam-tests"`` (tests) makes that node open to all and puts it in
``connection_string`` as the chroot, so clients below it may build their own trees. The
four-letter words are limited to ``ruok`` and ``srvr`` (health and mode).
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.security import OPEN_ACL_UNSAFE, make_acl

from foundation.waiting import NotReady

from .java import java_home
from .ports import LOOPBACK, free_ports, port_in_use
from .process import ManagedProcess, ServiceError

ZOOKEEPER_JARS = ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar")
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
FOUR_LETTER_WORDS = "ruok,srvr"  # what health checks and modes need; mntr/stat/conf/cons... are refused
SUPERUSER = "super"
CLOSED_NODES = ("/", "/zookeeper", "/zookeeper/quota")  # /zookeeper/config is read-only already
READ_ONLY = [make_acl("world", "anyone", read=True)]


def super_digest(password: str, user: str = SUPERUSER) -> str:
    """``user:base64(sha1(user:password))``, as ZooKeeper's ``superDigest`` takes it."""
    return f"{user}:{base64.b64encode(hashlib.sha1(f'{user}:{password}'.encode()).digest()).decode()}"


def kept_password(path: Path) -> str:
    """The password in ``path``, made (random, mode 600) the first time."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")
    return password


def close_tree(client: KazooClient, namespace: str = "") -> None:
    """Make ``/`` and ZooKeeper's own nodes read-only for all; ``namespace`` (if any) open below it."""
    for path in CLOSED_NODES:
        client.set_acls(path, READ_ONLY)
    if namespace:
        try:
            client.create(namespace, acl=OPEN_ACL_UNSAFE, makepath=True)
        except NodeExistsError:
            client.set_acls(namespace, OPEN_ACL_UNSAFE)


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
        namespace: str = "",
        super_password: str | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.namespace = "/" + namespace.strip("/") if namespace.strip("/") else ""
        self._super_password = super_password
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
            log_path=self.base_dir / "zookeeper.log", pid_file=self.base_dir / "zookeeper.pid", die_with_parent=die_with_parent,
        )

    @property
    def super_password(self) -> str:
        """The superuser's password (made and kept on first use, not by merely looking at a server)."""
        if self._super_password is None:
            self._super_password = kept_password(self.base_dir / "super.password")
        return self._super_password

    @property
    def address(self) -> str:
        """``host:port`` of the server itself (no namespace)."""
        return f"{self.host}:{self.client_port}"

    @property
    def connection_string(self) -> str:
        """What clients connect to: the address, with the namespace as chroot if there is one."""
        return self.address + self.namespace

    @contextlib.contextmanager
    def superuser(self, timeout: float = 15.0) -> Iterator[KazooClient]:
        """A kazoo client logged in as the server's superuser, at the real root (no namespace)."""
        client = KazooClient(hosts=self.address, timeout=timeout,
                             auth_data=[("digest", f"{SUPERUSER}:{self.super_password}")])
        client.start(timeout=timeout)
        try:
            yield client
        finally:
            client.stop()
            client.close()

    def close_root(self) -> None:
        """Apply the closed ACLs (idempotent; done by every start)."""
        try:
            with self.superuser() as client:
                close_tree(client, self.namespace)
        except (KazooException, KazooTimeoutError) as exc:
            raise ServiceError(f"could not set the ACLs of ZooKeeper on {self.address}: "
                               f"{type(exc).__name__} {exc}".rstrip()) from exc

    def prepare(self) -> None:
        missing = [jar for jar in ZOOKEEPER_JARS if not Path(jar).exists()]
        if missing:
            raise ServiceError(f"ZooKeeper is not installed ({', '.join(missing)} missing); run scripts/setup")
        data = self.base_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        flag = f"-Dzookeeper.DigestAuthenticationProvider.superDigest={super_digest(self.super_password)}"
        self.process.argv = [self.process.argv[0], flag,
                             *(arg for arg in self.process.argv[1:] if not arg.startswith(flag.split("=")[0]))]
        config = [
            "tickTime=2000",
            "initLimit=10",
            "syncLimit=5",
            f"dataDir={data}",
            f"clientPort={self.client_port}",
            f"clientPortAddress={self.host}",
            "admin.enableServer=false",
            f"4lw.commands.whitelist={FOUR_LETTER_WORDS}",
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
                self.close_root()
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
                 host: str = LOOPBACK, namespace: str = "") -> None:
        if size < 1:
            raise ValueError("an ensemble needs at least one server")
        self.super_password = kept_password(Path(base_dir).resolve() / "super.password")
        ports = free_ports(size * 3, host)
        clients = list(client_ports) if client_ports else ports[:size]
        self.peers = [Peer(i + 1, clients[i], ports[size + i], ports[2 * size + i], host) for i in range(size)]
        self.nodes = [
            ZooKeeperServer(Path(base_dir) / f"node{p.server_id}", p.client_port, host, p.server_id, self.peers,
                            namespace=namespace, super_password=self.super_password)
            for p in self.peers
        ]

    @property
    def connection_string(self) -> str:
        return ",".join(node.address for node in self.nodes) + self.nodes[0].namespace

    def start(self, timeout: float = 90.0) -> None:
        for node in self.nodes:
            node.start(wait=False)
        try:
            for node in self.nodes:
                node.wait_serving(timeout)
            self.nodes[0].close_root()  # the ACLs are data: the ensemble replicates them
        except ServiceError:
            self.stop()
            raise

    def modes(self) -> list[str]:
        return [server_mode(node.client_port, node.host) for node in self.nodes]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
