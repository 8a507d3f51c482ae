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
    """Spreads batches over the collectors in turn; one that fails sits out a cool-off.

    Each batch goes to the next collector in the rotation that is not cooling off; if that one
    fails, the others are tried at once (those cooling off last), so a batch is refused only
    when every collector is. Batches are sent one at a time, so their order is kept.
    """

    def __init__(self, urls: list[str], token: str, timeout: float = 30.0, cool_off: float = 30.0) -> None:
        if not urls:
            raise ValueError("at least one collector URL is needed")
        self.urls = [url.rstrip("/") for url in urls]
        self.token = token
        self.timeout = timeout
        self.cool_off = cool_off
        self.next = 0
        self.resting_until: dict[str, float] = {}
        self.session = requests.Session()
        self.batches_sent = 0
        self.bytes_sent = 0
        self.sent_to: dict[str, int] = {url: 0 for url in self.urls}

    def order(self, now: float) -> list[int]:
        """Collector indexes to try for the next batch: rotation order, cooling-off ones last."""
        rotation = [(self.next + step) % len(self.urls) for step in range(len(self.urls))]
        return sorted(rotation, key=lambda index: self.resting_until.get(self.urls[index], 0.0) > now)

    def send(self, lines: list[str]) -> Delivery:
        body = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Encoding": "gzip",
                   "Content-Type": "application/x-ndjson"}
        problems = []
        for index in self.order(time.monotonic()):
            url = self.urls[index]
            try:
                response = self.session.post(url + INGEST_PATH, data=body, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                problems.append(f"{url}: {type(exc).__name__}")
                self.resting_until[url] = time.monotonic() + self.cool_off
                continue
            if response.status_code in (200, 400):
                self.resting_until.pop(url, None)
                self.next = (index + 1) % len(self.urls)
                self.batches_sent += 1
                self.bytes_sent += len(body)
                self.sent_to[url] += 1
                payload = _json(response)
                return Delivery(int(payload.get("accepted", len(lines))), payload.get("failed", []), url)
            if response.status_code in (401, 403, 413):
                raise Refused(response.status_code, str(_json(response).get("error", response.reason)))
            problems.append(f"{url}: HTTP {response.status_code}")
            self.resting_until[url] = time.monotonic() + self.cool_off
        raise Unavailable("no collector accepted the batch (" + "; ".join(problems) + ")")


def _json(response: requests.Response) -> dict:
    try:
        value = response.json()
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def sleep_backoff(attempt: int) -> None:
    time.sleep(backoff_delay(attempt))
