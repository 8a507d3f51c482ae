"""The pieces ``oam up`` runs, each behind one small interface: start, stop, probe.

A component's ``probe`` asks the running service itself (HTTP, ``ruok``, ``PING``, or its pid
file for a process without a port), so ``oam status`` works from any other process.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backing_services.elasticsearch import ElasticsearchServer
from backing_services.process import ManagedProcess, ServiceError, pid_alive, reap_stale
from backing_services.redis import RedisServer, ping
from backing_services.zookeeper import ZooKeeperServer, four_letter_word

from .config import Settings


@dataclass
class ServiceStatus:
    name: str
    address: str
    healthy: bool
    detail: str


class Component(ABC):
    name: str
    port: int | None

    @abstractmethod
    def start(self, timeout: float) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def running(self) -> bool: ...

    @abstractmethod
    def probe(self) -> ServiceStatus: ...

    @property
    @abstractmethod
    def process(self) -> ManagedProcess: ...

    def reap(self) -> bool:
        """Stop what an earlier, killed run left behind; True if something was stopped."""
        return reap_stale(self.process.pid_file)


class ServerComponent(Component):
    """A backing server from :mod:`backing_services` (it starts, stops and runs itself)."""

    server: ElasticsearchServer | ZooKeeperServer | RedisServer

    def start(self, timeout: float) -> None:
        self.server.start(timeout=timeout)

    def stop(self) -> None:
        self.server.stop()

    def running(self) -> bool:
        return self.server.running()

    @property
    def process(self) -> ManagedProcess:
        return self.server.process


class ElasticsearchComponent(ServerComponent):
    name = "elasticsearch"

    def __init__(self, settings: Settings) -> None:
        es = settings.elasticsearch
        self.port = es.port
        self.server = ElasticsearchServer(settings.data_dir / "elasticsearch", http_port=es.port, heap_mb=es.heap_mb,
                                          security=es.security, password=es.password, host=settings.host)

    def probe(self) -> ServiceStatus:
        server = self.server
        try:
            health = server.request("GET", "/_cluster/health", timeout=3)
            nodes = server.request("GET", "/_nodes/_local/info/http", timeout=3)["nodes"]
            version = next(iter(nodes.values()))["version"]
            return ServiceStatus(self.name, server.url, health["status"] in ("green", "yellow"),
                                 f"{health['status']}, version {version}")
        except (OSError, ValueError, KeyError, StopIteration) as exc:
            return ServiceStatus(self.name, server.url, False, f"not answering ({exc})")


class ZooKeeperComponent(ServerComponent):
    name = "zookeeper"

    def __init__(self, settings: Settings) -> None:
        self.port = settings.zookeeper.port
        self.server = ZooKeeperServer(settings.data_dir / "zookeeper", self.port, settings.host)

    def probe(self) -> ServiceStatus:
        answer = four_letter_word(self.port, "ruok", self.server.host)
        return ServiceStatus(self.name, self.server.connection_string, answer == "imok",
                             f"ruok -> {answer}" if answer else "not answering")


class RedisComponent(ServerComponent):
    name = "redis"

    def __init__(self, settings: Settings) -> None:
        self.port = settings.ports.redis
        self.server = RedisServer(settings.data_dir / "redis", self.port, settings.host)

    def probe(self) -> ServiceStatus:
        healthy = ping(self.port, self.server.host)
        return ServiceStatus(self.name, self.server.url, healthy, "PING -> PONG" if healthy else "not answering")


class ProgramComponent(Component):
    """One of the suite's own processes (``python -m oam ...``), healthy when ``/health`` says so.

    ``prepare``, if given, runs just before the start and returns more arguments (tokens and
    config files are made then, not when ``oam status`` merely looks).
    """

    def __init__(self, name: str, args: list[str], base_dir: Path, host: str, port: int | None = None,
                 prepare: Callable[[], list[str]] | None = None, health_path: str = "/health",
                 environment: Callable[[], dict[str, str]] | None = None) -> None:
        self.name = name
        self.health_path = health_path
        self.environment = environment
        self.port = port
        self.host = host
        self.prepare = prepare
        self._base_args = len(args)
        self._process = ManagedProcess(
            name, [sys.executable, "-m", "oam", *args], cwd=base_dir, log_path=base_dir / "logs" / f"{name}.log",
            pid_file=base_dir / "run" / f"{name}.pid", marker=f"{base_dir}",
        )

    @property
    def process(self) -> ManagedProcess:
        return self._process

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}" if self.port else "(no port)"

    def _health(self) -> dict | None:
        """The health answer (JSON, or ``{"status": "ok"}`` for any other 200), None if none."""
        try:
            with urllib.request.urlopen(f"{self.address}{self.health_path}", timeout=2) as response:
                body = response.read()
        except OSError:
            return None
        try:
            answer = json.loads(body)
        except ValueError:
            return {"status": "ok"}
        return answer if isinstance(answer, dict) else {"status": "ok"}

    def start(self, timeout: float) -> None:
        if self.environment is not None:
            self._process.env = {**os.environ, **self.environment()}
        if self.prepare is not None:
            self._process.argv = [*self._process.argv[:3 + self._base_args], *self.prepare()]
        self._process.start()
        try:
            self._process.wait_ready(lambda: self.port is None or self._health() is not None, timeout=timeout,
                                     interval=0.2, what=f"{self.name} on {self.address} to answer its health check",
                                     log_tail=lambda: self._process.log_tail(20))
        except ServiceError:
            self._process.stop(timeout=5)
            raise

    def stop(self) -> None:
        self._process.stop(timeout=15)

    def running(self) -> bool:
        return self._process.running()

    def probe(self) -> ServiceStatus:
        if self.port is None:
            try:
                alive = pid_alive(int(json.loads(self._process.pid_file.read_text())["pid"]))
            except (OSError, ValueError, KeyError):
                alive = False
            return ServiceStatus(self.name, self.address, alive, "running" if alive else "not running")
        health = self._health()
        if health is None:
            return ServiceStatus(self.name, self.address, False, "not answering")
        detail = f"version {health['version']}" if "version" in health else "answering"
        return ServiceStatus(self.name, self.address, health.get("status") == "ok", detail)


DASHBOARD_ADMIN = "admin"


def cmdb_credentials(settings: Settings) -> dict[str, str]:
    """The CMDB account the suite's own pieces use: from the settings, else one made on first start."""
    from .tokens import kept_secret

    user = settings.cmdb.user or "oam-suite"
    password = settings.cmdb.password or kept_secret(settings, "cmdb-suite.password")[0]
    return {"OAM_CMDB_USER": user, "OAM_CMDB_PASSWORD": password}


def _dashboard_prepare(settings: Settings, suite: list[str]) -> list[str]:
    """The session key, and on the first start the dashboard's admin user (its password kept)."""
    from .tokens import kept_secret

    kept_secret(settings, "dashboard.key")
    password, new = kept_secret(settings, "dashboard-admin.password")
    if new:
        result = subprocess.run(
            [sys.executable, "-m", "oam", *suite, "dashboard", "add-user", DASHBOARD_ADMIN, "--role", "admin"],
            env={**os.environ, **cmdb_credentials(settings), "OAM_DASHBOARD_PASSWORD": password},
            capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            (settings.run_dir / "dashboard-admin.password").unlink(missing_ok=True)
            raise ServiceError(f"could not create the dashboard's admin user: {result.stderr.strip()}")
    return ["--secret-key-file", str(settings.run_dir / "dashboard.key")]


def _agent_config(settings: Settings, base: Path) -> list[str]:
    """Write the host agent's settings for `oam up` (ship the sample's files, scrape its metrics)."""
    from .tokens import ensure_token, write_private

    ports, host = settings.ports, settings.host
    credentials = cmdb_credentials(settings)
    path = settings.run_dir / "agent.toml"
    write_private(path, "\n".join([
        "[agent]", f'id = "{socket.gethostname()}"', f'data_dir = "{settings.data_dir / "agent"}"', "interval = 10",
        'role = "suite"',
        f"metrics_port = {ports.agent_metrics}", 'environment = "development"', "",
        "[collector]", "urls = [" + ", ".join(f'"http://{host}:{port}"' for port in settings.ports.collectors()) + "]",
        f'token = "{ensure_token(settings, "oam-up-agent")}"', "",
        "[logs]", f'paths = ["{base / "telemetry"}/*.jsonl", "{settings.data_dir / "spool"}/*.jsonl"]', "",
        "[[scrape]]", f'url = "http://{host}:{ports.backend}/metrics"', "",
        "[[scrape]]", f'url = "http://{host}:{ports.gateway}/metrics"', "",
        "[cmdb]", f'hosts = "{host}:{settings.zookeeper.port}"', f'user = "{credentials["OAM_CMDB_USER"]}"',
        f'password = "{credentials["OAM_CMDB_PASSWORD"]}"', f'root = "{settings.cmdb.root}"']))
    return ["--config", str(path)]


def _collectors(settings: Settings, suite: list[str]) -> list[Component]:
    """One collector per port, each with a spool of its own; they share the tokens and Elasticsearch."""
    components: list[Component] = []
    for number, port in enumerate(settings.ports.collectors(), start=1):
        name = "collector" if number == 1 else f"collector-{number}"
        components.append(ProgramComponent(
            name, [*suite, "collector", "run", "--port", str(port),
                   "--spool-dir", str(settings.data_dir / name / "spool")],
            settings.data_dir / "suite", settings.host, port))
    return components


def plan(settings: Settings, with_sample: bool = True) -> list[Component]:
    """Everything ``oam up`` runs, in start order (stopped in reverse)."""
    ports, host = settings.ports, settings.host
    suite = ["--data-dir", str(settings.data_dir)]
    if settings.source:
        suite += ["--config", str(settings.source)]
    components: list[Component] = [
        ZooKeeperComponent(settings), ElasticsearchComponent(settings), *_collectors(settings, suite),
        ProgramComponent("dashboard", [*suite, "dashboard", "run", "--bind", host, "--port", str(ports.dashboard),
                                       "-e", "development"], settings.data_dir / "suite", host, ports.dashboard,
                         prepare=lambda: _dashboard_prepare(settings, suite), health_path="/login",
                         environment=lambda: cmdb_credentials(settings)),
    ]
    if with_sample:
        base = settings.data_dir / "sample"

        def sentry_dsn() -> list[str]:
            from .tokens import ensure_token

            return ["--sentry-dsn", f"http://{ensure_token(settings, 'order-service')}@{host}:{ports.collector}/1"]

        common = ["--bind", host, "--redis-url", f"redis://{host}:{ports.redis}/0", "--data-dir", str(base / "data"),
                  "--telemetry-dir", str(base / "telemetry")]
        components += [
            RedisComponent(settings),
            ProgramComponent("backend", ["sample", "backend", *common, "--port", str(ports.backend)], base, host,
                             ports.backend, prepare=sentry_dsn),
            ProgramComponent("worker", ["sample", "worker", *common], base, host, prepare=sentry_dsn),
            ProgramComponent("gateway", ["sample", "gateway", *common, "--port", str(ports.gateway),
                                         "--backend-url", f"http://{host}:{ports.backend}"], base, host, ports.gateway,
                             prepare=sentry_dsn),
            ProgramComponent("agent", ["agent", "run"], settings.data_dir / "suite", host, ports.agent_metrics,
                             prepare=lambda: _agent_config(settings, base), health_path="/metrics"),
            ProgramComponent("load", ["load", "--url", f"http://{host}:{ports.gateway}", "--rate", "2",
                                      "--duration", str(10 * 365 * 86400), "--keys", "100", "--fail-ratio", "0.02"],
                             base, host),
        ]
        if settings.sandbox.hosts:
            from . import sandbox

            components += sandbox.components(settings)
    return components
