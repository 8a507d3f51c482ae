"""A soak of the whole local suite (``oam up``) under a steady, bounded load: do its pieces leak or fall behind?

    python bench/soak.py [--minutes 30] [--rate 200] [--interval 10] [--es-restarts 2] [--collector-kills 3]
                         [--json PATH]

Runs ``oam up`` (Elasticsearch, ZooKeeper, two collectors, the dashboard, Redis, the sample
service with its own load of 2 requests/s, the host agent) on free ports in a scratch data dir,
and appends ``--rate`` JSON log lines per second to a file the suite's agent tails. Every
``--interval`` seconds it samples each piece's memory (PSS, so pages its forked children share
count once; see :mod:`oam.benchmarks.memory`), CPU seconds and open file descriptors (the piece's
process and its children, summed), the lines written so far, the documents searchable
and the ingest lag (now minus the newest searchable line's ``@timestamp``), and prints a progress
line. At the end it stops writing, waits up to ``--drain`` seconds for the rest to arrive, and
reports per piece PSS at start and end, its growth per 10 minutes (least-squares slope), mean
CPU (% of a core) and fds; then lines written vs documents stored (lost, duplicated) and the
final and the highest lag.

Faults, spread evenly over the load and each printed with its time: ``--es-restarts`` times
Elasticsearch's process group is stopped with SIGTERM (as ``oam down`` stops it) and ``oam up``'s
supervisor starts it again; ``--collector-kills`` times one of the two collectors (in turn) is
SIGKILLed and the supervisor restarts it. The soak waits for each piece to be back (a new pid, its
state ``running``) and reports how long it was away. The collectors' spools (``<data_dir>/<collector>/spool``)
are sampled every second (peak bytes per collector); lines are checked by their sequence number
(``labels.soak_seq``, lost and duplicated exactly); the longest gap is the longest run of empty
1-second buckets of a ``date_histogram`` over the stored documents' ``@timestamp``. Not part of ``oam bench`` unless asked (``oam bench --only soak``).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from elasticsearch import ApiError, TransportError  # noqa: E402

from backing_services.ports import free_port  # noqa: E402
from backing_services.process import terminate_group  # noqa: E402
from foundation.elasticsearch import connect  # noqa: E402
from foundation.output import table  # noqa: E402
from foundation.waiting import wait_until  # noqa: E402
from oam.benchmarks.memory import process_memory, tree_memory  # noqa: E402
from oam.benchmarks.results import Row, Target, script_arguments, write_results  # noqa: E402
from oam.benchmarks.soak_figures import Gap, Tally, counter_rate, fault_times, longest_gap, tally  # noqa: E402
from oam.benchmarks.trend import trend  # noqa: E402
from oam.config import load as load_settings  # noqa: E402
from oam.servers import ElasticsearchComponent  # noqa: E402
from telemetry.templates import index_pattern  # noqa: E402

SUPERVISOR = "oam up"
COLLECTORS = ("collector", "collector-2")
PASSWORD = "soak-admin-password"


def soak_config(data_dir: Path) -> str:
    """oam.toml for the soak: every port free, the data in ``data_dir``, no sandbox SSH hosts."""
    ports = {name: free_port() for name in ("es", "zk", "redis", "gateway", "backend", "collector", "collector_2",
                                            "agent_metrics", "dashboard")}
    return "\n".join([
        f'data_dir = "{data_dir}"',
        "[elasticsearch]", f"port = {ports.pop('es')}", "heap_mb = 512", f'password = "{PASSWORD}"',
        "[zookeeper]", f"port = {ports.pop('zk')}",
        "[sandbox]", "hosts = 0",
        "[ports]", *(f"{name} = {port}" for name, port in ports.items()), ""])


class LineWriter(threading.Thread):
    """Appends ``rate`` JSON log lines per second (in 10 slices a second) until stopped; counts them."""

    def __init__(self, path: Path, rate: float, run_id: str) -> None:
        super().__init__(name="soak lines", daemon=True)
        self.path, self.rate, self.run_id = path, rate, run_id
        self.written = 0
        self.stopped = threading.Event()

    def line(self, n: int) -> str:
        return json.dumps({"_kind": "logs", "@timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                           "message": f"soak line {n} of run {self.run_id}", "log": {"level": "info", "logger": "soak"},
                           "service": {"name": "soak"}, "labels": {"soak_run": self.run_id, "soak_seq": n}})

    def run(self) -> None:
        began = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            while not self.stopped.wait(0.1):
                due = int((time.monotonic() - began) * self.rate)
                if due > self.written:
                    handle.write("".join(self.line(n) + "\n" for n in range(self.written, due)))
                    handle.flush()
                    self.written = due


def pieces(state_file: Path, supervisor: int) -> dict[str, int]:
    """Each running piece's pid, from ``oam up``'s state file (pids change when a piece is restarted)."""
    try:
        services = json.loads(state_file.read_text())["services"]
    except (OSError, ValueError, KeyError):
        services = {}
    return {SUPERVISOR: supervisor, **{name: info["pid"] for name, info in services.items() if info.get("pid")}}


def measure(pid: int, children: bool = True) -> tuple[float, float, int] | None:
    """PSS (MB), CPU seconds and open fds of a process and its children, summed; None if it is gone."""
    try:
        parent = psutil.Process(pid)
        family = [parent, *(parent.children(recursive=True) if children else [])]
    except psutil.Error:
        return None
    cpu = 0.0
    fds = 0
    for process in family:
        with contextlib.suppress(psutil.Error):
            with process.oneshot():
                times = process.cpu_times()
                cpu += times.user + times.system
                fds += process.num_fds()
    pss = (tree_memory([pid]) if children else process_memory(pid)).pss_mb
    return pss, cpu, fds


class Searchable:
    """Documents of this soak run searchable in the suite's Elasticsearch, and the newest one's age."""

    def __init__(self, data_dir: Path, config: Path, run: str) -> None:
        settings = load_settings(config)
        self.client = connect(ElasticsearchComponent(settings).server.connection(), request_timeout=30)
        self.pattern = index_pattern("logs")
        self.run = run

    def look(self) -> tuple[int, float | None]:
        """(documents, lag in seconds or None when none is searchable yet)."""
        try:
            answer = self.client.search(index=self.pattern, size=0, track_total_hits=True, allow_no_indices=True,
                                        query={"match": {"labels.soak_run": self.run}},
                                        aggs={"newest": {"max": {"field": "@timestamp"}}})
        except (ApiError, TransportError):
            return 0, None
        newest = answer["aggregations"]["newest"]["value"]
        lag = None if newest is None else time.time() - newest / 1000
        return answer["hits"]["total"]["value"], lag

    def gap(self, start: float, end: float) -> Gap:
        """The longest stretch between ``start`` and ``end`` (epoch s) with no stored line, at 1 s."""
        answer = self.client.search(
            index=self.pattern, size=0, query={"match": {"labels.soak_run": self.run}},
            aggs={"seconds": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1s", "min_doc_count": 0,
                                                 "extended_bounds": {"min": int(start * 1000),
                                                                     "max": int(end * 1000)}}}})
        return longest_gap((b["key"], b["doc_count"]) for b in answer["aggregations"]["seconds"]["buckets"]
                           if start * 1000 - 1000 < b["key"] <= end * 1000)

    def counts(self) -> dict[int, int]:
        """Documents stored per sequence number (a composite aggregation, paged)."""
        counts: dict[int, int] = {}
        after: dict | None = None
        while True:
            composite: dict = {"size": 10000, "sources": [{"seq": {"terms": {"field": "labels.soak_seq"}}}]}
            if after:
                composite["after"] = after
            answer = self.client.search(index=self.pattern, size=0, query={"match": {"labels.soak_run": self.run}},
                                        aggs={"seqs": {"composite": composite}})
            result = answer["aggregations"]["seqs"]
            for bucket in result["buckets"]:
                counts[int(float(bucket["key"]["seq"]))] = bucket["doc_count"]
            after = result.get("after_key")
            if not result["buckets"] or after is None:
                return counts


def directory_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist); files vanishing meanwhile are skipped."""
    total = 0
    for file in path.rglob("*"):
        with contextlib.suppress(OSError):
            if file.is_file():
                total += file.stat().st_size
    return total


class SpoolWatch(threading.Thread):
    """Samples each collector's spool directory every second; keeps the peak and when it was reached."""

    def __init__(self, data_dir: Path, began: float) -> None:
        super().__init__(name="soak spool", daemon=True)
        self.dirs = {name: data_dir / name / "spool" for name in COLLECTORS}
        self.began = began
        self.peak = {name: (0, 0.0) for name in COLLECTORS}  # (bytes, seconds into the load)
        self.last = dict.fromkeys(COLLECTORS, 0)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            now = time.monotonic() - self.began
            for name, path in self.dirs.items():
                size = directory_bytes(path)
                self.last[name] = size
                if size > self.peak[name][0]:
                    self.peak[name] = (size, now)


def clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{seconds % 60:04.1f}"


class Faults(threading.Thread):
    """Restarts Elasticsearch and kills collectors at the planned times; records what happened when."""

    def __init__(self, plan: list[tuple[float, str]], state_file: Path, supervisor: int, began: float) -> None:
        super().__init__(name="soak faults", daemon=True)
        self.plan, self.state_file, self.supervisor, self.began = plan, state_file, supervisor, began
        self.done: list[dict] = []
        self.stopped = threading.Event()
        self.kills = 0

    def say(self, text: str) -> None:
        print(f"  [{clock(time.monotonic() - self.began)}] fault: {text}", flush=True)

    def back(self, name: str, old: int, timeout: float = 300.0) -> tuple[int, float] | None:
        """Wait for ``name`` to run again under a new pid: (pid, seconds since the fault), or None."""
        began = time.monotonic()
        while time.monotonic() - began < timeout and not self.stopped.is_set():
            try:
                info = json.loads(self.state_file.read_text())["services"][name]
            except (OSError, ValueError, KeyError):
                info = {}
            if info.get("pid") and info["pid"] != old and info.get("state") == "running":
                return info["pid"], time.monotonic() - began
            time.sleep(0.5)
        return None

    def run(self) -> None:
        for at, kind in self.plan:
            if self.stopped.wait(max(0.0, at - (time.monotonic() - self.began))):
                return
            if kind == "es":
                name = "elasticsearch"
            else:
                name = COLLECTORS[self.kills % len(COLLECTORS)]
                self.kills += 1
            pid = pieces(self.state_file, self.supervisor).get(name)
            if pid is None:
                self.say(f"{name} has no pid in the state file; skipped")
                continue
            at_fault = time.monotonic() - self.began
            wall = datetime.now(timezone.utc).isoformat(timespec="seconds")
            if kind == "es":
                self.say(f"stopping Elasticsearch (pid {pid}): SIGTERM to its process group, as oam up stops it")
                terminate_group(pid)
                self.say(f"Elasticsearch stopped after {time.monotonic() - self.began - at_fault:.1f} s; "
                         "oam up's supervisor starts it again")
            else:
                self.say(f"SIGKILL of {name} (pid {pid})")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            came = self.back(name, pid)
            record = {"kind": "elasticsearch restart" if kind == "es" else "collector kill", "piece": name,
                      "at_s": round(at_fault, 1), "at_utc": wall, "old_pid": pid,
                      "new_pid": came[0] if came else None, "back_after_s": round(came[1], 1) if came else None}
            self.done.append(record)
            self.say(f"{name} back as pid {came[0]}, {came[1]:.1f} s after the fault" if came
                     else f"{name} NOT back within 300 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the load runs")
    parser.add_argument("--rate", type=float, default=200.0, help="log lines per second written for the agent")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for the last lines at the end")
    parser.add_argument("--es-restarts", type=int, default=2, help="times Elasticsearch is restarted (0: never)")
    parser.add_argument("--collector-kills", type=int, default=3, help="times a collector is SIGKILLed (0: never)")
    args = script_arguments(parser, quick={"minutes": 2.0, "interval": 5.0})
    if args.minutes <= 0 or args.rate <= 0 or args.interval <= 0:
        parser.error("--minutes, --rate and --interval must be positive")
    if args.es_restarts < 0 or args.collector_kills < 0:
        parser.error("--es-restarts and --collector-kills must be 0 or more")

    work = Path(tempfile.mkdtemp(prefix="oam-soak-", dir="/tmp"))
    work.chmod(0o755)
    data_dir = work / "data"
    config = work / "oam.toml"
    config.write_text(soak_config(data_dir))
    run = uuid.uuid4().hex[:12]
    log = open(work / "oam-up.log", "wb")
    print(f"starting the suite (oam up) in {work} ...", flush=True)
    up = subprocess.Popen([sys.executable, "-m", "oam", "--config", str(config), "up", "--timeout", "240"],
                          stdout=log, stderr=subprocess.STDOUT, cwd=work)
    state_file = data_dir / "run" / "stack.json"
    writer: LineWriter | None = None
    faults: Faults | None = None
    finished = False
    try:
        def running() -> bool:
            if up.poll() is not None:
                raise SystemExit(f"oam up exited with {up.returncode}; see {work / 'oam-up.log'}")
            return json.loads(state_file.read_text()).get("phase") == "running"

        began = time.monotonic()
        wait_until(running, timeout=600, interval=1, what="oam up to start every piece", retry_on=(OSError, ValueError))
        print(f"suite running after {time.monotonic() - began:.0f} s; writing {args.rate:g} lines/s for "
              f"{args.minutes:g} min, sampling every {args.interval:g} s", flush=True)
        searchable = Searchable(data_dir, config, run)
        writer = LineWriter(data_dir / "sample" / "telemetry" / "soak.jsonl", args.rate, run)
        samples: dict[str, dict[str, list[tuple[float, float]]]] = {}
        lags: list[tuple[float, float]] = []
        start = time.monotonic()
        load_began = time.time()
        writer.start()
        spool = SpoolWatch(data_dir, start)
        spool.start()
        plan = fault_times(args.minutes * 60, {"es": args.es_restarts, "collector": args.collector_kills})
        print("faults planned at " + (", ".join(f"{clock(at)} {kind}" for at, kind in plan) or "none"), flush=True)
        faults = Faults(plan, state_file, up.pid, start)
        faults.start()
        end = start + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(min(args.interval, max(0.0, end - time.monotonic())))
            if up.poll() is not None:
                raise SystemExit(f"oam up exited with {up.returncode} during the soak; see {work / 'oam-up.log'}")
            now = time.monotonic() - start
            for name, pid in pieces(state_file, up.pid).items():
                figures = measure(pid, children=name != SUPERVISOR)
                if figures is None:
                    continue
                series = samples.setdefault(name, {"rss": [], "cpu": [], "fds": []})
                for key, value in zip(("rss", "cpu", "fds"), figures):
                    series[key].append((now, float(value)))
            documents, lag = searchable.look()
            if lag is not None:
                lags.append((now, lag))
            total_rss = sum(series["rss"][-1][1] for series in samples.values() if series["rss"])
            print(f"  {now / 60:5.1f} min: lines {writer.written:>8}, searchable {documents:>8}, lag "
                  f"{'-' if lag is None else f'{lag:.1f} s':>7}; PSS of all pieces {total_rss:7.0f} MB; "
                  f"Elasticsearch {samples.get('elasticsearch', {}).get('rss', [(0, 0.0)])[-1][1]:.0f} MB, "
                  f"collector {samples.get('collector', {}).get('rss', [(0, 0.0)])[-1][1]:.0f} MB, "
                  f"agent {samples.get('agent', {}).get('rss', [(0, 0.0)])[-1][1]:.0f} MB; spool "
                  f"{'/'.join(f'{spool.last[n] / 1e6:.1f}' for n in COLLECTORS)} MB", flush=True)
        writer.stopped.set()
        writer.join()
        load_ended = time.time()
        if faults.is_alive():
            print("waiting for the last fault's piece to be back ...", flush=True)
            faults.join(timeout=300)
        final_lag = lags[-1][1] if lags else float("nan")
        print(f"stopped writing at {writer.written} lines; waiting up to {args.drain:g} s for the rest ...", flush=True)
        deadline = time.monotonic() + args.drain
        documents, _ = searchable.look()
        while documents < writer.written and time.monotonic() < deadline:
            time.sleep(1)
            documents, _ = searchable.look()
        spool.stopped.set()
        counts = searchable.counts()
        gap = searchable.gap(load_began, load_ended)
        try:
            restarts = {name: info.get("restarts", 0) for name, info in json.loads(state_file.read_text())["services"].items()}
        except (OSError, ValueError, KeyError):
            restarts = {}
        report(args, samples, tally(writer.written, counts), final_lag,
               max((lag for _, lag in lags), default=float("nan")), gap, load_began, spool.peak, faults.done, restarts)
        finished = True
        return 0
    finally:
        if writer is not None:
            writer.stopped.set()
        if faults is not None:
            faults.stopped.set()
        print("stopping the suite ...", flush=True)
        up.terminate()  # SIGTERM stops oam up as Ctrl-C does, and a background job may ignore SIGINT
        try:
            up.wait(timeout=120)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        if finished:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work} (the suite's logs) for a look", flush=True)


def finite(value: float) -> float | None:
    return None if value != value else value  # NaN -> None (JSON)


def report(args: argparse.Namespace, samples: dict[str, dict[str, list[tuple[float, float]]]], counted: Tally,
           final_lag: float, max_lag: float, gap: Gap, load_began: float, spool_peak: dict[str, tuple[int, float]],
           faults: list[dict], restarts: dict[str, int]) -> None:
    rows, figures = [], []
    memory = {}
    for name, series in samples.items():
        rss, fds = trend(series["rss"]), trend(series["fds"])
        cpu = counter_rate(series["cpu"]) * 100
        rows.append([name, f"{rss.start:.0f}", f"{rss.end:.0f}", f"{rss.per_10_min:+.1f}",
                     "-" if rss.growth is None else f"{rss.growth * 100:+.1f}%", f"{cpu:.2f}",
                     f"{fds.start:.0f} -> {fds.end:.0f}", f"{fds.peak:.0f}", str(restarts.get(name, 0))])
        memory[name] = {"pss_mb_start": rss.start, "pss_mb_end": rss.end, "pss_mb_peak": rss.peak,
                        "growth_percent": None if rss.growth is None else rss.growth * 100,
                        "pss_mb_per_10_min": rss.per_10_min, "restarts": restarts.get(name, 0)}
        figures.append(Row("soak", f"{name} PSS at the end", rss.end, "MB", rss.start, "its PSS at the start",
                           Target("ratio", "<=", 1.1, "growth <= 10%"),
                           extra={"pss_mb_per_10_min": rss.per_10_min, "cpu_percent": cpu, "fds_start": fds.start,
                                  "fds_end": fds.end}))
    print(table(rows, headers=["piece", "PSS start MB", "PSS end MB", "MB / 10 min", "growth", "CPU % of a core",
                               "fds start -> end", "fds peak", "restarts"],
                align=["left", "right", "right", "right", "right", "right", "right", "right", "right"]))
    print("(a piece restarted during the run ends with a fresh process: its growth says little)")
    print(f"lines written {counted.written}, documents stored {counted.stored} ({counted.distinct} distinct "
          f"sequence numbers): lost {counted.lost}, duplicated {counted.duplicated}"
          + (f", never written {counted.unexpected}" if counted.unexpected else "")
          + (f"; first lost: {counted.first_lost}" if counted.lost else "") + "; "
          f"ingest lag at the end of the load {final_lag:.1f} s, highest {max_lag:.1f} s "
          f"({args.minutes:g} min at {args.rate:g} lines/s)")
    print("spool peak: " + ", ".join(f"{name} {size / 1e6:.2f} MB at {clock(at)}"
                                     for name, (size, at) in spool_peak.items()))
    print(f"longest gap in the stored lines' @timestamp (1 s buckets): {gap.seconds:g} s"
          + (f" from {clock(gap.start - load_began)}" if gap.start is not None else ""))
    for fault in faults:
        print(f"fault at {clock(fault['at_s'])} ({fault['at_utc']}): {fault['kind']} of {fault['piece']}, back after "
              f"{'-' if fault['back_after_s'] is None else fault['back_after_s']} s")
    figures += [Row("soak", "documents lost", counted.lost, "docs", target=Target("ours", "<=", 0, "0 lost")),
                Row("soak", "documents duplicated", counted.duplicated, "docs",
                    target=Target("ours", "<=", 0, "0 duplicated")),
                Row("soak", "ingest lag at the end of the load", finite(final_lag) or 0.0, "s"),
                Row("soak", "highest ingest lag", finite(max_lag) or 0.0, "s"),
                Row("soak", "longest gap on the dashboard", gap.seconds, "s"),
                *(Row("soak", f"{name} spool peak", size / 1e6, "MB") for name, (size, _) in spool_peak.items())]
    write_results(args, "soak", figures, series={
        "lines": {"written": counted.written, "stored": counted.stored, "distinct": counted.distinct,
                  "lost": counted.lost, "duplicated": counted.duplicated, "never_written": counted.unexpected,
                  "first_lost": counted.first_lost},
        "memory": memory, "faults": faults,
        "spool_peak": {name: {"bytes": size, "at_s": at} for name, (size, at) in spool_peak.items()},
        "longest_gap": {"seconds": gap.seconds, "from_s": None if gap.start is None else gap.start - load_began},
        "lag": {"end_s": finite(final_lag), "highest_s": finite(max_lag)}})


if __name__ == "__main__":
    sys.exit(main())
