"""Local SSH hosts: real OpenSSH ``sshd`` servers on loopback, for deploy tests and benchmarks.

Each server has its own host key, ``authorized_keys``, config and a root directory that stands
for the host's file system. Linux routes all of 127.0.0.0/8 to ``lo``, so each server can take
its own address (127.0.0.2, 127.0.0.3, ...) and look like a separate machine.

Usage::

    client_key = generate_key(Path("/tmp/ssh/id_ed25519"))        # private key; .pub beside it
    host = SshServer(base_dir=Path("/tmp/ssh/host1"), address="127.0.0.2", port=2222,
                     authorized_keys=[client_key.with_suffix(".pub")])
    host.start()                    # waits until the server sends its SSH banner
    host.known_hosts_line()         # "[127.0.0.2]:2222 ssh-ed25519 AAAA..."
    host.stop()                     # the listener and every session it opened

Sessions log in as any local account whose key is authorised (the file is the server's, not the
account's). Give ``user`` to have the host's root directory owned by that account, for clients
that log in as it (``SshHosts(..., user="oam-deploy")``; scripts/setup creates that account).
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

import psutil

from .ports import free_port
from .process import ManagedProcess, ServiceError, pid_alive, terminate_group

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")  # Debian's sshd refuses to start without it


def generate_key(path: Path, comment: str = "oam") -> Path:
    """Create an ed25519 key pair without passphrase at ``path`` (and ``path.pub``); returns ``path``."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                           check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise ServiceError(f"ssh-keygen failed for {path}: {exc}") from exc
    return path


def ssh_banner(address: str, port: int, timeout: float = 1.0) -> str:
    """The identification line an SSH server sends first ('' if none)."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            return sock.recv(256).decode(errors="replace").strip()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def _hand_over(root: Path, user: str) -> None:
    """Make ``root`` ``user``'s, and check the account can reach it (search right on each parent)."""
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise ServiceError(f"no local account {user!r} to log in as (scripts/setup creates oam-deploy)") from None
    os.chown(root, account.pw_uid, account.pw_gid)
    for parent in root.parents:
        if not os.stat(parent).st_mode & 0o001:
            raise ServiceError(f"{user} cannot reach {root}: {parent} is closed to other accounts (chmod o+x)")


class SshServer:
    """One ``sshd -D -e`` on ``address:port`` with its own keys, config and root directory."""

    def __init__(self, base_dir: Path, address: str = "127.0.0.1", port: int | None = None,
                 authorized_keys: Sequence[Path] = (), die_with_parent: bool = True, user: str | None = None) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.user = user
        self.address = address
        self.port = port or free_port(address)
        self.authorized_keys = [Path(key) for key in authorized_keys]
        self.config_path = self.base_dir / "sshd_config"
        self.host_key = self.base_dir / "ssh_host_ed25519_key"
        self.process = ManagedProcess(
            f"sshd-{address}-{self.port}", [SSHD, "-D", "-e", "-f", str(self.config_path)], cwd=self.base_dir,
            log_path=self.base_dir / "sshd.log", pid_file=self.base_dir / "sshd.pid", die_with_parent=die_with_parent,
        )

    @property
    def root(self) -> Path:
        """The directory that stands for this host's file system (deploy roots go under it)."""
        return self.base_dir / "root"

    @property
    def host_key_type_and_data(self) -> str:
        key_type, data = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"{key_type} {data}"

    def known_hosts_line(self) -> str:
        """This server's line for an OpenSSH ``known_hosts`` file."""
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{name} {self.host_key_type_and_data}"

    def prepare(self) -> None:
        if not Path(SSHD).exists():
            raise ServiceError("openssh-server is not installed (no /usr/sbin/sshd); run scripts/setup")
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            _hand_over(self.root, self.user)
        generate_key(self.host_key, comment=f"host {self.address}")
        os.chmod(self.host_key, 0o600)
        keys = "".join(key.read_text() for key in self.authorized_keys)
        (self.base_dir / "authorized_keys").write_text(keys)
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        self.config_path.write_text("\n".join([
            f"ListenAddress {self.address}:{self.port}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.base_dir / 'authorized_keys'}",
            f"PidFile {self.base_dir / 'sshd.own.pid'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "MaxStartups 100:30:200",
            "MaxSessions 50",
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
        ]) + "\n")

    def start(self, timeout: float = 20.0) -> None:
        self.prepare()
        self.process.start()
        where = f"sshd on {self.address}:{self.port}"
        try:
            self.process.wait_ready(lambda: ssh_banner(self.address, self.port).startswith("SSH-2.0"),
                                    timeout=timeout, interval=0.05, label=where, what=f"{where} to send its banner")
        except ServiceError:
            self.process.stop(timeout=5)
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the listener and the sessions it forked (each runs in a session of its own)."""
        sessions = _children(self.process.pid) if self.process.running() and self.process.pid else []
        self.process.stop(timeout)
        for pid in sessions:  # sshd forks each session into a group of its own
            terminate_group(pid, timeout=2.0)
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def running(self) -> bool:
        return self.process.running()


class SshHosts:
    """``count`` SSH servers on 127.0.0.<first>, 127.0.0.<first+1>, ..., sharing one client key.

    ``known_hosts`` lists every server's key, so clients can verify them strictly. With ``user``,
    every host's root directory belongs to that account (see :class:`SshServer`).
    """

    def __init__(self, base_dir: Path, count: int, first_address: int = 2, port: int | None = None,
                 user: str | None = None) -> None:
        if not 1 <= count <= 250 - first_address:
            raise ValueError(f"cannot place {count} hosts on 127.0.0.{first_address}..254")
        self.base_dir = Path(base_dir).resolve()
        self.client_key = self.base_dir / "client" / "id_ed25519"
        self.known_hosts = self.base_dir / "client" / "known_hosts"
        self.servers = [
            SshServer(self.base_dir / f"host{i + 1}", address=f"127.0.0.{first_address + i}", port=port,
                      authorized_keys=[self.client_key.with_suffix(".pub")], user=user)
            for i in range(count)
        ]

    def __iter__(self):
        return iter(self.servers)

    def __len__(self) -> int:
        return len(self.servers)

    def __getitem__(self, index: int) -> SshServer:
        return self.servers[index]

    def start(self) -> None:
        generate_key(self.client_key, comment="oam-client")
        try:
            for server in self.servers:
                server.start()
        except ServiceError:
            self.stop()
            raise
        self.write_known_hosts(self.servers)

    def write_known_hosts(self, servers: Iterable[SshServer]) -> None:
        self.known_hosts.write_text("".join(server.known_hosts_line() + "\n" for server in servers))

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def remove(self) -> None:
        """Stop every server and delete their directories."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)
