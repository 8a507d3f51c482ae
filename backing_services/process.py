"""A child process that never outlives its owner, with a pid file for crash recovery.

Each service runs in its own session (process group), so stopping it stops every process it
spawned. Two guards keep orphans away:

* the kernel sends the child SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), which covers
  an owner killed with SIGKILL;
* a pid file holds the bare pid (``kill $(cat x.pid)`` and systemd's ``PIDFile=`` read it);
  :func:`reap_stale` kills a process left over from an earlier run, but only one that started
  before its pid file was written, so a recycled pid is never touched.
"""
from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import psutil

from foundation.waiting import wait_until

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A backing service failed to start, stop or answer; the message says why."""


def die_with_parent() -> None:
    """For ``preexec_fn``: the kernel sends the child SIGTERM when its parent dies (runs between fork and exec)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A group whose members are all zombies still "exists"; look for a live one.
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid and pid_alive(pid):
                return True
        except OSError:
            continue
    return False


def stop_child(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM a child, then SIGKILL after ``timeout`` seconds; waits for it."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def terminate_group(pgid: int, timeout: float = 30.0) -> None:
    """SIGTERM a process group, then SIGKILL whatever is left after ``timeout`` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        try:
            wait_until(lambda: not _group_alive(pgid), timeout=wait, interval=0.1,
                       what=f"process group {pgid} to exit after {sig.name}")
            return
        except TimeoutError:
            continue


def read_pid(pid_file: Path) -> int | None:
    """The pid a pid file holds (the bare number), None if there is none."""
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _started_before(pid: int, pid_file: Path) -> bool:
    """True if ``pid`` started before ``pid_file`` was written (not a later process with a recycled pid)."""
    try:
        return psutil.Process(pid).create_time() <= pid_file.stat().st_mtime + 1.0
    except (psutil.Error, OSError):
        return False


def reap_stale(pid_file: Path) -> bool:
    """Kill the process a leftover pid file names, if it is still ours; remove the file.

    Returns True if a live process was found and stopped.
    """
    pid = read_pid(pid_file)
    killed = False
    if pid is not None and pid_alive(pid) and _started_before(pid, pid_file):
        terminate_group(pid, timeout=15.0)
        killed = True
    pid_file.unlink(missing_ok=True)
    return killed


class ManagedProcess:
    """One service process: started detached from the terminal, logged to a file, stoppable."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        log_path: Path,
        pid_file: Path,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.log_path = log_path
        self.pid_file = pid_file
        self.env = dict(env if env is not None else os.environ)
        self.user = user
        self.die_with_parent = die_with_parent
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> None:
        """Start the process; a stale process from an earlier run of the same pid file is reaped."""
        if self.running():
            raise ServiceError(f"{self.name} is already running (pid {self.pid})")
        reap_stale(self.pid_file)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            try:
                self._popen = subprocess.Popen(
                    self.argv,
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    user=self.user,
                    group=self.user,
                    extra_groups=[] if self.user else None,
                    preexec_fn=die_with_parent if self.die_with_parent else None,
                )
            except OSError as exc:
                raise ServiceError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(f"{self._popen.pid}\n")
        os.replace(tmp, self.pid_file)

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def wait_ready(self, ready: Callable[[], T], *, timeout: float, interval: float, what: str,
                   label: str | None = None, log_tail: Callable[[], str] | None = None,
                   retry_on: tuple[type[BaseException], ...] = ()) -> T:
        """Poll ``ready`` until it answers something truthy (see :func:`foundation.waiting.wait_until`).

        ServiceError, with the log's tail, as soon as the process exits (``label`` names it) or
        when ``timeout`` passes first (``what`` says what was awaited).
        """
        tail_of = log_tail or (lambda: self.log_tail())

        def check() -> T:
            if not self.running():
                raise ServiceError(f"{label or self.name} exited with code {self.exit_code()}\n{tail_of()}")
            return ready()

        try:
            return wait_until(check, timeout=timeout, interval=interval, what=what, retry_on=retry_on)
        except TimeoutError as exc:
            raise ServiceError(f"{exc}\n{tail_of()}") from None

    def start_ready(self, ready: Callable[[], T], *, timeout: float, what: str, label: str | None = None,
                    interval: float = 0.1, retry_on: tuple[type[BaseException], ...] = ()) -> T:
        """:meth:`start`, then :meth:`wait_ready`; a process that does not get ready is stopped again."""
        self.start()
        try:
            return self.wait_ready(ready, timeout=timeout, interval=interval, what=what, label=label,
                                   retry_on=retry_on)
        except ServiceError:
            self.stop(timeout=5)
            raise

    def exit_code(self) -> int | None:
        return self._popen.poll() if self._popen else None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after ``timeout``."""
        if self._popen is not None:
            terminate_group(self._popen.pid, timeout)
            try:
                self._popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.pid_file.unlink(missing_ok=True)

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)


class ProcessService:
    """A backing service run as one :class:`ManagedProcess` (``self.process``): stop it, ask if it runs."""

    process: ManagedProcess

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout)

    def running(self) -> bool:
        return self.process.running()


_PROBLEM = re.compile(r"\b(ERROR|FATAL|SEVERE)\b|^\S*(Exception|Error)\b")


def problems(path: Path, limit: int = 5) -> list[str]:
    """The last few distinct error lines of a log (stack frames skipped), oldest first."""
    found: list[str] = []
    for line in tail(path, 2000).splitlines():
        if _PROBLEM.search(line) and not line.startswith(("\t", " ")) and line not in found:
            found.append(line[:500])
    return found[-limit:]


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            data = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
