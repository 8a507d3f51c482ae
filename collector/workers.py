"""Several collector processes on one port: each binds it with ``SO_REUSEPORT`` and serves with waitress.

Decoding is CPU-bound Python, so one process uses one core; with ``workers = N`` the kernel spreads
the incoming connections over N processes. ``oam collector run`` then is a small parent that
starts the workers (``--worker-index i``), passes SIGTERM/SIGINT on to them and starts again one
that died. Worker 0 keeps the configured spool directory, worker i its own ``worker-i`` inside it
(each spool is locked by the one process that owns it); ``/health`` counts the segments of all.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from backing_services.process import die_with_parent, stop_child

log = logging.getLogger("oam.collector")


def worker_count(setting: int | str) -> int:
    """``"auto"``: one per core this process may run on; else the number given."""
    if setting == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    return int(setting)


def worker_spool(spool_dir: Path, index: int) -> Path:
    return Path(spool_dir) if index == 0 else Path(spool_dir) / f"worker-{index}"


def spool_dirs(spool_dir: Path) -> list[Path]:
    """The spool directories of every worker a collector with this ``spool_dir`` ever ran."""
    return [Path(spool_dir), *sorted(Path(spool_dir).glob("worker-*"))]


def shared_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` that other processes may bind too (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


STARTUP_SECONDS = 10.0  # a worker that exits with code 1 this soon could not start: no point in retrying


def run_workers(count: int, worker_args: list[str], reread: Callable[[], str | None] = lambda: None,
                port: int | None = None) -> int:
    """Run ``count`` workers until SIGTERM or SIGINT; a worker that exits is started again after a second.

    On SIGHUP ``reread`` checks the settings (None: good, else the problem); good settings replace
    the workers one at a time, each new one listening on ``port`` before the next goes.
    Returns 1 if a worker could not start at all (bad settings or credentials), else 0."""
    stopping, failed, reload_wanted = False, 0, False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    def want_reload(*_: object) -> None:
        nonlocal reload_wanted
        reload_wanted = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, want_reload)

    def start(index: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "oam", *worker_args, "--worker-index", str(index)],
                                stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)

    began = time.monotonic()
    workers = {index: start(index) for index in range(count)}
    restart_at: dict[int, float] = {}
    while not stopping:
        if reload_wanted:
            reload_wanted = False
            problem = reread()
            if problem:
                log.error("SIGHUP: %s; the running workers stay", problem)
            else:
                for index in sorted(workers):
                    if stopping:
                        break
                    workers[index] = _replace(workers[index], lambda index=index: start(index), port)
                log.info("SIGHUP: %d workers replaced with the new settings", len(workers))
        for index, process in list(workers.items()):
            if process.poll() is None:
                continue
            if process.returncode == 1 and time.monotonic() - began < STARTUP_SECONDS:
                log.error("collector worker %d could not start (its error is above); stopping", index)
                stopping, failed = True, 1
                break
            if index not in restart_at:
                log.warning("collector worker %d (pid %d) exited with code %s; starting it again in 1s",
                            index, process.pid, process.returncode)
                restart_at[index] = time.monotonic() + 1.0
            elif time.monotonic() >= restart_at[index]:
                del restart_at[index]
                workers[index] = start(index)
        time.sleep(0.2)
    for process in workers.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 30
    for process in workers.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return failed


REPLACE_SECONDS = 30.0
"""How long a worker being replaced may take to finish its requests, and its successor to listen."""


def _replace(old: subprocess.Popen[bytes], start: Callable[[], subprocess.Popen[bytes]],
             port: int | None) -> subprocess.Popen[bytes]:
    """Stop ``old`` (its spool is then free), start its successor and wait until it listens on ``port``."""
    stop_child(old, REPLACE_SECONDS)
    new = start()
    deadline = time.monotonic() + REPLACE_SECONDS
    while port is not None and new.poll() is None and time.monotonic() < deadline and not listening(new.pid, port):
        time.sleep(0.1)
    return new


def listening(pid: int, port: int) -> bool:
    """Whether process ``pid`` has a TCP socket listening on ``port``."""
    try:
        process = psutil.Process(pid)
        sockets = process.net_connections("tcp") if hasattr(process, "net_connections") else process.connections("tcp")
    except psutil.Error:
        return False
    return any(sock.status == psutil.CONN_LISTEN and sock.laddr and sock.laddr.port == port for sock in sockets)
