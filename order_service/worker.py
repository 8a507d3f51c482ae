"""The worker: takes jobs from the Redis queue and runs each in its own LTX under its GTX."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from agents.app import AppAgent, run_job

from .backend import JOB_QUEUE
from .shards import ShardedStore
from .validation import order_total

log = logging.getLogger("order_service.worker")


class Worker:
    """Runs ``recompute`` jobs: re-derive an order's total and stamp it."""

    def __init__(self, agent: AppAgent, redis: Any, store: ShardedStore, queue: str = JOB_QUEUE) -> None:
        self.agent = agent
        self.redis = redis
        self.store = store
        self.queue = queue
        self.handled = 0
        self.handlers = {"recompute": self.recompute}

    def recompute(self, payload: dict[str, Any]) -> None:
        order_id = str(payload.get("id", ""))
        order = self.store.get(order_id)
        if order is None:
            log.warning("recompute: order %s is gone", order_id)
            return
        order.update(total=order_total(order), recomputed_at=time.time())
        self.store.put(order_id, order, time.time())
        log.info("recomputed order %s: total %.2f", order_id, order["total"])

    def run_once(self, wait: float = 1.0) -> bool:
        """Take and run one job if one arrives within ``wait`` seconds; False if none came."""
        item = self.redis.brpop([self.queue], timeout=wait)
        if item is None:
            return False
        self.agent.metrics.queue_depth.labels(self.queue).set(self.redis.llen(self.queue))
        try:
            run_job(item[1], self.handlers, self.agent.metrics)
        except ValueError as exc:
            log.error("dropped a malformed job: %s", exc)
        except Exception:
            log.exception("job failed")
        self.handled += 1
        return True

    def run(self, stop: threading.Event) -> None:
        log.info("worker started on queue %s", self.queue)
        while not stop.is_set():
            self.run_once()
