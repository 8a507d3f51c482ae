"""Sustained ingest through the collector (1 and N worker processes) vs raw ``parallel_bulk`` from N processes.

Run: ``python bench/ingest.py [--docs 100000] [--senders 4] [--workers N] [--batch 1000] [--interval 0.5]
[--json PATH]``

Starts its own Elasticsearch (temp dir under /tmp, free port) and two collectors (``oam collector
run`` in subprocesses): one with a single worker, one with ``--workers`` (default: one per core).
It then indexes the same documents into the same node in six phases, A-B-C-C-B-A: straight
through ``elasticsearch.helpers.parallel_bulk`` from N client processes (the reference), as gzip
NDJSON batches from concurrent senders through the 1-worker collector, through the N-worker
collector (acknowledged only when indexed), and back. Prints each phase, the rates, the ratios
(target >= 0.8 for N workers against the reference), and each collector's CPU seconds and peak
RSS (its processes summed). With ``--json`` it also writes the figures and each phase's throughput
over time (docs/s per ``--interval`` seconds, counted as documents are acknowledged), which ``oam
bench`` draws as a chart.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import multiprocessing
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import requests  # noqa: E402
from elasticsearch import Elasticsearch  # noqa: E402
from elasticsearch.helpers import parallel_bulk  # noqa: E402

from backing_services.elasticsearch import ElasticsearchServer  # noqa: E402
from backing_services.ports import free_port  # noqa: E402
from backing_services.process import stop_child  # noqa: E402
from collector.auth import TokenStore  # noqa: E402
from collector.indices import install  # noqa: E402
from collector.workers import worker_count  # noqa: E402
from foundation.elasticsearch import connect  # noqa: E402
from foundation.settings import write_toml  # noqa: E402
from foundation.waiting import wait_until  # noqa: E402
from oam.benchmarks.results import Row, Target, script_arguments, write_results  # noqa: E402
from telemetry.ecs import ServiceInfo, document_id, log_document, timestamp  # noqa: E402
from telemetry.templates import index_name  # noqa: E402


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


def _family(pid: int) -> list[psutil.Process]:
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live children (a collector's workers)."""
    total = 0.0
    for process in _family(pid):
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process and its children, summed (each one's VmHWM)."""
    total = 0.0
    for process in _family(pid):
        with contextlib.suppress(OSError, psutil.Error):
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
    return total




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


def _bulk_process(connection: dict, actions: list[dict], threads: int, batch: int, progress: object) -> None:
    """One client process of the reference: ``parallel_bulk`` of its share, reporting each chunk done."""
    from foundation.elasticsearch import ElasticsearchConnection

    client = connect(ElasticsearchConnection(**connection), request_timeout=120, max_retries=3)
    done = 0
    for ok, item in parallel_bulk(client, actions, thread_count=threads, chunk_size=batch, queue_size=threads * 2):
        if not ok:
            raise RuntimeError(f"raw bulk failed: {item}")
        done += 1
        if done % batch == 0:
            progress.put(batch)  # type: ignore[attr-defined]
    progress.put(done % batch)  # type: ignore[attr-defined]
    client.close()


def raw_processes(connection: dict, client: Elasticsearch, docs: list[dict], prefix: str, processes: int,
                  threads: int, batch: int, meter: ThroughputMeter, label: str) -> float:
    """The reference from ``processes`` client processes, each ``parallel_bulk`` with ``threads`` threads."""
    install(client, prefix)
    index = index_name("logs", prefix=prefix)
    actions = [{"_op_type": "create", "_index": index, "_id": document_id("logs", doc), "_source": doc}
               for doc in docs]
    shares = [actions[n::processes] for n in range(processes)]
    context = multiprocessing.get_context("spawn")
    progress = context.Queue()
    workers = [context.Process(target=_bulk_process, args=(connection, share, threads, batch, progress))
               for share in shares]
    with meter.phase(label):
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        received = 0
        while received < len(actions):
            try:
                chunk = progress.get(timeout=1)
            except Exception:  # noqa: BLE001 - queue.Empty: check the processes are alive
                if not any(worker.is_alive() for worker in workers):
                    raise RuntimeError("a parallel_bulk process failed") from None
                continue
            received += chunk
            meter.add(chunk)
        seconds = time.perf_counter() - started
        for worker in workers:
            worker.join()
            if worker.exitcode:
                raise RuntimeError(f"a parallel_bulk process exited with {worker.exitcode}")
        return seconds


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


def start_collector(work: Path, name: str, es: ElasticsearchServer, workers: int, args: argparse.Namespace,
                    log: Any) -> tuple[subprocess.Popen, str]:
    """A collector with ``workers`` worker processes, its own port, spool and index prefix (``bench<name>``)."""
    port = free_port()
    config = work / f"{name}.toml"
    write_toml(config, {"port": port, "tokens_file": work / "tokens.json", "spool_dir": work / f"spool-{name}",
                        "index_prefix": f"bench{name}", "bulk_chunk_size": args.batch, "threads": args.senders * 2,
                        "workers": workers, "elasticsearch": es.connection().model_dump(exclude_defaults=True)})
    process = subprocess.Popen([sys.executable, "-m", "oam", "collector", "run", "--config", str(config),
                                "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, process)
    return process, url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000, help="documents per phase (6 phases)")
    parser.add_argument("--senders", type=int, default=4, help="concurrent senders (and parallel_bulk threads in all)")
    parser.add_argument("--workers", type=int, default=worker_count("auto"),
                        help="worker processes of the N-worker collector, and parallel_bulk client processes "
                             "(default: one per core)")
    parser.add_argument("--batch", type=int, default=1000, help="documents per batch / bulk chunk")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds per throughput sample")
    args = script_arguments(parser, quick={"docs": 30_000, "interval": 0.25})

    work = Path(tempfile.mkdtemp(prefix="oam-bench-ingest-", dir="/tmp"))
    os.chmod(work, 0o755)
    es = ElasticsearchServer(work / "es", http_port=free_port(), heap_mb=1024)
    collectors: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        print(f"starting Elasticsearch on {es.url} ...", flush=True)
        es.start(timeout=180)
        connection = es.connection().model_dump(exclude_defaults=True)
        client = connect(es.connection(), request_timeout=120, max_retries=3)  # TLS and auth, as the suite runs it
        docs = make_documents(args.docs)
        token = TokenStore(work / "tokens.json").issue("bench")
        log = open(work / "collector.log", "wb")
        paths = {"col1": 1, f"col{args.workers}": args.workers}
        for name, workers in paths.items():
            collectors[name] = start_collector(work, name, es, workers, args, log)

        # Warm every path a little (JIT of Elasticsearch, index creation), then measure.
        raw_parallel_bulk(client, docs[:2000], "benchwarm", args.senders, args.batch)
        for _, url in collectors.values():
            through_collector(url, token, collector_bodies(make_documents(2000), args.batch)[:2], args.senders)

        # A-B-C-C-B-A: raw, 1 worker, N workers, N workers, 1 worker, raw: drift on a shared machine weighs alike.
        threads = max(1, args.senders // args.workers)
        seconds = {"raw": 0.0, **{name: 0.0 for name in paths}}
        cpu = {name: 0.0 for name in paths}
        meter = ThroughputMeter(args.interval)
        order = ["raw", *paths, *reversed(paths), "raw"]
        for phase, path in enumerate(order, start=1):
            if path == "raw":
                label = f"{phase}: raw parallel_bulk"
                took = raw_processes(connection, client, docs, f"benchraw{phase}", args.workers, threads,
                                     args.batch, meter, label)
                assert count(client, f"benchraw{phase}-logs-*") == args.docs
            else:
                process, url = collectors[path]
                label = f"{phase}: collector, {paths[path]} worker{'s' if paths[path] > 1 else ''}"
                bodies = collector_bodies(make_documents(args.docs, days_ago=phase), args.batch)
                cpu_before = cpu_seconds(process.pid)
                took = through_collector(url, token, bodies, args.senders, meter, label)
                cpu[path] += cpu_seconds(process.pid) - cpu_before
                day = datetime.now(timezone.utc) - timedelta(days=phase)
                indexed = count(client, index_name("logs", day, prefix=f"bench{path}"))
                assert indexed == args.docs, f"{path} indexed {indexed} of {args.docs}"
            seconds[path] += took
            print(f"  phase {phase} {label:<40} {args.docs / took:10.0f} docs/s", flush=True)

        total = 2 * args.docs
        rates = {path: total / took for path, took in seconds.items()}
        many = f"col{args.workers}"
        print(f"documents:                      {args.docs} per phase ({args.senders} senders, batches of "
              f"{args.batch}; the reference: {args.workers} processes x {threads} threads)")
        print(f"raw parallel_bulk:              {rates['raw']:10.0f} docs/s")
        for path, workers in paths.items():
            print(f"collector, {workers} worker(s):         {rates[path]:10.0f} docs/s  "
                  f"(ratio to raw {rates[path] / rates['raw']:.2f}; CPU {cpu[path] / total * 1e6:.0f} us/doc; "
                  f"peak RSS {peak_rss_mb(collectors[path][0].pid):.0f} MB)")
        print(f"N workers / 1 worker:           {rates[many] / rates['col1']:10.2f}")
        write_results(args, "ingest", [
            Row("ingest", "collector ingest", rates[many], "docs/s", rates["raw"], "raw parallel_bulk",
                Target("ratio", ">=", 0.8)),
            Row("ingest", "collector ingest, 1 worker", rates["col1"], "docs/s", rates["raw"], "raw parallel_bulk"),
            Row("ingest", "collector CPU per document", cpu[many] / total * 1e6, "us/doc"),
            Row("ingest", "collector peak RSS", peak_rss_mb(collectors[many][0].pid), "MB"),
        ], series={"throughput": {"title": f"Ingest: {args.docs:,} documents per phase, {args.senders} senders",
                                  "unit": "docs/s", "interval": args.interval, "phases": meter.phases}})
        return 0
    finally:
        for process, _ in collectors.values():
            stop_child(process)
        es.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
