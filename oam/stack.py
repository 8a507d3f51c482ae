"""The local suite behind ``oam up``: start every piece, keep it running, report where it runs, stop it all.

``oam up`` runs in the foreground and owns its services (they die with it, even on SIGKILL);
a piece that exits is restarted by the policy of :mod:`oam.supervision`: each restart is logged,
written as a change event (``event.action: restart``, a marker on the dashboard's charts) and
counted in the state file ``<data_dir>/run/stack.json``, which lets ``oam status``, ``oam down``
and the dashboard's overview find the suite and its pieces.
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
from deployer.events import append_event
from foundation.waiting import wait_until
from telemetry.ecs import ServiceInfo, change_event

from . import __version__, alerting, sandbox
from .component import Component, ServiceStatus
from .config import Settings
from .programs import ProgramComponent, agent_config, collectors, dashboard_prepare
from .servers import ElasticsearchComponent, RedisComponent, ZooKeeperComponent
from .suite_secrets import cmdb_credentials, ensure_token
from .supervision import GIVEN_UP, RESTARTING, RUNNING, PieceRecord, RestartPolicy

STATE_FILE = "stack.json"
CHANGES_FILE = "suite-changes.jsonl"  # in <data_dir>/spool, which the suite's agent ships

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
                         prepare=lambda: dashboard_prepare(settings, suite), ready_path="/ready",
                         environment=lambda: cmdb_credentials(settings, "dashboard")),
        *alerting.components(settings, suite),
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
                             prepare=lambda: agent_config(settings, base, sandbox.telemetry_paths(settings)
                                                          if settings.sandbox.hosts else []), ready_path="/ready"),
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
        self.policy = RestartPolicy(settings.supervision)
        self.records = {component.name: PieceRecord() for component in self.components}
        self.started = time.time()
        self.phase = "starting"

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

    def _write_state(self, phase: str | None = None) -> None:
        self.phase = phase or self.phase
        state = {"pid": os.getpid(), "phase": self.phase, "started": self.started,
                 "data_dir": str(self.settings.data_dir),
                 "services": {c.name: {"pid": c.process.pid, "port": c.port, **self.records[c.name].as_state()}
                              for c in self.components}}
        path = state_path(self.settings)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, path)

    def wait(self, timeout: float = 120.0, interval: float = 0.5) -> int:
        """Supervise until Ctrl-C or SIGTERM (KeyboardInterrupt): restart each piece that exits.

        A piece past its start limit is given up and left stopped; the others keep running.
        ``timeout`` bounds each restart's wait for the piece to be healthy.
        """
        while True:
            for component in self.components:
                self.supervise(component, timeout)
            time.sleep(interval)

    def supervise(self, component: Component, timeout: float) -> None:
        """One look at one piece: note its exit, or start it again once its back-off has passed."""
        record = self.records[component.name]
        if record.state == GIVEN_UP:
            return
        if record.state != RESTARTING:
            if component.running():
                return
            code = component.process.exit_code()
            delay = self.policy.exited(record, code)
            if delay is None:
                self.say(f"{component.name} exited (code {code}) after {record.restarts} restart(s), "
                         f"{self.settings.supervision.start_limit_burst} within "
                         f"{self.settings.supervision.start_limit_interval_sec:g}s: given up (the rest of the "
                         f"suite keeps running); last lines of its log:\n{component.process.log_tail(20)}")
            else:
                self.say(f"{component.name} exited (code {code}); restarting it in {delay:g}s")
            self._write_state()
            return
        if not self.policy.is_due(record):
            return
        self.policy.restarted(record)
        began = time.monotonic()
        try:
            component.start(timeout)
        except ServiceError as exc:
            self.say(f"{component.name} restart {record.restarts} failed: {str(exc).splitlines()[0]}")
            component.stop()
            self.policy.exited(record, component.process.exit_code())
            if record.state == GIVEN_UP:
                self.say(f"{component.name}: given up after {record.restarts} restart(s)")
            self._write_state()
            return
        record.state = RUNNING
        self.say(f"{component.name} restarted (restart {record.restarts}, exit code was {record.last_exit}), "
                 f"ready in {time.monotonic() - began:.1f}s")
        self._write_state()
        self._change_event(component, record)

    def _change_event(self, component: Component, record: PieceRecord) -> None:
        """The restart as a change event (``event.category: configuration``, ``event.type: change``,
        ``event.action: restart``)."""
        event = change_event(ServiceInfo("oam", version=__version__), "restart", "oam up",
                             target=component.name, comment=f"exit code {record.last_exit}; "
                             f"restart {record.restarts}", labels={"restarts": record.restarts,
                                                                   "exit_code": record.last_exit})
        try:
            append_event(self.settings.data_dir / "spool" / CHANGES_FILE, event)
        except OSError as exc:
            self.say(f"could not record the restart of {component.name} as a change event: {exc}")

    def stop(self) -> None:
        if self.phase == "running":
            self._write_state("stopping")
        for component in reversed(self.components):
            began = time.monotonic()
            running = component.running()
            if running:
                self.say(f"stopping {component.name} ...")
            component.stop()
            if running:
                self.say(f"  {component.name} stopped in {time.monotonic() - began:.1f}s")
        state = read_state(self.settings)
        if state and state.get("pid") == os.getpid():
            state_path(self.settings).unlink(missing_ok=True)

    def status(self) -> list[ServiceStatus]:
        return [component.probe() for component in self.components]


def status(settings: Settings, with_sample: bool | None = None) -> list[ServiceStatus]:
    """Health of each piece, asked of the services themselves; the state file adds restarts and give-ups."""
    state = read_state(settings)
    if with_sample is None:
        with_sample = state is None or "gateway" in state.get("services", {})
    rows = [component.probe() for component in plan(settings, with_sample)]
    services = state.get("services", {}) if state and pid_alive(int(state.get("pid", 0))) else {}
    for row in rows:
        record = services.get(row.name, {})
        if record.get("state") == GIVEN_UP:
            row.healthy = False
            row.detail = (f"given up by oam up after {record.get('restarts', 0)} restart(s) "
                          f"(last exit code {record.get('last_exit')}); {row.detail}")
        elif record.get("restarts"):
            row.detail += f"; restarted {record['restarts']}x"
    return rows


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
