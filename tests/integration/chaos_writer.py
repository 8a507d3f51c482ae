"""A service that only logs: numbered lines through the app agent, at a steady rate, until SIGTERM.

Run by the chaos test as its own process (so nothing the test kills takes it down)::

    python chaos_writer.py TELEMETRY_DIR --rate 50

Each line is the app agent's ECS JSON for ``chaos line <n>``, logged inside a transaction of
its own, so it carries a GTX and LTX like a request's log line (the transactions go to the
span file beside it). On SIGTERM it
drains the app agent's log queue, prints ``wrote <count>`` and exits 0.
"""
from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from pathlib import Path

from agents.app import AppAgent
from telemetry.context import transaction
from telemetry.ecs import ServiceInfo

SERVICE = "chaos-writer"
MESSAGE = "chaos line {}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("telemetry_dir", type=Path)
    parser.add_argument("--rate", type=float, default=50.0, help="lines per second")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    agent = AppAgent(ServiceInfo(SERVICE, "1.0.0", "test"), args.telemetry_dir).start()
    log = logging.getLogger("chaos.writer")
    period = 1.0 / args.rate
    written = 0
    next_at = time.monotonic()
    while not stop.is_set():
        with transaction("chaos tick"):
            log.info(MESSAGE.format(written))
        written += 1
        next_at += period
        stop.wait(max(0.0, next_at - time.monotonic()))
    agent.shutdown()
    print(f"wrote {written}", flush=True)


if __name__ == "__main__":
    main()
