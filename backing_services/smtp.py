"""A real SMTP server on loopback: aiosmtpd run as its own process, delivering into a Maildir.

Usage::

    server = SmtpServer(Path("/tmp/smtp"), port=2525)
    server.start()          # waits until it greets with 220
    server.mailbox          # the Maildir every accepted message is stored in
    read_mailbox(server.mailbox)   # [email.message.Message, ...] oldest first
    server.stop()

It is ``python -m aiosmtpd`` with aiosmtpd's own ``Mailbox`` handler: the messages Alertmanager
(or anything else) sends arrive exactly as they were sent.
"""
from __future__ import annotations

import mailbox
import socket
import sys
from email.message import Message
from pathlib import Path

from foundation.waiting import NotReady

from .ports import LOOPBACK, port_in_use
from .process import ManagedProcess, ProcessService, ServiceError


def greets(port: int, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    """True if an SMTP server on ``host:port`` greets with 220."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            return sock.recv(512).startswith(b"220")
    except OSError as exc:
        raise NotReady(str(exc)) from None


def read_mailbox(path: Path) -> list[Message]:
    """The messages in the Maildir at ``path``, oldest first (none if it does not exist yet)."""
    if not Path(path).is_dir():
        return []
    box = mailbox.Maildir(path, create=False)
    try:
        messages = [(key, message) for key, message in box.iteritems()]
    finally:
        box.close()
    return [message for _, message in sorted(messages, key=lambda item: (item[1].get_date(), item[0]))]


class SmtpServer(ProcessService):
    """One aiosmtpd process accepting mail for anyone on ``host:port`` into ``<base_dir>/mailbox``."""

    def __init__(self, base_dir: Path, port: int, host: str = LOOPBACK, die_with_parent: bool = True) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.port, self.host = port, host
        self.mailbox = self.base_dir / "mailbox"
        self.process = ManagedProcess(
            f"smtp-{port}", [sys.executable, "-m", "aiosmtpd", "--nosetuid", "--listen", f"{host}:{port}",
                             "--class", "aiosmtpd.handlers.Mailbox", str(self.mailbox)],
            cwd=self.base_dir, log_path=self.base_dir / "smtp.log", pid_file=self.base_dir / "smtp.pid",
            die_with_parent=die_with_parent)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        if port_in_use(self.port, self.host):
            raise ServiceError(f"port {self.port} on {self.host} is already in use")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.mailbox, create=True).close()
        self.process.start_ready(lambda: greets(self.port, self.host), timeout=timeout, label="aiosmtpd",
                                 what=f"the SMTP server on {self.address} to greet")
