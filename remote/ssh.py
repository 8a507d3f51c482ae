"""One SSH connection to a host with Fabric: key authentication, steps that name themselves in errors.

``run``, ``put`` and ``put_text`` raise :class:`RemoteError` naming the step that failed; ``run_chain`` runs
several steps in one round trip. Host keys are checked as :mod:`remote.host_keys` says.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from shlex import quote
from typing import Protocol

import paramiko
from fabric import Connection
from invoke.exceptions import CommandTimedOut

from .host_keys import check_host_keys


class RemoteError(RuntimeError):
    """A step on a host failed; ``step`` names it, the message says why."""

    def __init__(self, step: str, message: str, uncertain: bool = False) -> None:
        super().__init__(message)
        self.step = step
        self.uncertain = uncertain  # the command may or may not have run (timeout, connection lost)


@dataclass(frozen=True)
class SshOptions:
    """How to connect: the known_hosts file, the key, whether new host keys are trusted, the timeout."""

    known_hosts: Path
    identity: Path | None = None
    trust_new_host_keys: bool = False
    connect_timeout: float = 10.0


class Endpoint(Protocol):
    """Where a host answers SSH (a :class:`SshHost`, or any object with these fields)."""

    @property
    def address(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def user(self) -> str: ...


@dataclass(frozen=True)
class SshHost:
    """A host by name, and where it answers SSH."""

    name: str
    address: str
    port: int = 22
    user: str = "root"


_STEP_MARK = "oam-step:"


class RemoteHost:
    """One SSH connection to a host; ``run`` raises :class:`RemoteError` naming the step."""

    def __init__(self, host: Endpoint, options: SshOptions) -> None:
        self.host = host
        kwargs: dict = {"look_for_keys": options.identity is None, "allow_agent": options.identity is None,
                        "banner_timeout": options.connect_timeout, "auth_timeout": options.connect_timeout}
        if options.identity is not None:
            kwargs["key_filename"] = str(options.identity)
        self.connection = Connection(host.address, port=host.port, user=host.user, connect_kwargs=kwargs,
                                     connect_timeout=int(max(1, options.connect_timeout)))
        check_host_keys(self.connection.client, options.known_hosts, options.trust_new_host_keys)

    def connect(self) -> None:
        try:
            self.connection.open()
        except paramiko.BadHostKeyException as exc:
            expected = exc.expected_key
            raise RemoteError("connect", f"host key of {self.host.address} CHANGED (expected {expected.get_name()} "
                                         f"{expected.get_fingerprint().hex()}); refusing to connect") from exc
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise RemoteError("connect", f"unknown host key for {self.host.address}:{self.host.port}; add it to "
                                             "known_hosts or pass --trust-new-host-keys") from exc
            raise RemoteError("connect", f"ssh to {self.host.address}:{self.host.port} failed: {exc}") from exc
        except (OSError, EOFError) as exc:
            raise RemoteError("connect", f"cannot reach {self.host.address}:{self.host.port}: "
                                         f"{exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)) from exc

    def _execute(self, step: str, command: str, timeout: float):
        self.connect()
        try:
            return self.connection.run(command, hide=True, warn=True, timeout=timeout, in_stream=False)
        except CommandTimedOut as exc:
            raise RemoteError(step, f"timed out after {timeout:.0f}s", uncertain=True) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise RemoteError(step, f"connection to {self.host.address} lost: {exc or type(exc).__name__}",
                              uncertain=True) from exc

    @staticmethod
    def _failure(exit_code: int, stderr: str, stdout: str) -> str:
        lines = (stderr.strip() or stdout.strip()).splitlines()
        return f"exit {exit_code}: {' | '.join(lines[-3:])[:300]}"

    def run(self, step: str, command: str, timeout: float) -> str:
        """Run ``command``; its stdout, or :class:`RemoteError` with the tail of its stderr."""
        result = self._execute(step, command, timeout)
        if result.exited != 0:
            raise RemoteError(step, self._failure(result.exited, result.stderr, result.stdout))
        return result.stdout

    def run_chain(self, steps: Sequence[tuple[str, str]], timeout: float) -> None:
        """Run several steps' commands in one round trip, stopping at the first failure.

        :class:`RemoteError` names the step that failed (each step announces itself on stderr);
        if the connection is lost, it names the first step, as nothing is known beyond that.
        """
        if not steps:
            return
        script = " && ".join(f"{{ echo {quote(_STEP_MARK + step)} >&2 && {command}; }}" for step, command in steps)
        result = self._execute(steps[0][0], script, timeout)
        if result.exited != 0:
            lines = result.stderr.splitlines()
            started = [line[len(_STEP_MARK):] for line in lines if line.startswith(_STEP_MARK)]
            stderr = "\n".join(line for line in lines if not line.startswith(_STEP_MARK))
            raise RemoteError(started[-1] if started else steps[0][0],
                              self._failure(result.exited, stderr, result.stdout))

    def put(self, step: str, local: Path, remote: str) -> None:
        self.connect()
        try:
            self.connection.put(str(local), remote)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            reason = exc or type(exc).__name__
            raise RemoteError(step, f"upload to {self.host.address}:{remote} failed: {reason}") from exc

    def put_text(self, step: str, text: str, remote: str, mode: int = 0o600) -> None:
        """Write ``text`` to ``remote`` over SFTP, ``mode`` set before any byte is written; no command
        line ever carries it (secrets stay out of the host's process list)."""
        self.connect()
        partial = remote + ".part"
        try:
            sftp = self.connection.sftp()
            with sftp.open(partial, "w") as handle:
                handle.chmod(mode)
                handle.write(text.encode())
            sftp.posix_rename(partial, remote)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            reason = exc or type(exc).__name__
            raise RemoteError(step, f"writing {self.host.address}:{remote} failed: {reason}") from exc

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> RemoteHost:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
