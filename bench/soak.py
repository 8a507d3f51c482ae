"""A soak of the whole local suite (``oam up``) under a steady, bounded load: do its pieces leak or fall behind?

    python bench/soak.py [--minutes 30] [--rate 200] [--interval 10] [--json PATH]

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
final and the highest lag. Not part of ``oam bench`` unless asked (``oam bench --only soak``).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shutil
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
from foundation.elasticsearch import connect  # noqa: E402
from foundation.output import table  # noqa: E402
from foundation.waiting import wait_until  # noqa: E402
from oam.benchmarks.memory import process_memory, tree_memory  # noqa: E402
from oam.benchmarks.results import Row, Target, script_arguments, write_results  # noqa: E402
from oam.benchmarks.trend import rate, trend  # noqa: E402
from oam.config import load as load_settings  # noqa: E402
from oam.servers import ElasticsearchComponent  # noqa: E402
from telemetry.templates import index_pattern  # noqa: E402

SUPERVISOR = "oam up"
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the load runs")
    parser.add_argument("--rate", type=float, default=200.0, help="log lines per second written for the agent")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for the last lines at the end")
    args = script_arguments(parser, quick={"minutes": 2.0, "interval": 5.0})
    if args.minutes <= 0 or args.rate <= 0 or args.interval <= 0:
        parser.error("--minutes, --rate and --interval must be positive")

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
        writer.start()
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
                  f"agent {samples.get('agent', {}).get('rss', [(0, 0.0)])[-1][1]:.0f} MB", flush=True)
        writer.stopped.set()
        writer.join()
        final_lag = lags[-1][1] if lags else float("nan")
        print(f"stopped writing at {writer.written} lines; waiting up to {args.drain:g} s for the rest ...", flush=True)
        deadline = time.monotonic() + args.drain
        documents, _ = searchable.look()
        while documents < writer.written and time.monotonic() < deadline:
            time.sleep(1)
            documents, _ = searchable.look()
        report(args, samples, writer.written, documents, final_lag, max((lag for _, lag in lags), default=float("nan")))
        finished = True
        return 0
    finally:
        if writer is not None:
            writer.stopped.set()
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


def report(args: argparse.Namespace, samples: dict[str, dict[str, list[tuple[float, float]]]], written: int,
           documents: int, final_lag: float, max_lag: float) -> None:
    rows, figures = [], []
    for name, series in samples.items():
        rss, fds = trend(series["rss"]), trend(series["fds"])
        cpu = rate(series["cpu"]) * 100
        rows.append([name, f"{rss.start:.0f}", f"{rss.end:.0f}", f"{rss.per_10_min:+.1f}",
                     "-" if rss.growth is None else f"{rss.growth * 100:+.1f}%", f"{cpu:.2f}",
                     f"{fds.start:.0f} -> {fds.end:.0f}", f"{fds.peak:.0f}"])
        figures.append(Row("soak", f"{name} PSS at the end", rss.end, "MB", rss.start, "its PSS at the start",
                           Target("ratio", "<=", 1.1, "growth <= 10%"),
                           extra={"pss_mb_per_10_min": rss.per_10_min, "cpu_percent": cpu, "fds_start": fds.start,
                                  "fds_end": fds.end}))
    print(table(rows, headers=["piece", "PSS start MB", "PSS end MB", "MB / 10 min", "growth", "CPU % of a core",
                               "fds start -> end", "fds peak"],
                align=["left", "right", "right", "right", "right", "right", "right", "right"]))
    lost, duplicated = max(0, written - documents), max(0, documents - written)
    print(f"lines written {written}, documents stored {documents}: lost {lost}, duplicated {duplicated}; "
          f"ingest lag at the end of the load {final_lag:.1f} s, highest {max_lag:.1f} s "
          f"({args.minutes:g} min at {args.rate:g} lines/s)")
    figures += [Row("soak", "documents lost", lost, "docs", target=Target("ours", "<=", 0, "0 lost")),
                Row("soak", "documents duplicated", duplicated, "docs", target=Target("ours", "<=", 0, "0 duplicated")),
                Row("soak", "ingest lag at the end of the load", final_lag, "s"),
                Row("soak", "highest ingest lag", max_lag, "s")]
    write_results(args, "soak", figures)


if __name__ == "__main__":
    sys.exit(main())
