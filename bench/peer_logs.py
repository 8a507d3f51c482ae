"""Log shipping from a file to searchable in Elasticsearch: the host agent + collector vs rsyslog.

    python bench/peer_logs.py [--lines 300000] [--rounds 1] [--json PATH]

One secured Elasticsearch (TLS with the suite's CA, a least-privilege user per pipeline) takes the
same file of ``--lines`` plain-text log lines from two pipelines in turn, A-B-B-A per round so
drift on a shared machine weighs alike:

* ours: ``oam agent run`` tailing the file, shipping to ``oam collector run`` (its default
  ``workers = "auto"``), which bulk-creates into Elasticsearch as ``oam-collector``;
* rsyslog: Debian's ``rsyslogd -n`` (imfile -> omelasticsearch, bulk mode, ``create`` with an id
  per document as the collector does, its own config, pid file and work dir, unprivileged),
  writing as a user allowed to create documents in its own index only.

Each phase starts its pipeline fresh, waits until it is idle, then renames the finished file into
the watched directory and counts (refresh + ``_count`` every 0.25 s) until every line is a
searchable document. Reported per pipeline: documents/s from the rename to the last document
searchable, CPU seconds per 100,000 documents of all its processes (agent, collector and its
workers; rsyslogd) over that span, and peak memory: the highest PSS summed over those processes,
sampled every 0.5 s (see :mod:`oam.benchmarks.memory`: the collector's forked workers share pages,
which a sum of RSS counts once per worker). The sum of RSS sampled alike and the sum of each
process's own peak RSS (VmHWM) are printed beside it and kept in the JSON row.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from elasticsearch import ApiError, TransportError  # noqa: E402

from backing_services.elasticsearch import ElasticsearchServer  # noqa: E402
from backing_services.ports import free_port  # noqa: E402
from backing_services.process import stop_child  # noqa: E402
from backing_services.rsyslog import Output, RsyslogShipper  # noqa: E402
from bench.ingest import cpu_seconds, peak_rss_mb, wait_healthy  # noqa: E402
from collector.auth import TokenStore  # noqa: E402
from collector.indices import install  # noqa: E402
from foundation.elasticsearch import connect  # noqa: E402
from foundation.output import table  # noqa: E402
from foundation.settings import write_toml  # noqa: E402
from foundation.waiting import wait_until  # noqa: E402
from oam.benchmarks.memory import PeakSampler  # noqa: E402
from oam.benchmarks.results import Row, Target, script_arguments, write_results  # noqa: E402
from telemetry.access import COLLECTOR, roles  # noqa: E402
from telemetry.templates import index_name, index_pattern  # noqa: E402

OURS, PEER = "agent + collector", "rsyslog"
WRITER_ROLE = "rsyslog_writer"
COLLECTOR_USER, RSYSLOG_USER = "oam-collector", "rsyslog-writer"
PASSWORD = "peer-logs-password"


@dataclass
class Phase:
    pipeline: str
    seconds: float
    cpu: float
    pss_mb: float      # peak of the PSS summed over the pipeline's processes
    rss_mb: float      # peak of the RSS summed alike (shared pages once per process)
    hwm_mb: float      # each process's own peak RSS (VmHWM), summed
    documents: int

    @property
    def rate(self) -> float:
        return self.documents / self.seconds


def write_lines(path: Path, lines: int) -> None:
    """Plain-text application log lines, each one distinct."""
    levels = ("INFO", "INFO", "INFO", "WARN", "INFO", "ERROR", "INFO", "DEBUG")
    with open(path, "w") as handle:
        for n in range(lines):
            handle.write(f"2026-12-03T09:{n // 60000 % 60:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}Z "
                         f"{levels[n % 8]} order_service.backend GET /api/orders/order-{n} "
                         f"served from cache in {n % 97 / 10:.1f} ms\n")
    path.chmod(0o644)


class Pipeline:
    """One run of one pipeline: started fresh in ``work``, fed by a rename, then stopped."""

    def __init__(self, work: Path, es: ElasticsearchServer, prefix: str) -> None:
        self.work = work
        self.es = es
        self.prefix = prefix
        self.logs = work / "logs"
        self.logs.mkdir(parents=True)
        self.logs.chmod(0o755)
        self.processes: list[subprocess.Popen | int] = []

    def pids(self) -> list[int]:
        return [p if isinstance(p, int) else p.pid for p in self.processes]

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Ours(Pipeline):
    def start(self) -> None:
        port = free_port()
        tokens = self.work / "tokens.json"
        token = TokenStore(tokens).issue("peer-logs")
        connection = self.es.connection(COLLECTOR_USER, PASSWORD).model_dump(exclude_defaults=True)
        write_toml(self.work / "collector.toml", {"port": port, "tokens_file": tokens, "spool_dir": self.work / "spool",
                                                  "index_prefix": self.prefix, "elasticsearch": connection})
        log = open(self.work / "pipeline.log", "ab")
        collector = subprocess.Popen([sys.executable, "-m", "oam", "collector", "run", "--config",
                                      str(self.work / "collector.toml"), "--log-level", "warning"],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.processes.append(collector)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, collector, timeout=60)
        write_toml(self.work / "agent.toml", {
            "agent": {"id": "peer-agent", "data_dir": self.work / "agent", "interval": 3600, "metrics_port": 0},
            "collector": {"urls": [url], "token": token}, "logs": {"paths": [str(self.logs / "*.log")]}})
        self.processes.append(subprocess.Popen([sys.executable, "-m", "oam", "agent", "run", "--config",
                                                str(self.work / "agent.toml")], stdout=log, stderr=subprocess.STDOUT))

    def stop(self) -> None:
        for process in reversed(self.processes):
            assert isinstance(process, subprocess.Popen)
            stop_child(process)


class Rsyslog(Pipeline):
    def start(self) -> None:
        index = index_name("logs", prefix=self.prefix)  # today's, with the same templates as ours
        output = Output(port=self.es.http_port, user=RSYSLOG_USER, password=PASSWORD, index=index,
                        ca_file=str(self.es.ca_file))
        self.shipper = RsyslogShipper(self.work / "rsyslog", str(self.logs / "*.log"), output)
        self.shipper.start()
        assert self.shipper.pid is not None
        self.processes.append(self.shipper.pid)

    def stop(self) -> None:
        self.shipper.stop()


def alive(pipeline: Pipeline) -> bool:
    return all(os.path.exists(f"/proc/{pid}") for pid in pipeline.pids())


def run_phase(name: str, pipeline: Pipeline, lines: int, source: Path, searchable: Callable[[], int]) -> Phase:
    pipeline.start()
    try:
        time.sleep(3)  # started and idle: count from here
        if not alive(pipeline):
            raise SystemExit(f"{name} exited before the file arrived; see {pipeline.work}")
        before = sum(cpu_seconds(pid) for pid in pipeline.pids())
        staged = pipeline.logs / "app.log.part"
        shutil.copyfile(source, staged)
        staged.chmod(0o644)
        def all_searchable() -> bool:
            if not alive(pipeline):
                raise SystemExit(f"{name} died during the run; see {pipeline.work}")
            return searchable() >= lines

        with PeakSampler(pipeline.pids()) as memory:
            began = time.perf_counter()
            os.rename(staged, pipeline.logs / "app.log")
            wait_until(all_searchable, timeout=1800, interval=0.25, what=f"{lines} documents from {name}",
                       retry_on=(ApiError, TransportError))  # a new index's shards start a moment later
            seconds = time.perf_counter() - began
            cpu = sum(cpu_seconds(pid) for pid in pipeline.pids()) - before
        hwm = sum(peak_rss_mb(pid) for pid in pipeline.pids())
        return Phase(name, seconds, cpu, memory.peak.pss_mb, memory.peak.rss_mb, hwm, searchable())
    finally:
        pipeline.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000, help="log lines in the file (one document each)")
    parser.add_argument("--rounds", type=int, default=1, help="A-B-B-A rounds (each pipeline twice per round)")
    args = script_arguments(parser, quick={"lines": 50_000})
    if args.lines < 1 or args.rounds < 1:
        parser.error("--lines and --rounds must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="oam-bench-peer-logs-", dir="/tmp"))
    work.chmod(0o755)
    rsyslog_role = {"cluster": ["monitor"],
                    "indices": [{"names": ["rspeer*"], "privileges": ["create_doc", "auto_configure"]}]}
    es = ElasticsearchServer(work / "es", http_port=free_port(), heap_mb=1024, password=PASSWORD,
                             users={COLLECTOR_USER: (PASSWORD, COLLECTOR), RSYSLOG_USER: (PASSWORD, WRITER_ROLE)},
                             roles={**roles(["ours*"]), WRITER_ROLE: rsyslog_role})
    try:
        print(f"starting Elasticsearch on {es.url} ...", flush=True)
        es.start(timeout=180)
        client = connect(es.connection(), request_timeout=120, max_retries=3)
        source = work / "source.log"
        write_lines(source, args.lines)
        print(f"{args.lines} lines, {source.stat().st_size / 2**20:.1f} MiB; {args.rounds} round(s) A-B-B-A",
              flush=True)

        def counter(prefix: str) -> Callable[[], int]:
            def searchable() -> int:
                pattern = index_pattern("logs", prefix=prefix)
                client.indices.refresh(index=pattern, allow_no_indices=True, ignore_unavailable=True)
                return client.count(index=pattern, allow_no_indices=True, ignore_unavailable=True)["count"]
            return searchable

        phases: list[Phase] = []
        order = [OURS, PEER, PEER, OURS] * args.rounds
        for number, name in enumerate(order, start=1):
            phase_dir = work / f"phase-{number}"
            if name == OURS:
                prefix = f"ours{number}"
                pipeline: Pipeline = Ours(phase_dir, es, prefix)
            else:
                prefix = f"rspeer{number}"
                install(client, prefix)  # the same index templates the collector installs for its own
                pipeline = Rsyslog(phase_dir, es, prefix)
            phase = run_phase(name, pipeline, args.lines, source, counter(prefix))
            phases.append(phase)
            print(f"  phase {number} {name:<18} {phase.rate:9.0f} docs/s  {phase.seconds:6.1f} s  "
                  f"CPU {phase.cpu / phase.documents * 1e5:6.1f} s/100k  peak PSS {phase.pss_mb:6.1f} MB "
                  f"(RSS summed {phase.rss_mb:.1f}, VmHWM summed {phase.hwm_mb:.1f})", flush=True)
            if phase.documents != args.lines:
                print(f"  phase {number}: {phase.documents} documents for {args.lines} lines", flush=True)
        report(args, phases)
        return 0
    finally:
        es.stop()
        shutil.rmtree(work, ignore_errors=True)


def summarize(phases: list[Phase], pipeline: str) -> dict[str, float]:
    """One pipeline's phases together: docs/s (all documents over all seconds), CPU s per 100k
    documents, and the highest of each memory figure."""
    mine = [phase for phase in phases if phase.pipeline == pipeline]
    if not mine:
        raise ValueError(f"no phase of {pipeline}")
    documents = sum(phase.documents for phase in mine)
    return {"rate": documents / sum(phase.seconds for phase in mine),
            "cpu_per_100k": sum(phase.cpu for phase in mine) / documents * 1e5 if documents else float("nan"),
            "pss_mb": max(phase.pss_mb for phase in mine), "rss_mb": max(phase.rss_mb for phase in mine),
            "hwm_mb": max(phase.hwm_mb for phase in mine)}


def figures(phases: list[Phase]) -> list[Row]:
    """The rows ``oam bench`` shows: ours beside rsyslog, with the targets of the issue."""
    ours, peer = summarize(phases, OURS), summarize(phases, PEER)
    memory = {"ours_rss_summed_mb": ours["rss_mb"], "ours_vmhwm_summed_mb": ours["hwm_mb"],
              "reference_rss_summed_mb": peer["rss_mb"], "reference_vmhwm_summed_mb": peer["hwm_mb"]}
    return [
        Row("peer_logs", "log shipping, file to searchable", ours["rate"], "docs/s", peer["rate"], PEER,
            Target("ratio", ">=", 1, "ahead of rsyslog")),
        Row("peer_logs", "log shipping CPU per 100k documents", ours["cpu_per_100k"], "CPU s",
            peer["cpu_per_100k"], PEER, Target("ratio", "<=", 1, "below rsyslog")),
        Row("peer_logs", "log shipping peak memory (PSS)", ours["pss_mb"], "MB", peer["pss_mb"], PEER,
            extra=memory),
    ]


def ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def report(args: argparse.Namespace, phases: list[Phase]) -> None:
    rows = figures(phases)
    lines = [[row.figure, f"{row.ours:.1f} {row.unit}", f"{row.reference:.1f} {row.unit}", ratio_text(row.ratio),
              row.target.describe() if row.target else "-", {True: "yes", False: "NO", None: "-"}[row.met]]
             for row in rows]
    print(table(lines, headers=["figure", OURS, PEER, "ratio", "target", "met"],
                align=["left", "right", "right", "right", "left", "left"]))
    memory = rows[-1].extra
    print(f"{args.lines} lines per phase; {len(phases)} phases; ours: the agent and the collector's processes, "
          f"rsyslog: rsyslogd. Memory: peak of the summed PSS; summed RSS {memory['ours_rss_summed_mb']:.1f} vs "
          f"{memory['reference_rss_summed_mb']:.1f} MB, summed VmHWM {memory['ours_vmhwm_summed_mb']:.1f} vs "
          f"{memory['reference_vmhwm_summed_mb']:.1f} MB")
    write_results(args, "peer_logs", rows)


if __name__ == "__main__":
    sys.exit(main())
