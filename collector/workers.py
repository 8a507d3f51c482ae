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
from pathlib import Path

from backing_services.process import die_with_parent

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


def run_workers(count: int, worker_args: list[str]) -> int:
    """Run ``count`` workers until SIGTERM or SIGINT; a worker that exits is started again after a second.

    Returns 1 if a worker could not start at all (bad settings or credentials), else 0."""
    stopping, failed = False, 0

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def start(index: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "oam", *worker_args, "--worker-index", str(index)],
                                stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)

    began = time.monotonic()
    workers = {index: start(index) for index in range(count)}
    restart_at: dict[int, float] = {}
    while not stopping:
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
