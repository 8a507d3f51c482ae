"""How long a deploy's telemetry verdict takes with 10 hosts: from the end of the bake to the verdict.

Starts Elasticsearch (secured, as the suite runs it), a collector, ZooKeeper (the CMDB) and ten
``sshd`` hosts on 127.0.0.2-11. The sample release on every host reports each order read to the
collector, and a load thread reads orders from all ten while the deploys run. Each deploy goes
out in two batches of five; after each batch's bake the deployer reads both sides' figures
(requests, failures, a sample of durations, error groups) from Elasticsearch and judges them.

For every batch the deploy record holds ``verdict_seconds`` (end of the bake and settle to the
verdict: our queries, the statistics and the decision) and ``elasticsearch_seconds`` (the
``took`` of those queries, Elasticsearch's own time). The reference is the latter: what is left
is the round trips and our work.

    python bench/deploy_verdicts.py [--repeat 4] [--bake 5] [--rate 60]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from backing_services.elasticsearch import ElasticsearchServer  # noqa: E402
from backing_services.ports import free_port  # noqa: E402
from backing_services.process import reap_stale  # noqa: E402
from backing_services.sshd import SshHosts  # noqa: E402
from backing_services.zookeeper import ZooKeeperServer  # noqa: E402
from collector.auth import TokenStore  # noqa: E402
from deployer import service  # noqa: E402
from deployer.registry import Registry  # noqa: E402
from foundation.elasticsearch import connect  # noqa: E402
from foundation.output import table  # noqa: E402
from foundation.settings import write_toml  # noqa: E402
from foundation.waiting import wait_until  # noqa: E402
from oam.benchmarks.results import Row, script_arguments, write_results  # noqa: E402
from order_service.read_load import BackgroundReads  # noqa: E402
from order_service.sample_release import sample_config, write_sample_release  # noqa: E402
from remote import SshOptions  # noqa: E402

HOSTS = 10
SERVICE = "verdicts"
PREFIX = "benchverdicts"


def start_collector(work: Path, es: ElasticsearchServer) -> tuple[subprocess.Popen, str, str]:
    """``oam collector run`` on a free port, writing to ``PREFIX-*``; its URL and a token."""
    port = free_port()
    config = work / "collector.toml"
    write_toml(config, {"port": port, "tokens_file": work / "tokens.json", "spool_dir": work / "spool",
                        "index_prefix": PREFIX, "elasticsearch": es.connection().model_dump(exclude_defaults=True)})
    token = TokenStore(work / "tokens.json").issue("bench")
    log = open(work / "collector.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "oam", "collector", "run", "--config", str(config),
                                "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"collector exited with {process.returncode}; see {work / 'collector.log'}")
        return requests.get(f"{url}/health", timeout=2).ok

    wait_until(healthy, timeout=60, interval=0.2, what=f"collector at {url}", retry_on=(requests.RequestException,))
    return process, url, token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4, help="Deploys with a verdict per batch (two batches each).")
    parser.add_argument("--bake", type=float, default=5.0, help="Bake seconds per batch.")
    parser.add_argument("--rate", type=float, default=60.0, help="Order reads per second over all hosts.")
    args = script_arguments(parser, quick={"repeat": 1})
    base = Path(tempfile.mkdtemp(prefix="oam-bench-verdicts-", dir="/tmp"))
    os.chmod(base, 0o755)
    hosts = SshHosts(base / "ssh", count=HOSTS)
    zookeeper = ZooKeeperServer(base / "zookeeper", client_port=free_port(), namespace="/bench")
    es = ElasticsearchServer(base / "es", http_port=free_port(), heap_mb=768)
    collector: subprocess.Popen | None = None
    roots: list[Path] = []
    try:
        print(f"starting Elasticsearch, ZooKeeper and {HOSTS} sshd hosts ...", file=sys.stderr, flush=True)
        es.start(timeout=180)
        hosts.start()
        zookeeper.start()
        collector, url, token = start_collector(base, es)
        client = connect(es.connection(), request_timeout=30)
        with Registry.connect(zookeeper.connection_string, user="bench", password="bench") as registry:
            reports = run(registry, hosts, base, args, client, (url, token), roots)
    finally:
        for root in roots:
            reap_stale(root / "shared" / "app.pid")
        if collector is not None:
            collector.terminate()
            collector.wait(30)
        hosts.stop()
        zookeeper.stop()
        es.stop()
        shutil.rmtree(base, ignore_errors=True)
    results = summary(reports)
    report(results, args)
    write_results(args, "deploy_verdicts", figures(results))
    return 0


def run(registry: Registry, hosts: SshHosts, base: Path, args: argparse.Namespace, client: Any,
        collector: tuple[str, str], roots: list[Path]) -> list[dict[str, Any]]:
    """One first deploy without analysis, then ``repeat`` judged deploys under load; their batch reports."""
    entries = [{"name": f"web{i + 1}", "address": s.address, "port": s.port, "deploy_root": str(s.root / SERVICE),
                "env": {"APP_PORT": str(free_port(s.address)), "APP_ADDRESS": s.address,
                        "OAM_COLLECTOR_URL": collector[0], "OAM_COLLECTOR_TOKEN": collector[1]}}
               for i, s in enumerate(hosts.servers)]
    roots.extend(Path(e["deploy_root"]) for e in entries)
    analysis = {"bake_seconds": args.bake, "settle_seconds": 2.5, "service": "sample", "index_prefix": PREFIX,
                "checks": {"error_rate": {"min_requests": 10}, "latency": {"min_requests": 10}}}

    def configure(judged: bool) -> None:
        registry.save_service_config(SERVICE, sample_config(
            entries, health_retries=50, health_interval=0.2, keep_releases=3,
            analysis=analysis if judged else {"bake_seconds": 0}))

    ssh = SshOptions(known_hosts=hosts.known_hosts, identity=hosts.client_key, connect_timeout=5)
    options = service.RunOptions(user="bench", ssh=ssh, batch_size=HOSTS // 2, max_parallel=HOSTS // 2,
                                 elasticsearch=client)
    versions = [f"1.{i}.0" for i in range(args.repeat + 1)]
    configure(judged=False)
    deploy(registry, options, versions[0], base)
    configure(judged=True)
    urls = [f"http://{e['address']}:{e['env']['APP_PORT']}" for e in entries]
    reports: list[dict[str, Any]] = []
    with BackgroundReads(urls, args.rate) as load:
        time.sleep(args.bake + 1)  # figures of every host before the first judged deploy
        for version in versions[1:]:
            record = deploy(registry, options, version, base)
            for batch in record["analysis"]:
                reports.append(batch)
                print(f"  {version} batch {batch['batch']}: verdict {batch['result']} "
                      f"{batch['verdict_seconds']:.3f}s, Elasticsearch {batch['elasticsearch_seconds']:.3f}s",
                      file=sys.stderr, flush=True)
        print(f"  {load.sent} order reads sent", file=sys.stderr)
    return reports


def deploy(registry: Registry, options: service.RunOptions, version: str, base: Path) -> dict[str, Any]:
    source = write_sample_release(base / "src" / version, version)
    outcome, _ = service.deploy(registry, SERVICE, version, options, source=source)
    if outcome.result != "succeeded":
        raise SystemExit(f"deploy of {version} to {HOSTS} hosts ended {outcome.result}")
    return registry.list_deployments(SERVICE)[0]


def summary(reports: list[dict[str, Any]]) -> dict[str, float]:
    if not reports:
        raise SystemExit("no batch was judged")
    verdict = [r["verdict_seconds"] for r in reports]
    took = [r["elasticsearch_seconds"] for r in reports]
    return {"batches": len(reports), "verdict median": statistics.median(verdict), "verdict max": max(verdict),
            "es median": statistics.median(took), "es max": max(took),
            "passed": sum(r["result"] == "pass" for r in reports)}


def figures(results: dict[str, float]) -> list[Row]:
    return [Row("deploy", f"verdict after the bake, {HOSTS} hosts (median)", results["verdict median"], "s",
                results["es median"], "Elasticsearch time of its queries"),
            Row("deploy", f"verdict after the bake, {HOSTS} hosts (slowest)", results["verdict max"], "s",
                results["es max"], "Elasticsearch time of its queries")]


def report(results: dict[str, float], args: argparse.Namespace) -> None:
    print(f"telemetry verdicts of {results['batches']:.0f} batches ({HOSTS // 2} hosts each, bake {args.bake:g}s, "
          f"{args.rate:g} reads/s); {results['passed']:.0f} passed")
    rows = [["median", f"{results['verdict median'] * 1000:.0f} ms", f"{results['es median'] * 1000:.0f} ms"],
            ["slowest", f"{results['verdict max'] * 1000:.0f} ms", f"{results['es max'] * 1000:.0f} ms"]]
    print(table(rows, headers=["batch", "end of bake to verdict", "Elasticsearch time of the queries"],
                align=["left", "right", "right"]))


if __name__ == "__main__":
    sys.exit(main())
