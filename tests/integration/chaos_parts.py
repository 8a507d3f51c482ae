"""The moving parts of the chaos test: collectors and an agent as real processes, a CMDB probe,
and a watcher of the dashboard's overview. Each records what it saw, with times, for the asserts."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

from backing_services.process import ManagedProcess
from foundation.waiting import wait_until

WRITER = Path(__file__).with_name("chaos_writer.py")


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def child_env() -> dict[str, str]:
    """The test's environment without any OAM_* setting that could point a child elsewhere."""
    return {key: value for key, value in os.environ.items() if not key.startswith("OAM_")}


def oam_process(name: str, args: list[str], base: Path) -> ManagedProcess:
    """``python -m oam <args>`` in ``base`` (its own working directory, so no oam.toml is picked up)."""
    base.mkdir(parents=True, exist_ok=True)
    return ManagedProcess(name, [sys.executable, "-m", "oam", *args], cwd=base, log_path=base / f"{name}.log",
                          pid_file=base / f"{name}.pid", env=child_env())


def writer_process(telemetry: Path, base: Path, rate: float) -> ManagedProcess:
    base.mkdir(parents=True, exist_ok=True)
    return ManagedProcess("chaos-writer", [sys.executable, str(WRITER), str(telemetry), "--rate", str(rate)],
                          cwd=base, log_path=base / "writer.log", pid_file=base / "writer.pid",
                          env=child_env())


def kill_hard(process: ManagedProcess, timeout: float = 10.0) -> None:
    """SIGKILL the process group and wait until it is gone (a crash, not a stop)."""
    assert process.pid is not None and process.running(), f"{process.name} is not running"
    os.killpg(process.pid, signal.SIGKILL)
    wait_until(lambda: not process.running(), timeout=timeout, interval=0.05, what=f"{process.name} to die of SIGKILL")


def collector_health(url: str) -> dict[str, Any] | None:
    try:
        answer = requests.get(url + "/health", timeout=2)
    except requests.RequestException:
        return None
    return answer.json() if answer.status_code == 200 else None


def received_documents(url: str) -> float:
    """How many documents a collector has received since it started (its ``/metrics``)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(url + "/metrics", timeout=5).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == "oam_collector_received_documents_total")


class CmdbProbe(threading.Thread):
    """Writes then reads one CMDB key every ``period`` seconds; records every answer and failure."""

    def __init__(self, hosts: str, user: str, password: str, root: str, key: str, period: float = 0.15) -> None:
        super().__init__(name="chaos-cmdb-probe", daemon=True)
        from cmdb import Cmdb

        self.cmdb = Cmdb(hosts, user=user, password=password, root=root, actor="chaos-probe")
        self.key = key
        self.period = period
        self.stop = threading.Event()
        self.answers: list[float] = []
        self.failures: list[tuple[float, str]] = []
        self.started_at = self.ended_at = time.monotonic()

    def run(self) -> None:
        number = 0
        self.started_at = time.monotonic()
        while not self.stop.is_set():
            try:
                self.cmdb.store.set(self.key, {"n": number}, comment="probe")
                entry = self.cmdb.store.get(self.key)
                if entry.value != {"n": number}:
                    raise AssertionError(f"read {entry.value!r} after writing {number}")
                self.answers.append(time.monotonic())
            except Exception as exc:  # noqa: BLE001 - every failure is a finding
                self.failures.append((time.monotonic(), f"{type(exc).__name__}: {exc}"))
            number += 1
            self.stop.wait(self.period)

    def finish(self) -> None:
        self.stop.set()
        if self.ident is not None:  # started
            self.join(timeout=30)
        self.ended_at = time.monotonic()
        self.cmdb.close()

    def longest_gap(self) -> tuple[float, float]:
        """(length, start) of the longest time without a successful answer, over the probe's life."""
        marks = [self.started_at, *self.answers, self.ended_at]
        return max((later - earlier, earlier) for earlier, later in zip(marks, marks[1:]))


class OverviewWatcher(threading.Thread):
    """Asks the dashboard's ``/api/overview`` every second, keeping (time, health) pairs."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        super().__init__(name="chaos-overview", daemon=True)
        self.client = client
        self.headers = headers
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self.errors: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            answer = self.client.get("/api/overview", headers=self.headers)
            if answer.status_code == 200:
                self.seen.append((time.monotonic(), answer.json["health"]))
            else:
                self.errors.append(f"HTTP {answer.status_code}: {answer.get_data(as_text=True)[:200]}")
            self.halt.wait(1.0)

    def finish(self) -> None:
        self.halt.set()
        if self.ident is not None:  # started
            self.join(timeout=30)

    def states(self, part: str, start: float, end: float) -> list[bool]:
        """Whether ``part`` was healthy in each overview taken between ``start`` and ``end``."""
        return [health[part]["ok"] for at, health in self.seen if start <= at <= end and part in health]
