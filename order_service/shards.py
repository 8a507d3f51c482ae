"""Orders spread over N SQLite shards by a hash of the key, with per-shard metrics and spans.

The shard of a key is ``sha1(key) mod count`` — stable across processes and restarts. Hot keys
make some shards busier than others (data skew); the per-shard counters make that visible.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tenacity
from opentelemetry.trace import SpanKind

from agents.app.metrics import AppMetrics
from foundation.waiting import Backoff
from telemetry.context import span

SCHEMA = "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, body TEXT NOT NULL, updated REAL NOT NULL)"


BUSY_SECONDS = 10.0


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch ``db`` to WAL, waiting out another process doing the same.

    SQLite answers "database is locked" at once, without its busy handler, when two processes
    switch a new file's journal mode together (the backend and worker start side by side).
    """
    locked = tenacity.retry_if_exception(lambda exc: isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc))
    Backoff(base=0.02, cap=0.2, deadline=BUSY_SECONDS).retrying(retry=locked)(db.execute, "PRAGMA journal_mode=WAL")


def shard_of(key: str, count: int) -> int:
    """The shard number (0..count-1) that holds ``key``."""
    if count < 1:
        raise ValueError("shard count must be at least 1")
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") % count


class ShardedStore:
    """Orders in ``count`` SQLite files under ``directory``."""

    def __init__(self, directory: Path, count: int, metrics: AppMetrics) -> None:
        self.directory = Path(directory)
        self.count = count
        self.metrics = metrics
        self.directory.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        for shard in range(count):
            with self._connect(shard) as db:
                db.execute(SCHEMA)
                self.metrics.shard_records.labels(str(shard)).set(
                    db.execute("SELECT COUNT(*) FROM orders").fetchone()[0])

    def path(self, shard: int) -> Path:
        return self.directory / f"shard-{shard}.db"

    def _connect(self, shard: int) -> sqlite3.Connection:
        cache = self._local.__dict__.setdefault("connections", {})
        if shard not in cache:
            db = sqlite3.connect(self.path(shard), timeout=BUSY_SECONDS, isolation_level=None)
            _use_wal(db)
            cache[shard] = db
        return cache[shard]

    @contextmanager
    def _operation(self, shard: int, operation: str) -> Iterator[None]:
        """A ``db`` span and the per-shard counter around one operation."""
        self.metrics.shard_ops.labels(str(shard), operation).inc()
        with span(f"shard-{shard} {operation}", kind=SpanKind.CLIENT,
                  attributes={"span.type": "db", "labels.shard": str(shard)}):
            yield

    def get(self, key: str) -> dict[str, Any] | None:
        shard = shard_of(key, self.count)
        with self._operation(shard, "SELECT"):
            row = self._connect(shard).execute("SELECT body FROM orders WHERE id = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, body: dict[str, Any], updated: float) -> bool:
        """Insert or replace; returns True if the order is new."""
        shard = shard_of(key, self.count)
        with self._operation(shard, "UPSERT"):
            db = self._connect(shard)
            new = db.execute("SELECT 1 FROM orders WHERE id = ?", (key,)).fetchone() is None
            db.execute("INSERT OR REPLACE INTO orders (id, body, updated) VALUES (?, ?, ?)",
                       (key, json.dumps(body), updated))
        if new:
            self.metrics.shard_records.labels(str(shard)).inc()
        return new

    def counts(self) -> dict[int, int]:
        return {shard: self._connect(shard).execute("SELECT COUNT(*) FROM orders").fetchone()[0]
                for shard in range(self.count)}
