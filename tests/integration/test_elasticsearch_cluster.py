"""A 3-node secured Elasticsearch cluster under steady ingest from two collectors: a data node and
then the elected master are killed with SIGKILL and started again. Every document arrives once;
the dashboard and the trace API keep answering; the collectors' spools take what the cluster
refused and drain it.

This module starts its own cluster (own directories and ports, heaps of 288 MB) because it kills nodes.
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from elasticsearch.helpers import scan
from local_suite import wait_healthy, wait_until

from backing_services.elasticsearch import ElasticsearchCluster, ElasticsearchServer
from backing_services.ports import free_port
from collector.auth import READ, TokenStore
from dashboard.testing import PASSWORDS, ServedApp, make_app, seeded
from foundation.elasticsearch import connect
from foundation.suite import ELASTICSEARCH_USERS
from telemetry.access import roles
from telemetry.ecs import timestamp

from elasticsearch_access import PASSWORDS as ES_PASSWORDS
from elasticsearch_access import PIECE_ROLES, TEST_INDEX_PATTERNS

PREFIX = "oamcluster"
BATCH = 100
PACE_SECONDS = 0.25  # between one sender's batches: about 400 documents/s per collector
GTX = secrets.token_hex(16)  # carried by the first documents, asked of the trace API all along


@pytest.fixture(scope="module")
def cluster(run_dir: Path) -> Iterator[ElasticsearchCluster]:
    cluster = ElasticsearchCluster(run_dir / "es-cluster", size=3, heap_mb=288, password=secrets.token_urlsafe(16))
    cluster.users = {ELASTICSEARCH_USERS[piece]: (ES_PASSWORDS[piece], role) for piece, role in PIECE_ROLES.items()}
    cluster.roles = roles(TEST_INDEX_PATTERNS)
    cluster.start(timeout=240)
    yield cluster
    cluster.stop()


def _collector(path: Path, cluster: ElasticsearchCluster, port: int) -> subprocess.Popen:
    """A collector as its own user on every node of the cluster, one replica per index, a short request timeout."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / "collector.toml"
    hosts = ", ".join(f'"{url}"' for url in cluster.urls)
    config.write_text(
        f'host = "127.0.0.1"\nport = {port}\ntokens_file = "{path.parent / "tokens.json"}"\n'
        f'spool_dir = "{path / "spool"}"\nindex_prefix = "{PREFIX}"\nindex_replicas = 1\n'
        f'workers = 1\n'  # one process: its /metrics counts every document it spooled
        f'retry_backoff_seconds = 0.1\n\n[elasticsearch]\nhosts = [{hosts}]\n'
        f'username = "{ELASTICSEARCH_USERS["collector"]}"\npassword = "{ES_PASSWORDS["collector"]}"\n'
        f'ca_file = "{cluster.ca_file}"\nrequest_timeout = 3.0\n')
    with open(path / "collector.log", "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "oam", "collector", "run", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


class Sender:
    """One agent's steady stream to one collector: numbered batches, each resent until acknowledged."""

    def __init__(self, name: str, url: str, token: str) -> None:
        self.name, self.url, self.token = name, url, token
        self.acknowledged, self.ids = 0, []
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            number = 0
            while not self.stop.is_set():
                ids = [f"{self.name}-{number * BATCH + n}" for n in range(BATCH)]
                lines = [json.dumps({"_kind": "logs", "_id": doc_id, "@timestamp": timestamp(),
                                     "message": f"document {doc_id}", "service.name": "cluster-test",
                                     **({"trace.id": GTX} if number == 0 else {})}) for doc_id in ids]
                body = gzip.compress("\n".join(lines).encode())
                while True:
                    try:
                        answer = requests.post(f"{self.url}/v1/ingest", data=body, timeout=30, headers={
                            "Authorization": f"Bearer {self.token}", "Content-Encoding": "gzip"})
                        if answer.status_code == 200:
                            break
                        assert answer.status_code in (500, 502, 503), answer.text
                    except requests.RequestException:
                        pass
                    time.sleep(0.2)
                self.ids += ids
                self.acknowledged += 1
                number += 1
                self.stop.wait(PACE_SECONDS)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)


class Prober:
    """Asks one URL every 0.2 s; keeps when it answered and the longest run of failed requests."""

    def __init__(self, name: str, url: str, headers: dict[str, str]) -> None:
        self.name, self.url, self.headers = name, url, headers
        self.successes: list[float] = []
        self.longest_failure = 0.0
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        failing_since: float | None = None
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                ok = requests.get(self.url, headers=self.headers, timeout=5).status_code == 200
            except requests.RequestException:
                ok = False
            now = time.monotonic()
            if ok:
                self.successes.append(now)
                if failing_since is not None:
                    self.longest_failure = max(self.longest_failure, now - failing_since)
                failing_since = None
            else:
                self.failures += 1
                failing_since = began if failing_since is None else failing_since
            self.stop.wait(0.2)
        if failing_since is not None:
            self.longest_failure = max(self.longest_failure, time.monotonic() - failing_since)

    def answered_between(self, start: float, end: float) -> bool:
        return any(start <= at <= end for at in self.successes)


def _kill(node: ElasticsearchServer) -> None:
    os.killpg(node.process.pid, signal.SIGKILL)
    node.stop()  # reaps the killed process


def test_every_document_arrives_once_through_a_killed_data_node_and_a_killed_master(
        cluster, zookeeper, run_dir: Path) -> None:
    admin = connect(cluster.connection(), request_timeout=30, max_retries=3)
    base = run_dir / "cluster-collectors"
    store = TokenStore(base / "tokens.json")
    ingest, read = store.issue("cluster-agent"), store.issue("cluster-reader", READ)
    ports = [free_port(), free_port()]
    collectors = [_collector(base / f"collector-{n}", cluster, port) for n, port in enumerate(ports, 1)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    senders: list[Sender] = []
    probers: list[Prober] = []
    threads: list[threading.Thread] = []
    dashboard_connection = cluster.connection(ELASTICSEARCH_USERS["dashboard"], ES_PASSWORDS["dashboard"],
                                              request_timeout=5.0)
    with seeded(admin, zookeeper.connection_string, elasticsearch=dashboard_connection) as seed, \
            ServedApp(make_app(seed)) as dashboard:
        # The seeded documents survive a lost node too.
        admin.indices.put_settings(index=f"{seed.prefix}-*", settings={"index": {"number_of_replicas": 1}})
        admin.cluster.health(wait_for_status="green", timeout="60s")
        try:
            for url, process in zip(urls, collectors):
                wait_healthy(url, process, timeout=60)
            senders = [Sender(f"c{n}", url, ingest) for n, url in enumerate(urls, 1)]
            threads = [threading.Thread(target=sender.run, daemon=True) for sender in senders]
            for thread in threads:
                thread.start()
            acknowledged = lambda: sum(s.acknowledged for s in senders)  # noqa: E731

            def more(count: int) -> None:
                target = acknowledged() + count
                wait_until(lambda: acknowledged() >= target or any(s.errors for s in senders), 180,
                           f"{count} more batches acknowledged")

            more(20)
            # Every index the collectors made has its replica allocated before a node is lost.
            assert admin.cluster.health(index=f"{PREFIX}-*", wait_for_status="green", timeout="60s")["status"] == "green"
            viewer = "Basic " + base64.b64encode(f"viewer:{PASSWORDS['viewer']}".encode()).decode()
            probers = [Prober("dashboard", f"{dashboard.url}/api/traces/{seed.trace_id}", {"Authorization": viewer}),
                       Prober("trace API", f"{urls[0]}/api/traces/{GTX}", {"Authorization": f"Bearer {read}"})]
            threads += [threading.Thread(target=prober.run, daemon=True) for prober in probers]
            for thread in threads[len(senders):]:
                thread.start()
            faults = []
            master = cluster.elected_master()
            data_node = next(node for node in cluster.nodes if node is not master)
            for victim in (data_node, "master"):
                node = cluster.elected_master() if victim == "master" else victim
                began = time.monotonic()
                _kill(node)
                more(15)  # ingest goes on with one node down
                cluster.start(timeout=180)  # starts the killed node; waits until all three have joined
                faults.append((node.node_name, began, time.monotonic()))
                more(15)
            assert cluster.elected_master() is not None
            for sender in senders:
                sender.stop.set()
            for thread in threads[:len(senders)]:
                thread.join(timeout=120)
            assert not any(s.errors for s in senders), [s.errors for s in senders]

            def drained() -> bool:
                return all(requests.get(f"{url}/health", timeout=5).json()["spool"]["segments"] == 0 for url in urls)

            wait_until(drained, 180, "both spools to drain")
            spooled = sum(_metric(url, "oam_collector_spooled_documents_total") for url in urls)
        finally:
            for worker in [*senders, *probers]:
                worker.stop.set()
            for thread in threads:
                thread.join(timeout=30)
            for process in collectors:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=30)

    for prober in probers:
        print(f"{prober.name}: longest failing period {prober.longest_failure:.1f}s, {prober.failures} failed "
              f"of {prober.failures + len(prober.successes)} requests")
        for name, began, ended in faults:
            assert prober.answered_between(began, ended), f"{prober.name} never answered while {name} was down"
    expected = {doc_id for sender in senders for doc_id in sender.ids}
    admin.indices.refresh(index=f"{PREFIX}-logs-*")
    ids = [hit["_id"] for hit in scan(admin, index=f"{PREFIX}-logs-*", query={"_source": False}, size=5000)]
    print(f"{len(expected)} documents acknowledged, {len(ids)} stored, {spooled:.0f} went through a spool")
    assert len(ids) == len(expected) and set(ids) == expected
    assert admin.count(index=f"{PREFIX}-logs-*")["count"] == len(expected)
    assert spooled > 0  # the cluster refused some writes while a node was away, and the spools took them
    settings = admin.indices.get_settings(index=f"{PREFIX}-logs-*")
    assert {s["settings"]["index"]["number_of_replicas"] for s in settings.body.values()} == {"1"}
    assert admin.cluster.health(wait_for_status="green", timeout="60s")["status"] == "green"
    admin.close()


def _metric(url: str, name: str) -> float:
    for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0
