"""The alert evaluator's cost and speed: one round of 200 rules over 1,000,000 transactions, and
how long a condition takes to become an email.

Starts Elasticsearch (secured, as the suite runs it) and ZooKeeper (the CMDB), indexes
``--documents`` transactions of 20 services on 5 hosts over the last 5 minutes, and writes 200
``service`` rules to the CMDB (error rate, request rate, p95 and p99 latency; half grouped by host,
some per route). Then, alternately:

* **ours**: one :meth:`Evaluator.round` — every rule's aggregation, the state machine, the
  state persisted in ZooKeeper, the history written;
* **reference**: the same 200 search bodies sent straight to Elasticsearch one after the other.

Ratio = ours / reference (target <= 1.2). Elasticsearch's own time is the sum of the searches'
``took``. Evaluator CPU per round is this process's CPU time during the round.

Then the path to a person: a real ``oam alerts run`` (rules every ``--interval``, ``for`` the
same), Alertmanager configured as ``oam up`` configures it and a real SMTP server. For each of
``--trials`` fresh services, failing transactions start at T0; the figure is the mail's arrival
minus T0 (target p95 <= for + interval + 5 s).

    python bench/alerts.py [--documents 1000000] [--rounds 6] [--trials 10] [--interval 5]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from elasticsearch.helpers import parallel_bulk  # noqa: E402

from alerts.evaluator import Evaluator, EvaluatorOptions  # noqa: E402
from alerts.queries import service_body  # noqa: E402
from alerts.rules import parse_rule, rule_key  # noqa: E402
from backing_services.alertmanager import AlertmanagerServer  # noqa: E402
from backing_services.elasticsearch import ElasticsearchServer  # noqa: E402
from backing_services.ports import free_port  # noqa: E402
from backing_services.process import stop_child  # noqa: E402
from backing_services.smtp import SmtpServer, read_mailbox  # noqa: E402
from backing_services.zookeeper import ZooKeeperServer  # noqa: E402
from cmdb import Cmdb  # noqa: E402
from foundation.clock import utc_iso  # noqa: E402
from foundation.elasticsearch import connect  # noqa: E402
from foundation.output import table  # noqa: E402
from foundation.waiting import NotReady, wait_until  # noqa: E402
from oam.alerting import suite_alertmanager_config  # noqa: E402
from oam.benchmarks.results import Row, Target, script_arguments, write_results  # noqa: E402
from telemetry.templates import index_name, install_templates  # noqa: E402

PREFIX = "benchalerts"
ENV = "bench"
SERVICES = [f"svc-{n:02d}" for n in range(20)]
HOSTS = [f"web-{n}" for n in range(1, 6)]
ROUTES = ["GET /orders", "POST /orders", "GET /orders/{id}", "GET /health"]
WINDOW_SECONDS = 300
CMDB_USER, CMDB_PASSWORD = "bench", "bench-secret"


def documents(count: int, now: float):
    """``count`` transactions over the last 5 minutes; 3 % fail, durations log-normal around 20 ms."""
    index = index_name("transactions", prefix=PREFIX)
    rng = random.Random(7)
    for n in range(count):
        failed = rng.random() < 0.03
        yield {"_op_type": "create", "_index": index, "_source": {
            "@timestamp": utc_iso(now - rng.random() * (WINDOW_SECONDS - 5), "milliseconds"),
            "event": {"dataset": "apm.transaction", "outcome": "failure" if failed else "success",
                      "duration": int(rng.lognormvariate(3.0, 0.6) * 1_000_000)},
            "service": {"name": SERVICES[n % len(SERVICES)], "environment": ENV, "version": f"1.{n % 3}.0"},
            "host": {"name": HOSTS[n % len(HOSTS)]}, "transaction": {"name": ROUTES[n % len(ROUTES)], "type": "request"}}}


def rule_set() -> dict[str, dict[str, Any]]:
    """200 rules: per service 10 (4 measures, each alone and by host, and 2 per route)."""
    rules: dict[str, dict[str, Any]] = {}
    measures = [("error_rate", {}, 5), ("request_rate", {}, 100_000), ("latency", {"percentile": 95}, 500),
                ("latency", {"percentile": 99}, 1000)]
    for service in SERVICES:
        for measure, extra, threshold in measures:
            for by in ((), ("host",)):
                name = f"{service}-{measure}{extra.get('percentile', '')}{'-by-host' if by else ''}"
                rules[name] = {"kind": "service", "service": service, "measure": measure, **extra, "op": ">",
                               "threshold": threshold, "window": "5m", "interval": "1s", "for": "1m",
                               "group_by": list(by)}
        for route in ROUTES[:2]:
            rules[f"{service}-errors-{route.split()[0].lower()}"] = {
                "kind": "service", "service": service, "measure": "error_rate", "route": route, "op": ">",
                "threshold": 5, "window": "5m", "interval": "1s", "for": "1m"}
    return rules


def index(client: Any, count: int) -> float:
    """Index the transactions; seconds taken."""
    began, now = time.monotonic(), time.time()
    for ok, item in parallel_bulk(client, documents(count, now), chunk_size=5000, thread_count=2, queue_size=4):
        if not ok:
            raise SystemExit(f"indexing failed: {item}")
    client.indices.refresh(index=f"{PREFIX}-*")
    return time.monotonic() - began


def measure_rounds(cmdb: Cmdb, client: Any, rounds: int) -> dict[str, list[float]]:
    """Alternate a straight run of the rules' searches and one evaluator round, ``rounds`` times each."""
    evaluator = Evaluator(cmdb, client, EvaluatorOptions(ENV, [], prefix=PREFIX, reload=3600))
    rules = [parse_rule(rule_key(ENV, name), value) for name, value in rule_set().items()]
    pattern = f"{PREFIX}-transactions-*"
    figures: dict[str, list[float]] = {"ours": [], "reference": [], "took": [], "cpu": []}
    evaluator.round(time.time())  # the first round reads the rules and writes every state node
    for n in range(rounds):
        time.sleep(1.05)  # every rule (interval 1 s) is due again
        now, began, took = time.time(), time.perf_counter(), 0
        for rule in rules:
            took += client.search(index=pattern, body=service_body(rule, now), ignore_unavailable=True)["took"]
        figures["reference"].append(time.perf_counter() - began)
        figures["took"].append(took / 1000)
        time.sleep(1.05)
        cpu, began = time.process_time(), time.perf_counter()
        evaluator.round(time.time())
        figures["ours"].append(time.perf_counter() - began)
        figures["cpu"].append(time.process_time() - cpu)
        print(f"  round {n + 1}: ours {figures['ours'][-1]:.3f}s, straight {figures['reference'][-1]:.3f}s, "
              f"Elasticsearch took {figures['took'][-1]:.3f}s, evaluator CPU {figures['cpu'][-1]:.3f}s",
              file=sys.stderr, flush=True)
    evaluator.history.flush()
    return figures


class Failing:
    """Indexes failing transactions of one service every half second until stopped."""

    def __init__(self, client: Any, service: str) -> None:
        self.client, self.service = client, service
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(0.5):
            now = time.time()
            self.client.bulk(refresh=True, operations=[
                part for n in range(10) for part in (
                    {"create": {"_index": index_name("transactions", prefix=PREFIX)}},
                    {"@timestamp": utc_iso(now - n * 0.01, "milliseconds"),
                     "event": {"dataset": "apm.transaction", "outcome": "failure", "duration": 10_000_000},
                     "service": {"name": self.service, "environment": ENV, "version": "1.0.0"},
                     "host": {"name": "web-1"}, "transaction": {"name": "GET /orders", "type": "request"}})])

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)


def measure_mail(cmdb: Cmdb, client: Any, es: ElasticsearchServer, zookeeper: ZooKeeperServer, base: Path,
                 trials: int, interval: int) -> list[float]:
    """Seconds from the first failing transaction to the firing mail, for ``trials`` fresh services."""
    smtp = SmtpServer(base / "smtp", port=free_port())
    smtp.start()
    alertmanager = AlertmanagerServer(base / "alertmanager", suite_alertmanager_config(smtp.address),
                                      web_port=free_port())
    alertmanager.start()
    connection = es.connection()
    env = {**os.environ, "OAM_CMDB_ZK": zookeeper.connection_string, "OAM_CMDB_USER": CMDB_USER,
           "OAM_CMDB_PASSWORD": CMDB_PASSWORD, "OAM_ES_URL": ",".join(connection.hosts),
           "OAM_ES_USER": connection.username, "OAM_ES_PASSWORD": connection.resolved_password(),
           "OAM_ES_CA_FILE": str(connection.ca_file)}
    env.pop("OAM_CONFIG", None)
    log = open(base / "evaluator.log", "wb")  # noqa: SIM115 - closed below
    evaluator = subprocess.Popen([sys.executable, "-m", "oam", "alerts", "-e", ENV, "run", "--identity", "bench",
                                  "--reload", "1s", "--index-prefix", PREFIX, "--alertmanager", alertmanager.url],
                                 cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT)
    delays: list[float] = []
    try:
        for trial in range(trials):
            service, name = f"mail-{trial}", f"mail-{trial}-errors"
            cmdb.store.set(rule_key(ENV, name), {
                "kind": "service", "service": service, "measure": "error_rate", "op": ">", "threshold": 20,
                "window": f"{interval}s", "interval": f"{interval}s", "for": f"{interval}s", "severity": "critical",
                "annotations": {"summary": f"{service} fails"}})
            time.sleep(2.5)  # the evaluator has read the rule (--reload 1s)
            began = time.time()
            failing = Failing(client, service)
            try:
                def arrived(name: str = name) -> bool:
                    if not any(f"] {name} (" in str(m["Subject"]) for m in read_mailbox(smtp.mailbox)):
                        raise NotReady("no mail yet")
                    return True

                wait_until(arrived, timeout=120, interval=0.1, what=f"the mail of {name}")
                delays.append(time.time() - began)
            finally:
                failing.stop()
            print(f"  trial {trial + 1}: mail after {delays[-1]:.1f}s", file=sys.stderr, flush=True)
    finally:
        stop_child(evaluator, 20)
        log.close()
        alertmanager.stop()
        smtp.stop()
    return delays


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1_000_000, help="Transactions in the 5-minute window.")
    parser.add_argument("--rounds", type=int, default=6, help="Rounds measured (each beside a straight run).")
    parser.add_argument("--trials", type=int, default=10, help="Conditions timed to their email.")
    parser.add_argument("--interval", type=int, default=5, help="Seconds: the timed rule's interval and its for.")
    args = script_arguments(parser, quick={"documents": 100_000, "rounds": 3, "trials": 3})
    base = Path(tempfile.mkdtemp(prefix="oam-bench-alerts-", dir="/tmp"))
    os.chmod(base, 0o755)  # Elasticsearch runs as its own user
    es = ElasticsearchServer(base / "es", http_port=free_port(), heap_mb=1024)
    zookeeper = ZooKeeperServer(base / "zookeeper", client_port=free_port(), namespace="/bench")
    try:
        print("starting Elasticsearch and ZooKeeper ...", file=sys.stderr, flush=True)
        es.start(timeout=180)
        zookeeper.start()
        client = connect(es.connection(), request_timeout=60)
        install_templates(client, prefix=PREFIX)
        seconds = index(client, args.documents)
        print(f"  {args.documents:,} transactions indexed in {seconds:.0f}s", file=sys.stderr, flush=True)
        with Cmdb(zookeeper.connection_string, user=CMDB_USER, password=CMDB_PASSWORD, actor="bench") as cmdb:
            for name, rule in rule_set().items():
                cmdb.store.set(rule_key(ENV, name), rule)
            rounds = measure_rounds(cmdb, client, args.rounds)
            for name in rule_set():
                cmdb.store.delete(rule_key(ENV, name))  # the mail trials' evaluator has only its own rules
            delays = measure_mail(cmdb, client, es, zookeeper, base, args.trials, args.interval)
        client.close()
    finally:
        zookeeper.stop()
        es.stop()
        shutil.rmtree(base, ignore_errors=True)
    rows = figures(rounds, delays, args)
    report(rows, rounds, delays, args)
    write_results(args, "alerts", rows)
    return 0


def figures(rounds: dict[str, list[float]], delays: list[float], args: argparse.Namespace) -> list[Row]:
    ours, straight = statistics.median(rounds["ours"]), statistics.median(rounds["reference"])
    limit = 2 * args.interval + 5
    judged = Target("ours", "<=", limit, f"p95 <= for + interval + 5 s = {limit} s")
    if len(delays) < 10:
        judged = judged.not_judged(f"{len(delays)} trials; at least 10 for a p95")
    unjudged = "" if args.documents >= 1_000_000 else f"{args.documents:,} documents; judged with 1,000,000"
    round_target = Target("ratio", "<=", 1.2)
    return [
        Row("alerts", f"one round of 200 rules over {args.documents:,} transactions (median)", ours, "s", straight,
            "the same searches straight to Elasticsearch",
            round_target.not_judged(unjudged) if unjudged else round_target,
            extra={"spread": spread(rounds["ours"]), "reference_spread": spread(rounds["reference"]),
                   "elasticsearch_took": statistics.median(rounds["took"])}),
        Row("alerts", "evaluator CPU per round of 200 rules (median)", statistics.median(rounds["cpu"]), "s"),
        Row("alerts", f"condition true to email, for = interval = {args.interval} s (p95)", p95(delays), "s",
            float(limit), "for + interval + 5 s", judged, extra={"median": statistics.median(delays)}),
    ]


def report(rows: list[Row], rounds: dict[str, list[float]], delays: list[float], args: argparse.Namespace) -> None:
    print(f"alert evaluator: 200 rules, {args.documents:,} transactions, {len(rounds['ours'])} rounds; "
          f"{len(delays)} mail trials")
    lines = [["round, ours", f"{statistics.median(rounds['ours']):.3f} s", f"spread {spread(rounds['ours']):.0%}"],
             ["same searches straight", f"{statistics.median(rounds['reference']):.3f} s",
              f"spread {spread(rounds['reference']):.0%}"],
             ["Elasticsearch took (sum)", f"{statistics.median(rounds['took']):.3f} s", ""],
             ["ratio ours / straight", f"{rows[0].ratio:.2f}", "target <= 1.2"],
             ["evaluator CPU per round", f"{statistics.median(rounds['cpu']):.3f} s", ""],
             ["condition to email p95", f"{p95(delays):.1f} s", f"median {statistics.median(delays):.1f} s, "
                                                               f"target <= {2 * args.interval + 5} s"]]
    print(table(lines, headers=["figure", "value", ""], align=["left", "right", "left"]))


if __name__ == "__main__":
    sys.exit(main())
