"""A local Redis server (Debian's ``redis-server``) on loopback, for the sample service and tests.

Usage::

    server = RedisServer(base_dir=Path("/tmp/redis1"), port=6379)
    server.start()          # waits until it answers PING
    server.url              # "redis://127.0.0.1:6379/0"
    server.stop()
"""
from __future__ import annotations

import shutil
import socket
from pathlib import Path

from .ports import LOOPBACK, port_in_use
from .process import ManagedProcess, ServiceError


def ping(port: int, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    """True if a Redis server answers PING on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process with its own directory (persistence off: a cache and a queue)."""

    def __init__(self, base_dir: Path, port: int = 6379, host: str = LOOPBACK, die_with_parent: bool = True) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.port = port
        self.host = host
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = ManagedProcess(
            f"redis-{port}", [binary, str(self.base_dir / "redis.conf")], cwd=self.base_dir,
            log_path=self.base_dir / "redis.log", pid_file=self.base_dir / "redis.pid", die_with_parent=die_with_parent,
        )

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 30.0) -> None:
        if not Path(self.process.argv[0]).exists():
            raise ServiceError("redis-server is not installed; run scripts/setup")
        if port_in_use(self.port, self.host):
            raise ServiceError(f"port {self.port} on {self.host} is already in use")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "redis.conf").write_text("\n".join([
            f"bind {self.host}", f"port {self.port}", f"dir {self.base_dir}", "save \"\"", "appendonly no",
            "daemonize no", "protected-mode yes", "logfile \"\"",
        ]) + "\n")
        self.process.start()
        try:
            self.process.wait_ready(lambda: ping(self.port, self.host), timeout=timeout, interval=0.1,
                                    label="redis-server", what=f"redis-server on {self.host}:{self.port} to answer PING")
        except ServiceError:
            self.process.stop(timeout=5)
            raise

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout)

    def running(self) -> bool:
        return self.process.running()
