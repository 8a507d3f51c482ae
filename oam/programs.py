"""The suite's own processes in ``oam up`` (``python -m oam ...``), and what each needs made first.

The collectors, the dashboard (its session key and, on the first start, its admin user) and the
host agent (its settings file) are prepared here; the secrets come from :mod:`oam.suite_secrets`.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from backing_services.process import ManagedProcess, ServiceError, pid_alive, read_pid
from collector.auth import READ
from foundation.settings import toml_text

from .component import Component, ServiceStatus
from .config import Settings
from .suite_secrets import cmdb_credentials, ensure_token, kept_secret, write_private


class ProgramComponent(Component):
    """One of the suite's own processes (``python -m oam ...``): started once ``health_path``
    (liveness) answers; healthy in ``oam status`` when ``ready_path`` (readiness) answers 200, or,
    for a piece without one, when ``/health`` says ``ok``.

    ``prepare``, if given, runs just before the start and returns more arguments (tokens and
    config files are made then, not when ``oam status`` merely looks).
    """

    def __init__(self, name: str, args: list[str], base_dir: Path, host: str, port: int | None = None,
                 prepare: Callable[[], list[str]] | None = None, health_path: str = "/health",
                 environment: Callable[[], dict[str, str]] | None = None, ready_path: str | None = None) -> None:
        self.name = name
        self.health_path = health_path
        self.ready_path = ready_path
        self.environment = environment
        self.port = port
        self.host = host
        self.prepare = prepare
        self._base_args = len(args)
        self._process = ManagedProcess(
            name, [sys.executable, "-m", "oam", *args], cwd=base_dir, log_path=base_dir / "logs" / f"{name}.log",
            pid_file=base_dir / "run" / f"{name}.pid",
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
            pid = read_pid(self._process.pid_file)
            alive = pid is not None and pid_alive(pid)
            return ServiceStatus(self.name, self.address, alive, "running" if alive else "not running")
        if self.ready_path is not None:
            return self._probe_ready()
        health = self._health()
        if health is None:
            return ServiceStatus(self.name, self.address, False, "not answering")
        detail = f"version {health['version']}" if "version" in health else "answering"
        return ServiceStatus(self.name, self.address, health.get("status") == "ok", detail)

    def _probe_ready(self) -> ServiceStatus:
        """``/ready``: 200 is healthy; a 503 names each failing check and why."""
        answer = get_json(f"{self.address}{self.ready_path}")
        if answer is None:
            return ServiceStatus(self.name, self.address, False, "not answering")
        code, body = answer
        version = f"version {body['version']}" if "version" in body else ""
        if code == 200:
            return ServiceStatus(self.name, self.address, True, ", ".join(filter(None, ("ready", version))))
        checks = body.get("checks") if isinstance(body.get("checks"), dict) else {}
        failing = [f"{name}: {check.get('detail') or 'failed'}" for name, check in checks.items()
                   if isinstance(check, dict) and not check.get("ok")]
        return ServiceStatus(self.name, self.address, False,
                             f"not ready (HTTP {code}): {'; '.join(failing) or 'no check named'}")


def get_json(url: str, timeout: float = 10.0) -> tuple[int, dict] | None:
    """The status and JSON object of a GET (an error status included), or None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            code, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        code, body = exc.code, exc.read()
    except OSError:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    return code, answer if isinstance(answer, dict) else {}


DASHBOARD_ADMIN = "admin"


def dashboard_prepare(settings: Settings, suite: list[str]) -> list[str]:
    """The session key, and on the first start the dashboard's admin user (its password kept)."""
    kept_secret(settings, "dashboard.key")
    password, new = kept_secret(settings, "dashboard-admin.password")
    if new:
        result = subprocess.run(
            [sys.executable, "-m", "oam", *suite, "dashboard", "add-user", DASHBOARD_ADMIN, "--role", "admin"],
            env={**os.environ, **cmdb_credentials(settings, "dashboard"), "OAM_DASHBOARD_PASSWORD": password},
            capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            (settings.run_dir / "dashboard-admin.password").unlink(missing_ok=True)
            raise ServiceError(f"could not create the dashboard's admin user: {result.stderr.strip()}")
    return ["--secret-key-file", str(settings.run_dir / "dashboard.key")]


def agent_config(settings: Settings, base: Path, more_paths: list[str] | None = None) -> list[str]:
    """Write the host agent's settings for `oam up` (ship the sample's files and ``more_paths``, scrape its
    metrics)."""
    ports, host = settings.ports, settings.host
    credentials = cmdb_credentials(settings, "agent")
    path = settings.run_dir / "agent.toml"
    write_private(path, toml_text({
        "agent": {"id": socket.gethostname(), "data_dir": settings.data_dir / "agent", "interval": 10, "role": "suite",
                  "metrics_port": ports.agent_metrics, "environment": "development"},
        "collector": {"urls": [f"http://{host}:{port}" for port in settings.ports.collectors()],
                      "token": ensure_token(settings, "oam-up-agent")},
        "logs": {"paths": [f"{base / 'telemetry'}/*.jsonl", f"{settings.data_dir / 'spool'}/*.jsonl",
                           *(more_paths or [])]},
        "scrape": [{"url": f"http://{host}:{ports.backend}/metrics"}, {"url": f"http://{host}:{ports.gateway}/metrics"}],
        "cmdb": {"hosts": f"{host}:{settings.zookeeper.port}", "user": credentials["OAM_CMDB_USER"],
                 "password": credentials["OAM_CMDB_PASSWORD"], "root": settings.cmdb.root},
    }))
    return ["--config", str(path)]


READ_TOKEN = "oam-read"  # `oam trace` on the local suite: <run_dir>/oam-read.token, scope read


def read_token(settings: Settings) -> list[str]:
    """Before the first collector starts: the suite's read token, kept for `oam trace` (no arguments)."""
    ensure_token(settings, READ_TOKEN, READ)
    return []


def collector_environment(settings: Settings) -> dict[str, str]:
    """For `oam env`: the first collector's URL and, once a suite has made it, the kept read token."""
    variables = {"OAM_COLLECTOR_URL": f"http://{settings.host}:{settings.ports.collector}"}
    kept = settings.run_dir / f"{READ_TOKEN}.token"
    if kept.exists():
        variables["OAM_COLLECTOR_TOKEN"] = kept.read_text().strip()
    return variables


def collectors(settings: Settings, suite: list[str]) -> list[Component]:
    """One collector per port, each with a spool of its own; they share the tokens and Elasticsearch."""
    components: list[Component] = []
    for number, port in enumerate(settings.ports.collectors(), start=1):
        name = "collector" if number == 1 else f"collector-{number}"
        components.append(ProgramComponent(
            name, [*suite, "collector", "run", "--port", str(port),
                   "--spool-dir", str(settings.data_dir / name / "spool")],
            settings.data_dir / "suite", settings.host, port,
            prepare=(lambda: read_token(settings)) if number == 1 else None, ready_path="/ready"))
    return components
