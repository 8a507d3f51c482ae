"""CMDB throughput and watch latency beside raw kazoo, same ZooKeeper, same run.

    python bench/cmdb.py [--seconds 3] [--rounds 2] [--notifications 300]

Starts its own ZooKeeper (free port, temporary directory, stopped at the end) and measures,
through the CMDB API and through raw kazoo on the same server:

* reads/s    ``cmdb.store.get(key)``            vs ``client.get(path)``
* writes/s   ``cmdb.store.set(key, value)``     vs ``client.set(path, data)``, and vs the same
  ZooKeeper operations a versioned write makes, done with raw kazoo: a ``get`` (the current value
  and version) then one multi-op transaction (compare-and-set of the value, create of its history
  record, delete of the record past the history limit); ours adds the schema check, the record's
  JSON and the key checks in Python
* watch notification latency p50/p99: from just before a write on one connection until the
  callback runs on another, one write at a time; ``cmdb.store.set`` + ``cmdb.watch`` vs
  ``client.set`` + kazoo's ``DataWatch`` (so ours includes its costlier write).

Rounds alternate ours/raw so drift on a shared machine hits both alike; the best round counts.
Events are not spooled here (that is an fsync per write on the local disk, not ZooKeeper).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is itself named cmdb.py: make sure `import cmdb` finds the package, not this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from kazoo.client import KazooClient  # noqa: E402
from kazoo.recipe.watchers import DataWatch  # noqa: E402

from backing_services.ports import free_port  # noqa: E402
from backing_services.zookeeper import ZooKeeperServer  # noqa: E402
from cmdb import Cmdb, Credentials, connect  # noqa: E402
from foundation.output import table  # noqa: E402
from oam.benchmarks.results import Row, script_arguments, write_results  # noqa: E402

KEY = "bench/web/db"
VALUE = {"host": "db1.internal", "port": 5432, "pool": 20, "options": {"sslmode": "require", "timeout": 5}}


def rate(operation: Callable[[int], object], seconds: float) -> float:
    """Operations per second of ``operation`` called in a loop for ``seconds``."""
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        operation(count)
        count += 1
        if count % 20 == 0 and time.perf_counter() >= deadline:
            break
    return count / (time.perf_counter() - started)


def latencies(write: Callable[[int], None], arm: Callable[[Callable[[int], None]], None], count: int) -> list[float]:
    """Seconds from just before write i until the watch callback reports value i, one write at a time."""
    arrived = threading.Event()
    expected = {"n": -1}
    done_at: dict[int, float] = {}

    def on_value(n: int) -> None:
        if n == expected["n"]:
            done_at[n] = time.perf_counter()
            arrived.set()

    arm(on_value)
    out = []
    for i in range(count):
        arrived.clear()
        expected["n"] = i
        start = time.perf_counter()
        write(i)
        if not arrived.wait(10):
            raise RuntimeError(f"notification {i} did not arrive within 10 s")
        out.append(done_at[i] - start)
    return out


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="Length of each throughput run.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--notifications", type=int, default=300)
    args = script_arguments(parser, quick={"seconds": 1.0, "rounds": 1, "notifications": 50})

    with tempfile.TemporaryDirectory(prefix="oam-bench-cmdb-") as tmp:
        server = ZooKeeperServer(Path(tmp) / "zookeeper", client_port=free_port(), namespace="/bench")
        server.start()
        try:
            return run(server.connection_string, args)
        finally:
            server.stop()


def run(hosts: str, args: argparse.Namespace) -> int:
    ours = Cmdb(hosts, user="bench", password="bench-pw", root="/bench/cmdb", history_limit=50)
    # The watchers have their own connections, as a server reloading its configuration would;
    # raw kazoo uses the same account as ours on both sides.
    ours_watcher = Cmdb(hosts, user="bench", password="bench-pw", root="/bench/cmdb")
    raw_watcher = connect(hosts, Credentials("bench", "bench-pw"))
    raw_watches: list[DataWatch] = []
    try:
        results = measure(ours, ours_watcher, raw_watcher, raw_watches, args)
    finally:
        raw_watcher.stop()
        raw_watcher.close()
        ours_watcher.close()
        ours.close()

    print(f"CMDB vs raw kazoo on one local ZooKeeper ({args.rounds} rounds x {args.seconds:g}s, "
          f"{args.notifications} notifications)")
    print(table([[name, f"{mine:.1f}", f"{theirs:.1f}", f"{mine / theirs:.2f}x"]
                 for name, (mine, theirs) in results.items()],
                headers=["metric", "ours (cmdb)", "raw kazoo", "ratio"], align=["left", "right", "right", "right"]))
    print("ratio = ours / raw: above 1 is more for rates, slower for latencies.")
    write_results(args, "cmdb", [Row("cmdb", figure, mine, unit, theirs, f"raw kazoo {raw_name}")
                                 for (figure, unit, raw_name), (mine, theirs)
                                 in zip(FIGURES, results.values(), strict=True)])
    return 0


# How each measured figure is reported: name, unit, the raw kazoo call it is compared with.
FIGURES = [("reads/s (store.get)", "ops/s", "get"), ("writes/s (store.set)", "ops/s", "set"),
           ("writes/s (store.set) vs its operations", "ops/s", "get + multi(set, create, delete)"),
           ("watch notification p50", "ms", "+ DataWatch"), ("watch notification p99", "ms", "+ DataWatch")]


def measure(ours: Cmdb, ours_watcher: Cmdb, raw_watcher: KazooClient, raw_watches: list[DataWatch],
            args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    raw = ours.client  # the same connection, so both sides share one socket and one server
    raw_path = "/bench/raw/web/db"
    raw.ensure_path(raw_path)
    data = json.dumps(VALUE).encode()
    ours.store.set(KEY, VALUE)
    raw.set(raw_path, data)
    ours.schemas.register("*/web/db", {"type": "object", "required": ["host", "port"]})

    record = json.dumps({"key": KEY, "old": VALUE, "new": VALUE, "user": "bench", "comment": "",
                         "at": "2026-01-01T00:00:00.000Z", "change_id": "0" * 32}).encode()
    history_path, limit = "/bench/raw/history", ours.history_limit
    raw.ensure_path(history_path)

    def raw_versioned_write(i: int) -> None:
        _, stat = raw.get(raw_path)
        version = stat.version + 1
        transaction = raw.transaction()
        transaction.set_data(raw_path, data, version=stat.version)
        transaction.create(f"{history_path}/{version:010d}", record)
        if version > limit:
            transaction.delete(f"{history_path}/{version - limit:010d}")
        transaction.commit()

    results: dict[str, tuple[float, float]] = {}
    reads: tuple[list[float], list[float]] = ([], [])
    writes: tuple[list[float], list[float], list[float]] = ([], [], [])
    for _ in range(args.rounds):
        reads[0].append(rate(lambda i: ours.store.get(KEY), args.seconds))
        reads[1].append(rate(lambda i: raw.get(raw_path), args.seconds))
        writes[0].append(rate(lambda i: ours.store.set(KEY, {**VALUE, "pool": i}), args.seconds))
        writes[1].append(rate(lambda i: raw.set(raw_path, data), args.seconds))
        writes[2].append(rate(raw_versioned_write, args.seconds))
    results["reads/s"] = (max(reads[0]), max(reads[1]))
    results["writes/s"] = (max(writes[0]), max(writes[1]))
    results["writes/s vs its operations"] = (max(writes[0]), max(writes[2]))

    watch_key, watch_path = "bench/web/watched", "/bench/raw/web/watched"
    ours.store.set(watch_key, {"n": -1})
    raw.ensure_path(watch_path)

    def arm_ours(report: Callable[[int], None]) -> None:
        ours_watcher.watch(watch_key, lambda change: report(change.value["n"]) if change.exists else None)

    def arm_raw(report: Callable[[int], None]) -> None:
        raw_watches.append(DataWatch(raw_watcher, watch_path,
                                     lambda value, stat: report(json.loads(value)["n"]) if value else None))

    ours_latency = latencies(lambda i: ours.store.set(watch_key, {"n": i}), arm_ours, args.notifications)
    raw_latency = latencies(lambda i: raw.set(watch_path, json.dumps({"n": i}).encode()), arm_raw,
                            args.notifications)
    for q in (50, 99):
        results[f"watch latency p{q} (ms)"] = (percentile(ours_latency, q) * 1000, percentile(raw_latency, q) * 1000)
    return results

if __name__ == "__main__":
    sys.exit(main())
