"""Send NDJSON batches to the collectors: gzip, bearer token, failover, the collectors' ``Retry-After``.

How long to wait before the next batch is the caller's (the daemon's backoff, see
:mod:`foundation.waiting`); a collector that answered 429 or 503 with ``Retry-After`` is not sent
to again before that time, and :attr:`Unavailable.retry_after` tells the caller how long to wait
when every collector asked so.
"""
from __future__ import annotations

import gzip
import time
from dataclasses import dataclass, field

import requests

from foundation.waiting import parse_retry_after

INGEST_PATH = "/v1/ingest"
THROTTLED = (429, 503)
RETRY_AFTER_CAP = 300.0  # a collector may hold an agent back this long at most


class Unavailable(RuntimeError):
    """No collector accepted the batch; try again later (the batch keeps its ids).

    ``retry_after``: seconds until the first collector that asked for a pause takes batches again,
    when every collector asked for one (None otherwise: the caller's backoff decides).
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


class Shipper:
    """Spreads batches over the collectors in turn; one that fails sits out a cool-off.

    Each batch goes to the next collector in the rotation that is not cooling off; if that one
    fails, the others are tried at once (those cooling off last), so a batch is refused only
    when every collector is. One that answered 429/503 with ``Retry-After`` is skipped until then.
    Batches are sent one at a time, so their order is kept.
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
        self.not_before: dict[str, float] = {}  # from the collectors' Retry-After
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
            wait = self.not_before.get(url, 0.0) - time.monotonic()
            if wait > 0:
                problems.append(f"{url}: asked to wait {wait:.1f}s more")
                continue
            try:
                response = self.session.post(url + INGEST_PATH, data=body, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                problems.append(f"{url}: {type(exc).__name__}")
                self.resting_until[url] = time.monotonic() + self.cool_off
                continue
            if response.status_code in (200, 400):
                self.resting_until.pop(url, None)
                self.not_before.pop(url, None)
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
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if response.status_code in THROTTLED and retry_after is not None:
                self.not_before[url] = time.monotonic() + min(retry_after, RETRY_AFTER_CAP)
                problems[-1] += f" (retry after {retry_after:g}s)"
        raise Unavailable("no collector accepted the batch (" + "; ".join(problems) + ")", self.retry_after())

    def retry_after(self) -> float | None:
        """Seconds until a collector that asked for a pause takes batches again, if every one asked."""
        now = time.monotonic()
        waits = [self.not_before.get(url, 0.0) - now for url in self.urls]
        return min(waits) if all(wait > 0 for wait in waits) else None


def _json(response: requests.Response) -> dict:
    try:
        value = response.json()
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}
