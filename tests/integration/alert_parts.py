"""Shared by the alert tests: transactions to alert on, an ``oam alerts run`` process and the mail it causes."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from elasticsearch import ApiError, TransportError

from backing_services.smtp import read_mailbox
from foundation.clock import utc_iso
from foundation.waiting import NotReady, wait_until
from telemetry.templates import index_name

USER, PASSWORD = "alerts", "alerts-secret"
"""The evaluators' CMDB account in the tests' roots."""


class Traffic:
    """Indexes ``order-service`` transactions every half second; ``failing`` is the share that fails.
    While Elasticsearch is away its batches are lost (nothing is measured then)."""

    def __init__(self, client, prefix: str, environment: str) -> None:
        self.client, self.prefix, self.environment, self.failing = client, prefix, environment, 0.0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        index = index_name("transactions", prefix=self.prefix)
        while not self.stopping.wait(0.5):
            now = time.time()
            operations = []
            for n in range(10):
                failed = random.random() < self.failing
                operations += [{"create": {"_index": index}}, {
                    "@timestamp": utc_iso(now - n * 0.01, "milliseconds"), "event": {
                        "dataset": "apm.transaction", "outcome": "failure" if failed else "success",
                        "duration": random.randint(5, 50) * 1_000_000},
                    "service": {"name": "order-service", "environment": self.environment, "version": "1.0.0"},
                    "host": {"name": f"web-{n % 2 + 1}"}, "transaction": {"name": "GET /orders", "type": "request"},
                    "http": {"response": {"status_code": 500 if failed else 200}}}]
            try:
                self.client.bulk(operations=operations, refresh=True)
            except (ApiError, TransportError):
                continue

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(10)


def start_evaluator(name: str, zookeeper, root: str, es_users, alertmanagers, tmp_path: Path, *, prefix: str,
                    environment: str, elasticsearch=None) -> subprocess.Popen:
    """``oam alerts run`` as its own process, reading as the alerts user (of ``elasticsearch``, default the
    session's), evaluating every second and re-sending every 8 s."""
    reader = elasticsearch or es_users["alerts"]  # reads, and writes the alert history only
    env = {**os.environ, "OAM_CMDB_ZK": zookeeper.connection_string, "OAM_CMDB_USER": USER,
           "OAM_CMDB_PASSWORD": PASSWORD, "OAM_CMDB_ROOT": root, "OAM_ES_URL": ",".join(reader.hosts),
           "OAM_ES_USER": reader.username, "OAM_ES_PASSWORD": reader.resolved_password(),
           "OAM_ES_CA_FILE": reader.ca_file}
    env.pop("OAM_CONFIG", None)
    argv = [sys.executable, "-m", "oam", "alerts", "-e", environment, "run", "--identity", name, "--resend", "8s",
            "--reload", "1s", "--index-prefix", prefix, "--dashboard-url", "http://127.0.0.1:8080"]
    for url in alertmanagers.urls:
        argv += ["--alertmanager", url]
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def subjects(smtp_server) -> list[str]:
    return [str(message["Subject"]) for message in read_mailbox(smtp_server.mailbox)]


def mails_for(smtp_server, rule: str) -> list[str]:
    return [s for s in subjects(smtp_server) if f"] {rule} (" in s]


def wait_for_mail(smtp_server, rule: str, count: int, timeout: float, why: str) -> list[str]:
    def arrived() -> list[str]:
        got = mails_for(smtp_server, rule)
        if len(got) < count:
            raise NotReady(f"mail so far: {got}")
        return got

    return wait_until(arrived, timeout=timeout, interval=0.3, what=why)


def stop_evaluators(processes) -> None:
    """SIGTERM each evaluator still running; SIGKILL one that does not stop within 15 s."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
