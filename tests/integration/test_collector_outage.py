"""The collector, as its own user, against a secured Elasticsearch (TLS) that is stopped and started under load.

This module starts its own Elasticsearch (own directory and port) because it stops it.
"""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from local_suite import wait_healthy, wait_until

from backing_services.elasticsearch import ElasticsearchServer
from backing_services.ports import free_port
from collector.auth import TokenStore
from foundation.elasticsearch import connect
from telemetry.ecs import timestamp

from elasticsearch_access import piece_connections, secured_elasticsearch

PREFIX = "oamchaos"
TOTAL = 100_000
BATCH = 1_000
SENDERS = 2
PACE_SECONDS = 0.8  # between one sender's batches, so the outages and the kill fall mid-stream


@pytest.fixture(scope="module")
def secure_es(run_dir: Path) -> Iterator[ElasticsearchServer]:
    server = secured_elasticsearch(run_dir / "collector-outage-es", heap_mb=512)
    server.start(timeout=180)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def secure_client(secure_es: ElasticsearchServer):
    client = connect(secure_es.connection(), request_timeout=60, max_retries=3)
    yield client
    client.close()


def _write_config(path: Path, es: ElasticsearchServer, port: int, password: str) -> Path:
    """The collector's settings file: its own user on ``es`` with ``password``, verifying es's CA."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / "collector.toml"
    collector = piece_connections(es)["collector"]
    config.write_text(
        f'host = "127.0.0.1"\nport = {port}\ntokens_file = "{path / "tokens.json"}"\n'
        f'spool_dir = "{path / "spool"}"\nspool_max_bytes = {512 << 20}\nindex_prefix = "{PREFIX}"\n'
        f'retry_backoff_seconds = 0.1\n\n[elasticsearch]\nhosts = ["{es.url}"]\nusername = "{collector.username}"\n'
        f'password = "{password}"\nca_file = "{collector.ca_file}"\nrequest_timeout = 10.0\n')
    return config


def _start_collector(config: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "oam", "collector", "run", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_wrong_credentials_fail_at_start_with_one_clear_line(secure_es, tmp_path: Path) -> None:
    config = _write_config(tmp_path, secure_es, free_port(), "not-the-password")
    result = subprocess.run([sys.executable, "-m", "oam", "collector", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "rejected the credentials (401)" in result.stderr
    assert "Traceback" not in result.stderr


class Sender:
    """Sends numbered batches, retrying each until the collector acknowledges it (200)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.acknowledged = 0
        self.retries = 0
        self.lock = threading.Lock()
        self.errors: list[BaseException] = []

    def batch(self, number: int) -> bytes:
        now = timestamp()
        lines = [json.dumps({"_kind": "logs", "_id": f"doc-{number * BATCH + n}", "@timestamp": now,
                             "message": f"document {number * BATCH + n}", "service.name": "chaos",
                             "log.offset": number * BATCH + n})
                 for n in range(BATCH)]
        return gzip.compress("\n".join(lines).encode())

    def send(self, numbers: range) -> None:
        try:
            for number in numbers:
                body = self.batch(number)
                while True:  # the test's client: resends at a fixed pace until acknowledged, counting retries
                    try:
                        response = requests.post(f"{self.url}/v1/ingest", data=body, timeout=60,
                                                 headers={"Authorization": f"Bearer {self.token}",
                                                          "Content-Encoding": "gzip"})
                        if response.status_code == 200:
                            break
                        assert response.status_code in (500, 502, 503), response.text
                    except requests.RequestException:
                        pass
                    with self.lock:
                        self.retries += 1
                    time.sleep(0.2)
                with self.lock:
                    self.acknowledged += 1
                time.sleep(PACE_SECONDS)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)


def test_nothing_lost_nothing_doubled_through_outages_and_a_killed_collector(
        secure_es, secure_client, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = _write_config(tmp_path, secure_es, port, piece_connections(secure_es)["collector"].password)
    token = TokenStore(tmp_path / "tokens.json").issue("chaos-agent")
    log = tmp_path / "collector.log"
    current = {"collector": _start_collector(config, log)}
    threads: list[threading.Thread] = []
    try:
        wait_healthy(url, current["collector"])
        sender = Sender(url, token)
        batches = TOTAL // BATCH
        share = batches // SENDERS
        threads = [threading.Thread(target=sender.send, args=(range(i * share, (i + 1) * share),), daemon=True)
                   for i in range(SENDERS)]
        acked = lambda count: (lambda: sender.acknowledged >= count or sender.errors)  # noqa: E731

        def kill_and_restart_collector() -> None:
            wait_until(acked(45), 300, "45 batches", 0.05)
            os.killpg(current["collector"].pid, signal.SIGKILL)  # the collector dies mid-stream
            current["collector"].wait()
            time.sleep(0.5)
            current["collector"] = _start_collector(config, log)

        killer = threading.Thread(target=kill_and_restart_collector, daemon=True)
        for thread in [*threads, killer]:
            thread.start()
        # Elasticsearch is started from this thread: it dies with the thread that started it.
        wait_until(acked(15), 120, "15 batches", 0.05)
        secure_es.stop()                                     # outage 1
        wait_until(acked(30), 120, "30 batches", 0.05)
        secure_es.start(timeout=180)
        wait_until(acked(60), 120, "60 batches", 0.05)
        secure_es.stop()                                     # outage 2
        wait_until(acked(75), 120, "75 batches", 0.05)
        secure_es.start(timeout=180)
        killer.join(timeout=300)
        wait_healthy(url, current["collector"])
        for thread in threads:
            thread.join(timeout=300)
        assert not sender.errors, sender.errors
        assert sender.acknowledged == batches

        def drained() -> bool:
            return requests.get(f"{url}/health", timeout=5).json()["spool"]["segments"] == 0
        wait_until(drained, 180, "the spool to drain", 0.05)
    finally:
        _stop(current["collector"])
        for thread in threads:
            thread.join(timeout=1)

    secure_client.indices.refresh(index=f"{PREFIX}-logs-*")
    assert secure_client.count(index=f"{PREFIX}-logs-*")["count"] == TOTAL
    from elasticsearch.helpers import scan

    ids = [hit["_id"] for hit in scan(secure_client, index=f"{PREFIX}-logs-*", query={"_source": False}, size=5000)]
    assert len(ids) == TOTAL and set(ids) == {f"doc-{n}" for n in range(TOTAL)}
    assert sender.retries > 0  # the kill really interrupted acknowledged delivery
    assert "not taking spooled documents" in log.read_text()  # the outages really went through the spool
    spool_files = list((tmp_path / "spool").glob("*.ndjson"))
    assert spool_files == []
