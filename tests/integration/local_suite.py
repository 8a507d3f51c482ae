"""Helpers for tests that run the whole local suite (`oam up`) on free ports in a scratch data dir."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import requests

from agents.host.config import AgentConfig
from agents.host.daemon import HostAgent
from backing_services.ports import free_port
from collector.auth import TokenStore
from collector.config import CollectorElasticsearch, load_config
from collector.testing import serve_in_thread
from foundation import waiting
from foundation.elasticsearch import delete_indices
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
                                            "agent", "dashboard", "ssh", "app", "alertmanager", "smtp")}
    return (f'data_dir = "{data_dir}"\n[elasticsearch]\nport = {ports["es"]}\nheap_mb = 384\n'
            f'[zookeeper]\nport = {ports["zk"]}\n'
            f'[ports]\nredis = {ports["redis"]}\ngateway = {ports["gateway"]}\nbackend = {ports["backend"]}\n'
            f'collector = {ports["collector"]}\ncollector_2 = {ports["collector_2"]}\n'
            f'agent_metrics = {ports["agent"]}\ndashboard = {ports["dashboard"]}\n'
            f'alertmanager = {ports["alertmanager"]}\nsmtp = {ports["smtp"]}\n'
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


@contextlib.contextmanager
def sample_pipeline(base: Path, prefix: str, es_users: Any, es_client: Any, redis_server: Any) -> Iterator[dict]:
    """The sample service (gateway, backend, worker) on free ports, shipped by a real host agent into a
    collector in a thread that indexes under ``prefix``; its indices are deleted afterwards."""
    telemetry = base / "telemetry"
    config = load_config(None, port=free_port(), tokens_file=base / "tokens.json", spool_dir=base / "spool",
                         index_prefix=prefix)
    config.elasticsearch = CollectorElasticsearch(**es_users["collector"].model_dump())  # its own user
    tokens = TokenStore(config.tokens_file)
    agent_token, sentry_key = tokens.issue("e2e-agent"), tokens.issue("order-service")
    read_token = tokens.issue("e2e-reader", scope="read")
    with serve_in_thread(config) as collector:
        port = collector.url.rsplit(":", 1)[1]
        dsn = f"http://{sentry_key}@127.0.0.1:{port}/1"
        common = ["--redis-url", redis_server.url, "--data-dir", str(base / "data"), "--telemetry-dir",
                  str(telemetry), "--sentry-dsn", dsn, "--environment", "e2e"]
        backend_port, gateway_port = free_port(), free_port()
        args = {"backend": [*common, "--port", str(backend_port)],
                "worker": common,
                "gateway": [*common, "--port", str(gateway_port), "--backend-url", f"http://127.0.0.1:{backend_port}"]}
        processes = {name: subprocess.Popen([sys.executable, "-m", "oam", "sample", name, *a], stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True) for name, a in args.items()}
        agent = HostAgent(AgentConfig(agent_id="e2e-host", data_dir=base / "agent", interval=2, metrics_port=0,
                                      collector_urls=[collector.url], token=agent_token, flush_seconds=0.2,
                                      log_paths=[str(telemetry / "*.jsonl")],
                                      scrape_urls=[f"http://127.0.0.1:{backend_port}/metrics"]))
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        try:
            wait_healthy(f"http://127.0.0.1:{backend_port}", processes["backend"], timeout=60)
            wait_healthy(f"http://127.0.0.1:{gateway_port}", processes["gateway"], timeout=60)
            assert processes["worker"].poll() is None, f"worker exited: {processes['worker'].stdout.read()}"
            yield {"gateway": f"http://127.0.0.1:{gateway_port}", "collector": collector.url,
                   "token": agent_token, "read_token": read_token, "backend": f"http://127.0.0.1:{backend_port}"}
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
            agent.stop.set()
            thread.join(timeout=10)
            delete_indices(es_client, f"{prefix}-*")
