"""Deploys and rollbacks started from the dashboard: run in a thread, progress kept for the page to poll."""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from foundation.waiting import wait_until

MAX_JOBS = 50


@dataclass
class Job:
    id: str
    action: str
    service: str
    user: str
    started: float = field(default_factory=time.time)
    lines: list[str] = field(default_factory=list)
    state: str = "running"  # running | succeeded | failed
    result: dict[str, Any] | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "service": self.service, "user": self.user,
                "started": self.started, "state": self.state, "lines": list(self.lines), "result": self.result,
                "error": self.error}


class JobBoard:
    """The app's recent jobs, newest last; old finished ones are forgotten."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def start(self, action: str, service: str, user: str, work: Callable[[Job], dict[str, Any]]) -> Job:
        job = Job(f"job-{next(self._ids)}", action, service, user)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].state == "running":
                    break
                del self._jobs[oldest]

        def run() -> None:
            try:
                job.result = work(job)
                job.state = "succeeded" if job.result.get("result") == "succeeded" else "failed"
            except Exception as exc:  # noqa: BLE001 - the page shows why it did not run, as one line
                job.error, job.state = str(exc) or type(exc).__name__, "failed"

        threading.Thread(target=run, name=f"oam-dashboard-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def wait(self, timeout: float) -> None:
        """Wait for running jobs to finish (used when the app stops)."""
        def idle() -> bool:
            with self._lock:
                return all(job.state != "running" for job in self._jobs.values())

        try:
            wait_until(idle, timeout=timeout, interval=0.1, what="running jobs to finish")
        except TimeoutError:
            pass  # the app stops anyway; a job still running ends with the process
