"""The local suite behind ``oam up``: start every piece, report where it runs, stop it all.

``oam up`` runs in the foreground and owns its services (they die with it, even on SIGKILL);
its state file ``<data_dir>/run/stack.json`` lets ``oam status`` and ``oam down`` find it.
"""
from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backing_services.ports import port_in_use
from backing_services.process import ServiceError, pid_alive
from foundation.waiting import wait_until

from . import sandbox
from .component import Component, ServiceStatus
from .config import Settings
from .programs import ProgramComponent, agent_config, collectors, dashboard_prepare
from .servers import ElasticsearchComponent, RedisComponent, ZooKeeperComponent
from .suite_secrets import cmdb_credentials, ensure_token

STATE_FILE = "stack.json"

__all__ = ["LocalStack", "ServiceStatus", "down", "plan", "read_state", "status"]


def plan(settings: Settings, with_sample: bool = True) -> list[Component]:
    """Everything ``oam up`` runs, in start order (stopped in reverse)."""
    ports, host = settings.ports, settings.host
    suite = ["--data-dir", str(settings.data_dir)]
    if settings.source:
        suite += ["--config", str(settings.source)]
    components: list[Component] = [
        ZooKeeperComponent(settings), ElasticsearchComponent(settings), *collectors(settings, suite),
        ProgramComponent("dashboard", [*suite, "dashboard", "run", "--bind", host, "--port", str(ports.dashboard),
                                       "-e", "development"], settings.data_dir / "suite", host, ports.dashboard,
                         prepare=lambda: dashboard_prepare(settings, suite), health_path="/login",
                         environment=lambda: cmdb_credentials(settings, "dashboard")),
    ]
    if with_sample:
        base = settings.data_dir / "sample"

        def sentry_dsn() -> list[str]:
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
                             prepare=lambda: agent_config(settings, base), health_path="/metrics"),
            ProgramComponent("load", ["load", "--url", f"http://{host}:{ports.gateway}", "--rate", "2",
                                      "--duration", str(10 * 365 * 86400), "--keys", "100", "--fail-ratio", "0.02"],
                             base, host),
        ]
        if settings.sandbox.hosts:
            components += sandbox.components(settings)
    return components


def state_path(settings: Settings) -> Path:
    return settings.run_dir / STATE_FILE


def read_state(settings: Settings) -> dict[str, Any] | None:
    try:
        return json.loads(state_path(settings).read_text())
    except (OSError, ValueError):
        return None


class LocalStack:
    """Every piece of the suite on one machine, started in order and stopped in reverse."""

    def __init__(self, settings: Settings, say: Callable[[str], None] = print, with_sample: bool = True) -> None:
        self.settings = settings
        self.say = say
        self.with_sample = with_sample
        self.components: list[Component] = plan(settings, with_sample)

    def _check_ports(self) -> None:
        busy = [f"{c.name} port {c.port}" for c in self.components
                if c.port is not None and port_in_use(c.port, self.settings.host)]
        if busy:
            raise ServiceError(f"already in use on {self.settings.host}: {', '.join(busy)} "
                               "(another suite or program runs there; change the port in oam.toml)")

    def start(self, timeout: float = 120.0) -> None:
        existing = read_state(self.settings)
        if existing and pid_alive(int(existing.get("pid", 0))) and existing.get("pid") != os.getpid():
            raise ServiceError(f"the suite is already running (pid {existing['pid']}); `oam down` stops it")
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        for component in self.components:
            if component.reap():
                self.say(f"stopped a leftover {component.name} from an earlier run")
        self._check_ports()
        if not self.settings.elasticsearch.security:
            self.say("warning: [elasticsearch] security = false: no TLS, no passwords, anyone on this machine can "
                     "read and delete every index (a development box only)")
        self._write_state("starting")
        try:
            for component in self.components:
                self.say(f"starting {component.name} ...")
                began = time.monotonic()
                component.start(timeout)
                self.say(f"  {component.name} ready in {time.monotonic() - began:.1f}s")
            if self.with_sample and self.settings.sandbox.hosts:
                self.say(sandbox.prepare(self.settings, cmdb_credentials(self.settings, "deployer")))
        except BaseException:
            self.stop()
            raise
        self._write_state("running")

    def _write_state(self, phase: str) -> None:
        state = {"pid": os.getpid(), "phase": phase, "started": time.time(), "data_dir": str(self.settings.data_dir),
                 "services": {c.name: {"pid": c.process.pid, "port": c.port} for c in self.components}}
        path = state_path(self.settings)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, path)

    def wait(self) -> int:
        """Block until a service dies (returns 1); Ctrl-C or SIGTERM raise KeyboardInterrupt."""
        while True:
            for component in self.components:
                if not component.running():
                    self.say(f"{component.name} exited unexpectedly (code {component.process.exit_code()}); "
                             f"last lines of its log:\n{component.process.log_tail(20)}")
                    return 1
            time.sleep(1.0)

    def stop(self) -> None:
        for component in reversed(self.components):
            if component.running():
                self.say(f"stopping {component.name} ...")
            component.stop()
        state = read_state(self.settings)
        if state and state.get("pid") == os.getpid():
            state_path(self.settings).unlink(missing_ok=True)

    def status(self) -> list[ServiceStatus]:
        return [component.probe() for component in self.components]


def status(settings: Settings, with_sample: bool | None = None) -> list[ServiceStatus]:
    """Health of each piece, asked of the services themselves (not of the state file)."""
    if with_sample is None:
        state = read_state(settings)
        with_sample = state is None or "gateway" in state.get("services", {})
    return [component.probe() for component in plan(settings, with_sample)]


def down(settings: Settings, timeout: float = 60.0) -> list[str]:
    """Stop a running ``oam up`` and anything it left behind; returns what was stopped."""
    stopped = []
    state = read_state(settings)
    if state and pid_alive(int(state["pid"])):
        os.kill(int(state["pid"]), signal.SIGTERM)
        try:
            wait_until(lambda: not pid_alive(int(state["pid"])), timeout=timeout, interval=0.2,
                       what=f"oam up (pid {state['pid']}) to stop")
        except TimeoutError:
            os.kill(int(state["pid"]), signal.SIGKILL)  # its services die with it (PDEATHSIG)
        stopped.append(f"oam up (pid {state['pid']})")
    for component in plan(settings, with_sample=True):
        if component.reap():
            stopped.append(f"leftover {component.name}")
    state_path(settings).unlink(missing_ok=True)
    return stopped
