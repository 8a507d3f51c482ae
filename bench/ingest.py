"""Sustained ingest through the collector vs a raw ``parallel_bulk`` into the same Elasticsearch.

Run: ``python bench/ingest.py [--docs 100000] [--senders 4] [--batch 1000] [--interval 0.5] [--json PATH]``

Starts its own Elasticsearch (temp dir under /tmp, free port) and a collector (``oam collector
run`` in a subprocess), then indexes the same documents into the same node in four phases, A-B-B-A:
straight through ``elasticsearch.helpers.parallel_bulk`` (the reference), twice as gzip NDJSON
batches from concurrent senders through the collector (acknowledged only when indexed), and the
reference again. Prints each phase, both rates, the ratio (target >= 0.8), and the collector's CPU
seconds and peak RSS. With ``--json`` it also writes the figures and each phase's throughput over
time (docs/s per ``--interval`` seconds, counted as documents are acknowledged), which ``oam bench``
draws as a chart.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from elasticsearch import Elasticsearch  # noqa: E402
from elasticsearch.helpers import parallel_bulk  # noqa: E402

from backing_services.elasticsearch import ElasticsearchServer  # noqa: E402
from backing_services.ports import free_port  # noqa: E402
from collector.auth import TokenStore  # noqa: E402
from collector.indices import install  # noqa: E402
from foundation.elasticsearch import connect  # noqa: E402
from foundation.settings import write_toml  # noqa: E402
from foundation.waiting import wait_until  # noqa: E402
from oam.benchmarks.results import Row, Target, script_arguments, write_results  # noqa: E402
from telemetry.ecs import ServiceInfo, document_id, log_document, timestamp  # noqa: E402
from telemetry.templates import index_name  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ThroughputMeter:
    """Documents acknowledged so far, sampled every ``interval`` seconds into docs/s per phase.

    Senders call :meth:`add` as their documents are acknowledged; :meth:`phase` runs a sampling
    thread for one phase and appends ``{"name", "points": [[seconds since phase start, docs/s]]}``.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.phases: list[dict] = []
        self._done = 0
        self._lock = threading.Lock()

    def add(self, documents: int) -> None:
        with self._lock:
            self._done += documents

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        points: list[list[float]] = []
        stop = threading.Event()
        started = last_time = time.perf_counter()
        last_done = self._done

        def sample() -> None:
            nonlocal last_time, last_done
            while not stop.wait(self.interval) or time.perf_counter() - last_time > self.interval / 4:
                now, done = time.perf_counter(), self._done
                points.append([round(now - started, 3), (done - last_done) / (now - last_time)])
                last_time, last_done = now, done
                if stop.is_set():
                    break

        sampler = threading.Thread(target=sample, name=f"sample {name}", daemon=True)
        sampler.start()
        try:
            yield
        finally:
            stop.set()
            sampler.join()
            self.phases.append({"name": name, "points": points})


def make_documents(count: int, days_ago: int = 0) -> list[dict]:
    """Access-log documents; ``days_ago`` puts a phase in its own daily index."""
    service = ServiceInfo("bench-web", "1.0.0", "bench", host_name="bench-host", agent_id="bench-agent")
    at = timestamp(datetime.now(timezone.utc) - timedelta(days=days_ago))
    return [log_document(service, f"GET /items/{n} 200 in {n % 97} ms", "info", "access", at=at,
                         file_path="/var/log/bench/access.log", offset=n * 120, ids=None,
                         labels={"status": 200, "route": "/items/{id}"})
            for n in range(count)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count(client: Elasticsearch, pattern: str) -> int:
    client.indices.refresh(index=pattern)
    return client.count(index=pattern)["count"]


def raw_parallel_bulk(client: Elasticsearch, docs: list[dict], prefix: str, threads: int, batch: int,
                      meter: ThroughputMeter | None = None, label: str = "") -> float:
    install(client, prefix)
    index = index_name("logs", prefix=prefix)
    actions = [{"_op_type": "create", "_index": index, "_id": document_id("logs", doc), "_source": doc}
               for doc in docs]  # built before the clock starts, like the collector's request bodies
    with meter.phase(label) if meter else contextlib.nullcontext():
        started = time.perf_counter()
        for ok, item in parallel_bulk(client, actions, thread_count=threads, chunk_size=batch,
                                      queue_size=threads * 2):
            if not ok:
                raise RuntimeError(f"raw bulk failed: {item}")
            if meter is not None:
                meter.add(1)
        return time.perf_counter() - started


def collector_bodies(docs: list[dict], batch: int) -> list[tuple[bytes, int]]:
    """What agents send: gzip NDJSON with kind and id per line, and its document count.

    Built before the clock starts.
    """
    bodies = []
    for start in range(0, len(docs), batch):
        lines = [json.dumps({"_kind": "logs", "_id": document_id("logs", doc), **doc})
                 for doc in docs[start:start + batch]]
        bodies.append((gzip.compress("\n".join(lines).encode(), compresslevel=1), len(lines)))
    return bodies


def through_collector(url: str, token: str, bodies: list[tuple[bytes, int]], senders: int,
                      meter: ThroughputMeter | None = None, label: str = "") -> float:
    session_local = threading.local()

    def send(request: tuple[bytes, int]) -> None:
        body, documents = request
        session = getattr(session_local, "session", None)
        if session is None:
            session = session_local.session = requests.Session()
        while True:
            response = session.post(f"{url}/v1/ingest", data=body, timeout=120,
                                    headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"})
            if response.status_code == 200:
                if meter is not None:
                    meter.add(documents)
                return
            if response.status_code != 503:
                raise RuntimeError(f"collector answered {response.status_code}: {response.text[:200]}")
            time.sleep(float(response.headers.get("Retry-After", "1")))

    with meter.phase(label) if meter else contextlib.nullcontext():
        started = time.perf_counter()
        with ThreadPoolExecutor(senders) as pool:
            list(pool.map(send, bodies))
        return time.perf_counter() - started


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"collector exited with {process.returncode}")
        return requests.get(f"{url}/health", timeout=2).ok

    wait_until(healthy, timeout=timeout, interval=0.1, what=f"collector at {url}",
               retry_on=(requests.RequestException,))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000, help="documents per phase (4 phases)")
    parser.add_argument("--senders", type=int, default=4, help="concurrent senders (and parallel_bulk threads)")
    parser.add_argument("--batch", type=int, default=1000, help="documents per batch / bulk chunk")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds per throughput sample")
    args = script_arguments(parser, quick={"docs": 50_000, "interval": 0.25})

    work = Path(tempfile.mkdtemp(prefix="oam-bench-ingest-", dir="/tmp"))
    os.chmod(work, 0o755)
    es = ElasticsearchServer(work / "es", http_port=free_port(), heap_mb=1024)
    collector: subprocess.Popen | None = None
    try:
        print(f"starting Elasticsearch on {es.url} ...", flush=True)
        es.start(timeout=180)
        client = connect(es.connection(), request_timeout=120, max_retries=3)  # TLS and auth, as the suite runs it
        docs = make_documents(args.docs)

        port = free_port()
        config = work / "collector.toml"
        write_toml(config, {"port": port, "tokens_file": work / "tokens.json", "spool_dir": work / "spool",
                            "index_prefix": "benchcol", "bulk_chunk_size": args.batch, "threads": args.senders * 2,
                            "elasticsearch": es.connection().model_dump(exclude_defaults=True)})
        token = TokenStore(work / "tokens.json").issue("bench")
        log = open(work / "collector.log", "wb")
        collector = subprocess.Popen([sys.executable, "-m", "oam", "collector", "run", "--config", str(config),
                                      "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, collector)

        # Warm both paths a little (JIT of Elasticsearch, index creation), then measure.
        raw_parallel_bulk(client, docs[:2000], "benchwarm", args.senders, args.batch)
        through_collector(url, token, collector_bodies(make_documents(2000), args.batch)[:2], args.senders)

        # A-B-B-A: raw, collector, collector, raw, so drift on a shared machine weighs on both alike.
        raw_seconds = col_seconds = cpu_used = 0.0
        meter = ThroughputMeter(args.interval)
        for phase, path in enumerate(("raw", "collector", "collector", "raw"), start=1):
            label = f"{phase}: " + ("raw parallel_bulk" if path == "raw" else "through the collector")
            if path == "raw":
                seconds = raw_parallel_bulk(client, docs, f"benchraw{phase}", args.senders, args.batch, meter, label)
                assert count(client, f"benchraw{phase}-logs-*") == args.docs
                raw_seconds += seconds
            else:
                bodies = collector_bodies(make_documents(args.docs, days_ago=phase), args.batch)
                cpu_before = cpu_seconds(collector.pid)
                seconds = through_collector(url, token, bodies, args.senders, meter, label)
                cpu_used += cpu_seconds(collector.pid) - cpu_before
                day = datetime.now(timezone.utc) - timedelta(days=phase)
                indexed = count(client, index_name("logs", day, prefix="benchcol"))
                assert indexed == args.docs, f"collector path indexed {indexed} of {args.docs}"
                col_seconds += seconds
            print(f"  phase {phase} {path:<9} {args.docs / seconds:10.0f} docs/s", flush=True)

        total = 2 * args.docs
        raw_rate, col_rate = total / raw_seconds, total / col_seconds
        print(f"documents:                 {args.docs} per phase ({args.senders} senders/threads, "
              f"batches of {args.batch})")
        print(f"raw parallel_bulk:         {raw_rate:10.0f} docs/s  ({raw_seconds:.1f} s for {total})")
        print(f"through the collector:     {col_rate:10.0f} docs/s  ({col_seconds:.1f} s for {total})")
        print(f"ratio collector/raw:       {col_rate / raw_rate:10.2f}   (target >= 0.8)")
        print(f"collector CPU seconds:     {cpu_used:10.1f}   ({cpu_used / total * 1e6:.0f} us/doc)")
        rss = peak_rss_mb(collector.pid)
        print(f"collector peak RSS:        {rss:10.1f} MB")
        write_results(args, "ingest", [
            Row("ingest", "collector ingest", col_rate, "docs/s", raw_rate, "raw parallel_bulk",
                Target("ratio", ">=", 0.8)),
            Row("ingest", "collector CPU per document", cpu_used / total * 1e6, "us/doc"),
            Row("ingest", "collector peak RSS", rss, "MB"),
        ], series={"throughput": {"title": f"Ingest: {args.docs:,} documents per phase, {args.senders} senders",
                                  "unit": "docs/s", "interval": args.interval, "phases": meter.phases}})
        return 0
    finally:
        if collector is not None:
            collector.terminate()
            try:
                collector.wait(timeout=20)
            except subprocess.TimeoutExpired:
                collector.kill()
                collector.wait()
        es.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
