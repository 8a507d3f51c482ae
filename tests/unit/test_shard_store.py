"""The sharded store: several processes opening the same fresh directory at once all succeed."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

from agents.app.metrics import AppMetrics
from order_service.shards import ShardedStore, shard_of


def _open_and_write(directory: str, key: str, start, results) -> None:
    try:
        start.wait(timeout=30)
        store = ShardedStore(Path(directory), 8, AppMetrics())
        store.put(key, {"id": key}, 1.0)
        results.put(None)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which asserts on it
        results.put(repr(exc))


def test_processes_starting_together_share_a_new_store(tmp_path):
    """The backend and worker start side by side on one data dir; neither may die of a lock."""
    context = multiprocessing.get_context("fork")
    failures = []
    for attempt in range(20):
        directory = tmp_path / f"attempt-{attempt}"
        results, start = context.Queue(), context.Barrier(3)
        processes = [context.Process(target=_open_and_write, args=(str(directory), f"k{i}", start, results))
                     for i in range(3)]
        for process in processes:
            process.start()
        failures += [r for r in (results.get(timeout=60) for _ in processes) if r]
        for process in processes:
            process.join(timeout=30)
    assert failures == []
    store = ShardedStore(tmp_path / "attempt-0", 8, AppMetrics())
    assert sum(store.counts().values()) == 3
    assert store.get("k1") == {"id": "k1"}


def test_a_key_always_lands_on_the_same_shard():
    assert shard_of("order-42", 8) == shard_of("order-42", 8)
    assert {shard_of(f"k{i}", 4) for i in range(100)} == {0, 1, 2, 3}
