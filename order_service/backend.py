"""The backend service: orders on shards behind the cache; slow work goes to the queue."""
from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

from flask import Flask, abort, jsonify, request

from agents.app import AppAgent, enqueue

from .cache import OrderCache
from .errors import install_error_handlers
from .settings import LiveSettings
from .shards import ShardedStore
from .validation import InvalidInput, check_order, check_order_id, order_total

JOB_QUEUE = "order_service:jobs"
log = logging.getLogger("order_service.backend")


class OrderReadFailure(RuntimeError):
    """An order read failed on purpose (``fail_reads``): a release that fails its users."""


def create_backend(agent: AppAgent, settings: LiveSettings, redis: Any, data_dir: Path,
                   fail_reads: float = 0.0) -> Flask:
    """The backend's Flask app; ``agent`` instruments it, ``settings`` may change while it runs.

    ``fail_reads`` is the share of order reads answered 500 on purpose, ``/health`` staying fine.
    """
    app = Flask("order_service.backend")
    shard_dir = Path(data_dir) / settings.get("shards.directory", "shards")
    store = ShardedStore(shard_dir, int(settings.get("shards.count", 4)), agent.metrics)
    cache = OrderCache(redis, lambda: settings.get("cache.ttl_seconds", 30), agent.metrics)
    app.extensions["order_store"] = store
    agent.instrument_flask(app)
    install_error_handlers(app)

    @app.get("/health")
    def health():
        return {"status": "ok", "service": agent.service.name, "version": agent.service.version}

    @app.get("/orders/<order_id>")
    def get_order(order_id: str):
        check_order_id(order_id)
        if fail_reads and random.random() < fail_reads:
            raise OrderReadFailure(f"order {order_id} could not be read (this release fails reads on purpose)")
        order, hit = cache.get_or_load(order_id, store.get)
        if order is None:
            abort(404, description=f"no order {order_id!r}")
        log.info("order %s served from %s", order_id, "cache" if hit else "shard")
        return {**order, "cache": "hit" if hit else "miss"}

    @app.put("/orders/<order_id>")
    def put_order(order_id: str):
        check_order_id(order_id)
        body = request.get_json(silent=True)
        if body is None:
            raise InvalidInput("body must be JSON (Content-Type: application/json)")
        order = check_order(body)
        order.update(id=order_id, total=order_total(order))
        created = store.put(order_id, order, time.time())
        cache.invalidate(order_id)
        if settings.get("features.recompute_on_write", True):
            enqueue(redis, JOB_QUEUE, "recompute", {"id": order_id}, agent.metrics)
        log.info("order %s %s", order_id, "created" if created else "updated")
        return jsonify(order), 201 if created else 200

    @app.get("/shards")
    def shards():
        return {"shards": {str(shard): count for shard, count in store.counts().items()}}

    @app.get("/slow")
    def slow():
        delay = float(settings.get("slow_endpoint_seconds", 0.5))
        time.sleep(delay)
        log.warning("slow endpoint took %.3fs on purpose", delay)
        return {"slept": delay}

    @app.get("/fail")
    def fail():
        """Queue a job, then fail on purpose: the trace crosses gateway, backend and worker, error inline."""
        enqueue(redis, JOB_QUEUE, "recompute", {"id": "fail-demo"}, agent.metrics)
        raise RuntimeError("this endpoint fails on purpose")

    return app
