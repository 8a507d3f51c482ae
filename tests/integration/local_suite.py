"""Helpers for tests that run the whole local suite (`oam up`) on free ports in a scratch data dir."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from backing_services.ports import free_port


def processes_under(path: Path) -> list[int]:
    """Pids whose command line names ``path`` (the services keep their config there)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(path) in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def suite_config(data_dir: Path) -> str:
    """An oam.toml that puts every piece of the suite on a free port and its data in ``data_dir``."""
    ports = {name: free_port() for name in ("es", "zk", "redis", "gateway", "backend", "collector", "collector_2",
                                            "agent", "dashboard", "ssh", "app")}
    return (f'data_dir = "{data_dir}"\n[elasticsearch]\nport = {ports["es"]}\nheap_mb = 384\n'
            f'[zookeeper]\nport = {ports["zk"]}\n'
            f'[ports]\nredis = {ports["redis"]}\ngateway = {ports["gateway"]}\nbackend = {ports["backend"]}\n'
            f'collector = {ports["collector"]}\ncollector_2 = {ports["collector_2"]}\n'
            f'agent_metrics = {ports["agent"]}\ndashboard = {ports["dashboard"]}\n'
            f'[sandbox]\nssh_port = {ports["ssh"]}\napp_port = {ports["app"]}\n')


def wait_until(condition, timeout: float, what: str, every: float = 0.25) -> Any:
    """The first true value of ``condition()`` within ``timeout`` seconds; AssertionError naming ``what`` if none."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    """Until ``url``/health answers 200; AssertionError with the process's output if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"{url} exited with code {process.returncode}: {output}")
        try:
            if requests.get(url + "/health", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not healthy within {timeout}s")
