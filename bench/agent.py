"""The host agent's cost and its log-shipping throughput, beside Debian's prometheus-node-exporter.

    python bench/agent.py [--minutes 10] [--mib 200]

1. Cost: the agent (system metrics at the default 10 s interval, shipping to a real collector
   and Elasticsearch) and prometheus-node-exporter (scraped every 10 s, as Prometheus would)
   run side by side for ``--minutes``; prints CPU seconds, % of one core and peak RSS of each
   against the targets (<= 1% of a core, <= 60 MB).
2. Throughput: ``--mib`` MiB of JSON log lines shipped from a file through the collector into
   Elasticsearch; prints MiB/s and lines/s, wall and per agent CPU-second (target >= 30 MiB/s
   on one core).

``--json PATH`` also writes the figures for ``oam bench``; ``--quick`` is a short run.
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backing_services.elasticsearch import ElasticsearchServer  # noqa: E402
from backing_services.ports import free_port  # noqa: E402
from collector.auth import TokenStore  # noqa: E402
from collector.config import CollectorElasticsearch, load_config  # noqa: E402
from collector.testing import serve_in_thread  # noqa: E402
from foundation.clock import utc_now_iso  # noqa: E402
from foundation.output import table  # noqa: E402
from foundation.settings import write_toml  # noqa: E402
from foundation.waiting import wait_until  # noqa: E402
from oam.benchmarks.results import Row, Target, script_arguments, write_results  # noqa: E402

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
TICKS = 100  # clock ticks per second on Linux


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def agent_config(work: Path, url: str, token: str, logs: str, interval: float, name: str) -> Path:
    path = work / f"{name}.toml"
    write_toml(path, {"agent": {"id": name, "data_dir": work / name, "interval": interval, "metrics_port": 0,
                                "flush_seconds": 0.5},
                      "collector": {"urls": [url], "token": token}, "logs": {"paths": [logs]}})
    return path


def start_agent(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "oam", "agent", "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cost(work: Path, url: str, token: str, minutes: float, figures: list[Row]) -> list[list[str | None]]:
    port = free_port()
    exporter = subprocess.Popen([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agent = start_agent(agent_config(work, url, token, str(work / "no-logs" / "*.log"), 10, "idle-agent"))
    try:
        time.sleep(3)  # both up; count from here
        start = {p.pid: cpu_seconds(p.pid) for p in (agent, exporter)}
        began = time.monotonic()
        end = began + minutes * 60
        while time.monotonic() < end:
            requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)  # a scrape, as Prometheus would
            time.sleep(min(10, max(0, end - time.monotonic())))
        elapsed = time.monotonic() - began
        ours = (cpu_seconds(agent.pid) - start[agent.pid], peak_rss_mb(agent.pid))
        peer = (cpu_seconds(exporter.pid) - start[exporter.pid], peak_rss_mb(exporter.pid))
    finally:
        for process in (agent, exporter):
            process.terminate()
            process.wait(timeout=30)
    pct = lambda cpu: 100 * cpu / elapsed  # noqa: E731
    peer_name = "node-exporter"
    figures += [Row("agent", f"agent CPU ({elapsed / 60:.1f} min, 10 s interval)", pct(ours[0]), "% of a core",
                    pct(peer[0]), peer_name, Target("ours", "<=", 1, "<= 1% of a core")),
                Row("agent", "agent peak RSS", ours[1], "MB", peer[1], peer_name, Target("ours", "<=", 60, "<= 60 MB"))]
    return [
        ["agent CPU, % of one core", f"{pct(ours[0]):.3f}", f"{pct(peer[0]):.3f}", f"{ours[0] / max(peer[0], 1e-9):.2f}",
         f"<= 1%  ({'met' if pct(ours[0]) <= 1 else 'NOT met'}; {ours[0]:.1f} vs {peer[0]:.1f} CPU s over "
         f"{elapsed / 60:.1f} min)"],
        ["agent peak RSS, MB", f"{ours[1]:.1f}", f"{peer[1]:.1f}", f"{ours[1] / max(peer[1], 1e-9):.2f}",
         f"<= 60 MB ({'met' if ours[1] <= 60 else 'NOT met'})"],
    ]


def throughput(work: Path, url: str, token: str, mib: float, figures: list[Row]) -> list[list[str | None]]:
    logs = work / "logs"
    logs.mkdir()
    line = json.dumps({"_kind": "logs", "@timestamp": utc_now_iso("microseconds"),  # inside the collector's window
                       "message": "GET /api/orders/order-17 served from cache in 1.2 ms",
                       "log": {"level": "info", "logger": "order_service.backend"},
                       "service": {"name": "backend"}, "labels": {"seq": "N"}})
    count = int(mib * 2**20 / (len(line) + 4))
    with open(logs / "app.log", "w") as handle:
        for n in range(count):
            handle.write(line.replace('"N"', f'"{n}"') + "\n")
    size = (logs / "app.log").stat().st_size
    agent = start_agent(agent_config(work, url, token, str(logs / "*.log"), 3600, "busy-agent"))
    checkpoints = work / "busy-agent" / "checkpoints.json"
    began = time.monotonic()
    try:
        def shipped_all() -> bool:
            if agent.poll() is not None:
                raise SystemExit("the agent died during the throughput run")
            files = json.loads(checkpoints.read_text())["files"]
            return bool(files) and files[0]["offset"] >= size

        wait_until(shipped_all, timeout=900, interval=0.1,
                   what="the agent's checkpoint at the end of the file", retry_on=(OSError, ValueError, KeyError))
        wall = time.monotonic() - began
        cpu = cpu_seconds(agent.pid)
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    mib_total = size / 2**20
    figures += [Row("agent", f"log shipping to ES, wall ({mib_total:.0f} MiB)", mib_total / wall, "MiB/s"),
                Row("agent", "log shipping to ES, lines/s (wall)", count / wall, "lines/s"),
                Row("agent", "log shipping per agent CPU-second", mib_total / cpu, "MiB/s", 30.0,
                    "the target", Target("ours", ">=", 30, ">= 30 MiB/s on one core"))]
    return [
        ["log shipping, MiB/s (wall, to ES)", f"{mib_total / wall:.1f}", None, None,
         f"({count} lines, {mib_total:.0f} MiB in {wall:.1f} s; {count / wall:.0f} lines/s)"],
        ["log shipping, MiB per agent CPU-s", f"{mib_total / cpu:.1f}", "30.0", f"{mib_total / cpu / 30:.2f}",
         f">= 30 MiB/s on one core ({'met' if mib_total / cpu >= 30 else 'NOT met'})"],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the cost run")
    parser.add_argument("--mib", type=float, default=200.0, help="log volume for the throughput run")
    parser.add_argument("--skip-cost", action="store_true", help="only the throughput run")
    args = script_arguments(parser, quick={"minutes": 0.5, "mib": 20.0})
    figures: list[Row] = []
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per batch
    if not Path(NODE_EXPORTER).exists():
        raise SystemExit(f"{NODE_EXPORTER} is missing; run scripts/setup")
    with tempfile.TemporaryDirectory(prefix="oam-bench-agent-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        es = ElasticsearchServer(work / "es", http_port=free_port(), heap_mb=1024)
        es.start(timeout=180)
        try:
            config = load_config(None, port=free_port(), tokens_file=work / "tokens.json", spool_dir=work / "spool",
                                 index_prefix="oambench")
            config.elasticsearch = CollectorElasticsearch(**es.connection().model_dump())
            token = TokenStore(config.tokens_file).issue("bench")
            with serve_in_thread(config) as collector:
                rows = [] if args.skip_cost else cost(work, collector.url, token, args.minutes, figures)
                rows += throughput(work, collector.url, token, args.mib, figures)
        finally:
            es.stop()
    print(table(rows, headers=["figure", "ours", "reference", "ratio", "target"],
                align=["left", "right", "right", "right", "left"]))
    print("reference: prometheus-node-exporter for cost; the 30 MiB/s target for throughput")
    write_results(args, "agent", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
