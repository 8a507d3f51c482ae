"""Restart policy of ``oam up``: a piece that exits is started again, with a back-off and a start limit.

Modelled on systemd's ``Restart=on-failure``: the first restart waits ``restart_sec``, each further
one twice as long (up to ``max_restart_sec``); a piece started more than ``start_limit_burst`` times
within ``start_limit_interval_sec`` is given up (systemd's ``StartLimitBurst`` and
``StartLimitIntervalSec``) — only that piece; the rest of the suite keeps running. A piece that
stays up for a whole interval starts afresh (its back-off is forgotten, its restart count kept).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import SupervisionSettings

RUNNING, RESTARTING, GIVEN_UP = "running", "restarting", "given up"


@dataclass
class PieceRecord:
    """What the supervisor knows of one piece: its state, how often it was restarted, its last exit."""

    state: str = RUNNING
    restarts: int = 0
    last_exit: int | None = None
    last_restart: float | None = None  # wall-clock time of the last restart
    due: float | None = None  # monotonic time of the next start attempt
    recent: list[float] = field(default_factory=list)  # monotonic times of restarts within the interval

    def as_state(self) -> dict[str, object]:
        return {"state": self.state, "restarts": self.restarts, "last_exit": self.last_exit,
                "last_restart": self.last_restart}


class RestartPolicy:
    """Decides when a piece that exited is started again, and when it is given up."""

    def __init__(self, settings: SupervisionSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock

    def exited(self, record: PieceRecord, code: int | None) -> float | None:
        """Record an exit; the delay before the next start, or None if the piece is given up."""
        now = self.clock()
        window = self.settings.start_limit_interval_sec
        record.recent = [at for at in record.recent if now - at < window]
        record.last_exit = code
        if len(record.recent) >= self.settings.start_limit_burst:
            record.state, record.due = GIVEN_UP, None
            return None
        delay = min(self.settings.restart_sec * 2 ** len(record.recent), self.settings.max_restart_sec)
        record.state, record.due = RESTARTING, now + delay
        return delay

    def is_due(self, record: PieceRecord) -> bool:
        return record.state == RESTARTING and record.due is not None and self.clock() >= record.due

    def restarted(self, record: PieceRecord) -> None:
        """Count one start attempt (whether or not the piece became healthy)."""
        record.recent.append(self.clock())
        record.restarts += 1
        record.last_restart = time.time()
        record.due = None
