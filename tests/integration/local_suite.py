"""Helpers for tests that run the whole local suite (`oam up`) on free ports in a scratch data dir."""
from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Any

import psutil
import requests

from backing_services.ports import free_port
from foundation import waiting
from foundation.waiting import NotReady


def processes_under(path: Path) -> list[int]:
    """Pids whose command line names ``path`` (the services keep their config there)."""
    pids = []
    for process in psutil.process_iter():
        try:
            if str(path) in " ".join(process.cmdline()):
                pids.append(process.pid)
        except psutil.Error:
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
    """The first true value of ``condition()`` within ``timeout`` seconds; TimeoutError naming ``what`` if none."""
    return waiting.wait_until(condition, timeout=timeout, interval=every, what=what)


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    """Until ``url``/health answers 200; AssertionError with the process's output if it exits first."""
    def healthy() -> bool:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"{url} exited with code {process.returncode}: {output}")
        answer = requests.get(url + "/health", timeout=2)
        if not answer.ok:
            raise NotReady(f"/health answered {answer.status_code}")
        return True

    waiting.wait_until(healthy, timeout=timeout, interval=0.1, what=f"{url} to be healthy",
                       retry_on=(requests.RequestException,))


@contextlib.contextmanager
def collector_on_own_user(tmp: Path, es_users, es_client, prefix: str, token_name: str):
    """A collector writing ``prefix-*`` as the collector's Elasticsearch user, and a token for it;
    its indices are deleted afterwards."""
    from collector.auth import TokenStore
    from collector.config import CollectorElasticsearch, load_config
    from collector.testing import serve_in_thread
    from foundation.elasticsearch import delete_indices

    config = load_config(None, port=free_port(), tokens_file=tmp / "tokens.json", spool_dir=tmp / "spool",
                         index_prefix=prefix)
    config.elasticsearch = CollectorElasticsearch(**es_users["collector"].model_dump())  # its own user
    token = TokenStore(config.tokens_file).issue(token_name)
    try:
        with serve_in_thread(config) as collector:
            yield collector, token
    finally:
        delete_indices(es_client, f"{prefix}-*")
