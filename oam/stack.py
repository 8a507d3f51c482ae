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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backing_services.elasticsearch import ADMIN_USER, ElasticsearchServer
from backing_services.ports import port_in_use
from backing_services.process import ServiceError, pid_alive, reap_stale
from backing_services.zookeeper import ZooKeeperServer, four_letter_word

from .config import Settings

STATE_FILE = "stack.json"


@dataclass
class ServiceStatus:
    name: str
    address: str
    healthy: bool
    detail: str


def state_path(settings: Settings) -> Path:
    return settings.run_dir / STATE_FILE


def read_state(settings: Settings) -> dict[str, Any] | None:
    try:
        return json.loads(state_path(settings).read_text())
    except (OSError, ValueError):
        return None


class LocalStack:
    """Elasticsearch and ZooKeeper (and, as they land, the suite's own pieces) on one machine."""

    def __init__(self, settings: Settings, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.say = say
        es = settings.elasticsearch
        self.elasticsearch = ElasticsearchServer(
            settings.data_dir / "elasticsearch", http_port=es.port, heap_mb=es.heap_mb,
            security=es.security, password=es.password, host=settings.host,
        )
        self.zookeeper = ZooKeeperServer(settings.data_dir / "zookeeper", settings.zookeeper.port, settings.host)

    def _check_ports(self) -> None:
        wanted = {"elasticsearch": self.settings.elasticsearch.port, "zookeeper": self.settings.zookeeper.port}
        busy = [f"{name} port {port}" for name, port in wanted.items() if port_in_use(port, self.settings.host)]
        if busy:
            raise ServiceError(f"already in use on {self.settings.host}: {', '.join(busy)} "
                               "(another suite or program runs there; change the port in oam.toml)")

    def start(self, timeout: float = 120.0) -> None:
        existing = read_state(self.settings)
        if existing and pid_alive(int(existing.get("pid", 0))) and existing.get("pid") != os.getpid():
            raise ServiceError(f"the suite is already running (pid {existing['pid']}); `oam down` stops it")
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.elasticsearch.process.pid_file, self.zookeeper.process.pid_file):
            if reap_stale(stale):
                self.say(f"stopped a leftover process from an earlier run ({stale})")
        self._check_ports()
        self._write_state("starting")
        try:
            self._timed("zookeeper", lambda: self.zookeeper.start(timeout=timeout))
            self._timed("elasticsearch", lambda: self.elasticsearch.start(timeout=timeout))
        except BaseException:
            self.stop()
            raise
        self._write_state("running")

    def _timed(self, name: str, start: Callable[[], None]) -> None:
        self.say(f"starting {name} ...")
        began = time.monotonic()
        start()
        self.say(f"  {name} healthy in {time.monotonic() - began:.1f}s")

    def _write_state(self, phase: str) -> None:
        state = {
            "pid": os.getpid(), "phase": phase, "started": time.time(), "data_dir": str(self.settings.data_dir),
            "services": {
                "elasticsearch": {"url": self.elasticsearch.url, "pid": self.elasticsearch.process.pid,
                                  "user": ADMIN_USER if self.settings.elasticsearch.security else None},
                "zookeeper": {"connect": self.zookeeper.connection_string, "pid": self.zookeeper.process.pid},
            },
        }
        path = state_path(self.settings)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, path)

    def wait(self) -> int:
        """Block until a service dies (returns 1); Ctrl-C or SIGTERM raise KeyboardInterrupt."""
        while True:
            for name, service in (("elasticsearch", self.elasticsearch), ("zookeeper", self.zookeeper)):
                if not service.running():
                    self.say(f"{name} exited unexpectedly (code {service.process.exit_code()}); "
                             f"last lines of its log:\n{service.process.log_tail(20)}")
                    return 1
            time.sleep(1.0)

    def stop(self) -> None:
        for name, service in (("elasticsearch", self.elasticsearch), ("zookeeper", self.zookeeper)):
            if service.running():
                self.say(f"stopping {name} ...")
            service.stop()
        state = read_state(self.settings)
        if state and state.get("pid") == os.getpid():
            state_path(self.settings).unlink(missing_ok=True)


def status(settings: Settings) -> list[ServiceStatus]:
    """Health of each piece, asked of the services themselves (not of the state file)."""
    es = ElasticsearchServer(settings.data_dir / "elasticsearch", http_port=settings.elasticsearch.port,
                             security=settings.elasticsearch.security, password=settings.elasticsearch.password,
                             host=settings.host)
    try:
        health = es.request("GET", "/_cluster/health", timeout=3)
        nodes = es.request("GET", "/_nodes/_local/info/http", timeout=3)["nodes"]
        version = next(iter(nodes.values()))["version"]
        es_status = ServiceStatus("elasticsearch", es.url, health["status"] in ("green", "yellow"),
                                  f"{health['status']}, version {version}")
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        es_status = ServiceStatus("elasticsearch", es.url, False, f"not answering ({exc})")
    zk_port = settings.zookeeper.port
    answer = four_letter_word(zk_port, "ruok", settings.host)
    zk_status = ServiceStatus("zookeeper", f"{settings.host}:{zk_port}", answer == "imok",
                              f"ruok -> {answer}" if answer else "not answering")
    return [es_status, zk_status]


def down(settings: Settings, timeout: float = 60.0) -> list[str]:
    """Stop a running ``oam up`` and anything it left behind; returns what was stopped."""
    stopped = []
    state = read_state(settings)
    if state and pid_alive(int(state["pid"])):
        os.kill(int(state["pid"]), signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(int(state["pid"])) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(int(state["pid"])):
            os.kill(int(state["pid"]), signal.SIGKILL)  # its services die with it (PDEATHSIG)
        stopped.append(f"oam up (pid {state['pid']})")
    for name in ("elasticsearch", "zookeeper"):
        if reap_stale(settings.data_dir / name / f"{name}.pid"):
            stopped.append(f"leftover {name}")
    state_path(settings).unlink(missing_ok=True)
    return stopped
