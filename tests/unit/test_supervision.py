"""`oam up`'s restart policy: back-off, start limit, give-up of one piece only, the state it writes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from backing_services.process import ServiceError
from oam.component import Component, ServiceStatus
from oam.config import Settings, SupervisionSettings
from oam.stack import CHANGES_FILE, LocalStack, read_state
from oam.supervision import GIVEN_UP, RESTARTING, RUNNING, PieceRecord, RestartPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_back_off_doubles_up_to_its_cap_and_the_start_limit_gives_up():
    clock = Clock()
    policy = RestartPolicy(SupervisionSettings(restart_sec=1, max_restart_sec=5, start_limit_burst=4,
                                               start_limit_interval_sec=100), clock)
    record, delays = PieceRecord(), []
    for _ in range(4):
        delays.append(policy.exited(record, -9))
        assert record.state == RESTARTING and not policy.is_due(record)
        clock.now += delays[-1]
        assert policy.is_due(record)
        policy.restarted(record)
        record.state = RUNNING
    assert delays == [1, 2, 4, 5]
    assert policy.exited(record, 1) is None and record.state == GIVEN_UP and record.restarts == 4
    assert not policy.is_due(record) and record.last_exit == 1


def test_a_piece_that_stayed_up_for_an_interval_starts_its_back_off_afresh():
    clock = Clock()
    policy = RestartPolicy(SupervisionSettings(restart_sec=2, start_limit_burst=2, start_limit_interval_sec=60), clock)
    record = PieceRecord()
    for _ in range(2):
        clock.now += policy.exited(record, -9)
        policy.restarted(record)
    clock.now += 61
    assert policy.exited(record, -9) == 2 and record.restarts == 2


class Process:
    def __init__(self, name: str) -> None:
        self.pid, self.code, self.pid_file = 100, None, Path(f"/nonexistent/{name}.pid")

    def exit_code(self) -> int | None:
        return self.code

    def log_tail(self, lines: int = 40) -> str:
        return "last words"


class Piece(Component):
    """A stand-in piece: ``alive`` says whether it runs; ``fails`` start attempts raise ServiceError."""

    def __init__(self, name: str, fails: int = 0) -> None:
        self.name, self.port, self.alive, self.fails, self.starts = name, None, True, fails, 0
        self._process = Process(name)

    def start(self, timeout: float) -> None:
        self.starts += 1
        if self.fails:
            self.fails -= 1
            raise ServiceError(f"{self.name} exited with code 3\nlog")
        self.alive, self._process.code = True, None

    def stop(self) -> None:
        self.alive = False

    def running(self) -> bool:
        return self.alive

    def probe(self) -> ServiceStatus:
        return ServiceStatus(self.name, "-", self.alive, "x")

    @property
    def process(self) -> Process:  # type: ignore[override]
        return self._process

    def die(self, code: int = -9) -> None:
        self.alive, self._process.code = False, code


@pytest.fixture
def stack(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, supervision=SupervisionSettings(
        restart_sec=1, start_limit_burst=2, start_limit_interval_sec=100))
    lines: list[str] = []
    stack = LocalStack(settings, say=lines.append, with_sample=False)
    stack.components = [Piece("collector"), Piece("dashboard", fails=10)]
    stack.records = {c.name: PieceRecord() for c in stack.components}
    clock = Clock()
    stack.policy.clock = clock
    settings.run_dir.mkdir(parents=True)
    return stack, clock, lines


def test_a_piece_that_exits_is_restarted_logged_counted_and_recorded_as_a_change(stack):
    stack, clock, lines = stack
    collector, dashboard = stack.components
    collector.die()
    stack.supervise(collector, 5)
    assert read_state(stack.settings)["services"]["collector"]["state"] == RESTARTING
    stack.supervise(collector, 5)
    assert collector.starts == 0  # its back-off has not passed yet
    clock.now += 1
    stack.supervise(collector, 5)
    assert collector.starts == 1 and collector.running()
    service = read_state(stack.settings)["services"]["collector"]
    assert service["state"] == RUNNING and service["restarts"] == 1 and service["last_exit"] == -9
    assert any("collector exited (code -9); restarting it in 1s" in line for line in lines)
    assert any(line.startswith("collector restarted (restart 1") for line in lines)
    event = json.loads((stack.settings.data_dir / "spool" / CHANGES_FILE).read_text())
    assert event["_kind"] == "changes" and event["event"]["action"] == "restart"
    assert event["change"]["target"] == "collector" and event["labels"]["restarts"] == 1
    assert dashboard.starts == 0 and dashboard.running()


def test_only_the_piece_that_crash_loops_is_given_up(stack):
    stack, clock, lines = stack
    collector, dashboard = stack.components
    dashboard.die(3)
    for _ in range(10):
        stack.supervise(dashboard, 5)
        stack.supervise(collector, 5)
        clock.now += 10
    assert dashboard.starts == 2 and collector.starts == 0 and collector.running()
    state = read_state(stack.settings)["services"]
    assert state["dashboard"]["state"] == GIVEN_UP and state["collector"]["state"] == RUNNING
    assert any("dashboard: given up after 2 restart(s)" in line for line in lines)
    assert not (stack.settings.data_dir / "spool" / CHANGES_FILE).exists()  # no restart ever succeeded
