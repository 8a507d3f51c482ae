"""Send NDJSON batches to the collectors: gzip, bearer token, failover, backoff with jitter."""
from __future__ import annotations

import gzip
import random
import time
from dataclasses import dataclass, field

import requests

INGEST_PATH = "/v1/ingest"


class Unavailable(RuntimeError):
    """No collector accepted the batch; try again later (the batch keeps its ids)."""


class Refused(RuntimeError):
    """A collector refused the batch for good (bad token, too large); retrying the same will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"collector answered {status}: {message}")
        self.status = status


@dataclass
class Delivery:
    accepted: int
    failed: list[dict] = field(default_factory=list)
    url: str = ""


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return (rng or random).uniform(0, min(cap, base * (2 ** max(0, attempt))))


class Shipper:
    """Posts batches to the first collector that takes them, starting with the last good one."""

    def __init__(self, urls: list[str], token: str, timeout: float = 30.0) -> None:
        if not urls:
            raise ValueError("at least one collector URL is needed")
        self.urls = [url.rstrip("/") for url in urls]
        self.token = token
        self.timeout = timeout
        self.current = 0
        self.session = requests.Session()
        self.batches_sent = 0
        self.bytes_sent = 0

    def send(self, lines: list[str]) -> Delivery:
        body = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Encoding": "gzip",
                   "Content-Type": "application/x-ndjson"}
        problems = []
        for step in range(len(self.urls)):
            index = (self.current + step) % len(self.urls)
            url = self.urls[index]
            try:
                response = self.session.post(url + INGEST_PATH, data=body, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                problems.append(f"{url}: {type(exc).__name__}")
                continue
            if response.status_code in (200, 400):
                self.current = index
                self.batches_sent += 1
                self.bytes_sent += len(body)
                payload = _json(response)
                return Delivery(int(payload.get("accepted", len(lines))), payload.get("failed", []), url)
            if response.status_code in (401, 403, 413):
                raise Refused(response.status_code, str(_json(response).get("error", response.reason)))
            problems.append(f"{url}: HTTP {response.status_code}")
        raise Unavailable("no collector accepted the batch (" + "; ".join(problems) + ")")


def _json(response: requests.Response) -> dict:
    try:
        value = response.json()
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def sleep_backoff(attempt: int) -> None:
    time.sleep(backoff_delay(attempt))
