"""Steady background reads of orders from a set of sample hosts, for deploys judged under load.

Usage::

    with BackgroundReads(["http://127.0.0.2:8001", "http://127.0.0.3:8001"], rate=45) as reads:
        ...                     # deploy while every host answers reads
    reads.sent                  # reads answered (a host restarting during its switch is skipped)
"""
from __future__ import annotations

import itertools
import threading

import requests


class BackgroundReads:
    """Reads ``/orders/<n>`` from each URL in turn, about ``rate`` a second in all, until the block ends."""

    def __init__(self, urls: list[str], rate: float = 45) -> None:
        self.urls, self.pause = urls, 1 / rate
        self.stopping = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        for n in itertools.count():
            if self.stopping.wait(self.pause):
                return
            try:
                session.get(f"{self.urls[n % len(self.urls)]}/orders/{n}", timeout=2)
                self.sent += 1
            except requests.RequestException:
                pass  # a host restarting during its switch

    def __enter__(self) -> BackgroundReads:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(10)
