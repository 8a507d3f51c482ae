"""``oam load``: steady request load with Zipf-distributed keys, and a latency summary.

Hot keys get most requests (as in real traffic), so the cache hit ratio and the shard skew
show up in the service's metrics.
"""
from __future__ import annotations

import bisect
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests


class ZipfKeys:
    """Keys ``order-1..order-N`` where key k is drawn with probability proportional to 1/k^s."""

    def __init__(self, count: int, exponent: float, seed: int | None = None) -> None:
        if count < 1 or exponent <= 0:
            raise ValueError("key count must be >= 1 and the Zipf exponent > 0")
        weights = [1.0 / (rank ** exponent) for rank in range(1, count + 1)]
        total = sum(weights)
        running, self.cdf = 0.0, []
        for weight in weights:
            running += weight / total
            self.cdf.append(running)
        self.random = random.Random(seed)

    def next(self) -> str:
        rank = bisect.bisect_left(self.cdf, self.random.random())
        return f"order-{min(rank, len(self.cdf) - 1) + 1}"


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    rank = math.ceil(pct / 100 * len(sorted_values))  # nearest-rank method
    return sorted_values[min(len(sorted_values), max(1, rank)) - 1]


@dataclass
class LoadResult:
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: str, seconds: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(seconds)

    def summary(self) -> dict[str, float]:
        values = sorted(self.latencies)
        return {"requests": len(values), **{f"p{p}": percentile(values, p) * 1000 for p in (50, 90, 99)},
                "max": (values[-1] * 1000) if values else 0.0}


FAIL_PATH = "/api/fail"


def run_load(base_url: str, rate: float, duration: float, keys: ZipfKeys, write_ratio: float = 0.1,
             concurrency: int = 16, progress: Callable[[float, LoadResult], None] | None = None,
             fail_ratio: float = 0.0) -> LoadResult:
    """Send ``rate`` requests/s for ``duration`` seconds: reads, writes with ``write_ratio``, and
    requests to the endpoint that fails on purpose with ``fail_ratio`` (counted as ``"500 /api/fail"``)."""
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    result = LoadResult()
    session = requests.Session()
    chooser = random.Random(7)
    base = base_url.rstrip("/")

    def one(key: str, write: bool, fail: bool = False) -> None:
        began = time.perf_counter()
        try:
            if fail:
                response = session.get(f"{base}{FAIL_PATH}", timeout=10)
                result.record(f"{response.status_code} {FAIL_PATH}", time.perf_counter() - began)
                return
            if write:
                body = {"customer": "load", "items": [{"sku": "sku-1", "qty": chooser.randint(1, 5), "price": 9.5}]}
                response = session.put(f"{base}/api/orders/{key}", json=body, timeout=10)
            else:
                response = session.get(f"{base}/api/orders/{key}", timeout=10)
            status = str(response.status_code)
        except requests.RequestException as exc:
            status = type(exc).__name__
        result.record(status, time.perf_counter() - began)

    started = time.monotonic()
    next_report = started + 1
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        sent = 0
        while (elapsed := time.monotonic() - started) < duration:
            due = int(elapsed * rate) + 1
            while sent < due:
                draw = chooser.random()
                pool.submit(one, keys.next(), draw < write_ratio, draw > 1 - fail_ratio)
                sent += 1
            if progress and time.monotonic() >= next_report:
                progress(elapsed, result)
                next_report += 1
            time.sleep(min(0.01, 1 / rate))
    return result
