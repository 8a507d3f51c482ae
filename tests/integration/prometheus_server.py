"""A real Prometheus server (Debian's ``prometheus``) for tests: its own free port, a temporary
config and data directory, short scrape intervals; asked only through its HTTP API."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from backing_services.ports import free_port
from backing_services.process import ManagedProcess
from foundation.waiting import wait_until

PROMETHEUS = Path("/usr/bin/prometheus")


class PrometheusServer:
    """``scrape_configs`` as Prometheus takes them (JSON is YAML), every job scraped each ``interval``."""

    def __init__(self, base: Path, scrape_configs: list[dict[str, Any]], interval: str = "1s") -> None:
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base.mkdir(parents=True, exist_ok=True)
        config = base / "prometheus.yml"
        config.write_text(json.dumps({"global": {"scrape_interval": interval, "scrape_timeout": interval,
                                                 "evaluation_interval": interval},
                                      "scrape_configs": scrape_configs}, indent=2))
        self.process = ManagedProcess(
            "prometheus", [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={base / 'data'}",
                           f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            cwd=base, log_path=base / "prometheus.log", pid_file=base / "prometheus.pid")

    def start(self, timeout: float = 30.0) -> None:
        self.process.start()
        self.process.wait_ready(self._ready, timeout=timeout, interval=0.2, what=f"Prometheus on {self.url}",
                                log_tail=lambda: self.process.log_tail(20))

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        self.process.stop(timeout=15)

    def api(self, path: str, **params: Any) -> Any:
        """The ``data`` of an ``/api/v1/...`` answer; AssertionError unless its status is success."""
        answer = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]

    def targets(self) -> list[dict[str, Any]]:
        return self.api("targets", state="active")["activeTargets"]

    def wait_all_up(self, jobs: set[str], timeout: float = 30.0) -> list[dict[str, Any]]:
        """The active targets once one of each job is up; TimeoutError with their last errors if not."""
        def all_up() -> list[dict[str, Any]] | None:
            targets = self.targets()
            up = {target["labels"]["job"] for target in targets if target["health"] == "up"}
            return targets if jobs <= up else None

        try:
            return wait_until(all_up, timeout=timeout, interval=0.5, what=f"every job of {sorted(jobs)} up")
        except TimeoutError:
            states = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in self.targets()}
            raise TimeoutError(f"targets not all up: {states}") from None
