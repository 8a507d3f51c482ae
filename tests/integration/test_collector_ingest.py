"""Agent ingest against the real Elasticsearch: auth, bad input, dead letters, spool and replay."""
from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from local_suite import wait_healthy

from backing_services.ports import free_port
from collector.auth import TokenStore
from collector.config import CollectorConfig, load_config
from collector.indices import apply_retention
from collector.service import Collector
from collector.testing import RunningCollector, serve_in_thread
from foundation.elasticsearch import ElasticsearchConnection, connect, delete_indices
from telemetry.ecs import timestamp

PREFIX = "oamingest"


def _config(tmp_path: Path, es: ElasticsearchConnection, **overrides: object) -> CollectorConfig:
    """The collector's settings, as its own least-privilege user on ``es``."""
    overrides.setdefault("tokens_file", tmp_path / "tokens.json")
    connection = {**es.model_dump(exclude_defaults=True), "request_timeout": 5.0}
    return load_config(None, {"elasticsearch": connection}, port=free_port(), spool_dir=tmp_path / "spool",
                       index_prefix=PREFIX, **overrides)


@pytest.fixture
def running(tmp_path: Path, es_users, es_client) -> Iterator[tuple[RunningCollector, str]]:
    config = _config(tmp_path, es_users["collector"], max_body_bytes=64 * 1024)
    token = TokenStore(config.tokens_file).issue("agent-1")
    with serve_in_thread(config) as collector:
        yield collector, token
    delete_indices(es_client, f"{PREFIX}-*")


def _lines(marker: str, count: int, start: int = 0) -> list[str]:
    now = timestamp()
    return [json.dumps({"_kind": "logs", "_id": f"{marker}-{n}", "@timestamp": now, "message": f"line {n}",
                        "labels": {"marker": marker, "seq": n}, "service.name": "web"})
            for n in range(start, start + count)]


def _post(url: str, lines: list[str], token: str | None, compress: bool = True) -> requests.Response:
    body = "\n".join(lines).encode()
    headers = {"Content-Encoding": "gzip"} if compress else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(f"{url}/v1/ingest", data=gzip.compress(body) if compress else body, headers=headers,
                         timeout=30)


def _count(es_client, marker: str, pattern: str = f"{PREFIX}-logs-*") -> int:
    es_client.indices.refresh(index=f"{PREFIX}-*", ignore_unavailable=True)
    return es_client.count(index=pattern, query={"term": {"labels.marker": marker}},
                           ignore_unavailable=True, allow_no_indices=True)["count"]


def test_templates_are_installed_at_start(running, es_client) -> None:
    for kind in ("logs", "transactions", "spans", "metrics", "errors", "changes", "deadletter"):
        assert es_client.indices.exists_index_template(name=f"{PREFIX}-{kind}")


def test_one_malformed_line_does_not_take_the_batch_down(running, es_client) -> None:
    collector, token = running
    lines = _lines("mixed", 999)
    lines.insert(437, '{"_kind": "logs", "@timestamp": ')
    response = _post(collector.url, lines, token)
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith("line 438: invalid JSON")
    assert body["accepted"] == 999 and [failure["line"] for failure in body["failed"]] == [438]
    assert _count(es_client, "mixed") == 999


def test_resent_batch_is_not_duplicated(running, es_client) -> None:
    collector, token = running
    lines = _lines("again", 300)
    assert _post(collector.url, lines, token).status_code == 200
    assert _post(collector.url, lines, token).status_code == 200  # e.g. the first answer was lost
    assert _count(es_client, "again") == 300


def test_mapping_conflict_goes_to_the_dead_letter_index_with_the_reason(running, es_client) -> None:
    collector, token = running
    good = _lines("conflict", 2)
    bad = json.dumps({"_kind": "logs", "_id": "conflict-bad", "@timestamp": timestamp(),
                      "labels": {"marker": "conflict"}, "log": {"offset": "not-a-number"}})
    response = _post(collector.url, [*good, bad], token)
    assert response.status_code == 200  # durable: indexed or dead-lettered
    assert _count(es_client, "conflict") == 2
    hits = es_client.search(index=f"{PREFIX}-deadletter-*", query={"term": {"oam.id": "conflict-bad"}})["hits"]["hits"]
    assert len(hits) == 1
    dead = hits[0]["_source"]
    assert dead["error"]["type"] == "document_parsing_exception"
    assert "log.offset" in dead["error"]["reason"]
    assert json.loads(dead["event"]["original"])["log"]["offset"] == "not-a-number"
    metrics = requests.get(f"{collector.url}/metrics", timeout=10).text
    assert "oam_collector_dead_lettered_documents_total 1.0" in metrics


@pytest.mark.parametrize("case", ["no token", "wrong token", "revoked token", "oversized", "not gzip"])
def test_refused_requests_get_the_right_status_and_index_nothing(running, es_client, tmp_path, case) -> None:
    collector, token = running
    lines = _lines(f"refused-{case.replace(' ', '-')}", 5)
    if case == "no token":
        response, status = _post(collector.url, lines, None), 401
    elif case == "wrong token":
        response, status = _post(collector.url, lines, "oam_" + "0" * 48), 401
    elif case == "revoked token":
        store = TokenStore(tmp_path / "tokens.json")
        revoked = store.issue("gone")
        store.revoke("gone")
        response, status = _post(collector.url, lines, revoked), 401
    elif case == "oversized":
        import os

        big = [*lines, json.dumps({"_kind": "logs", "@timestamp": timestamp(), "pad": os.urandom(80_000).hex()})]
        response, status = _post(collector.url, big, token), 413
    else:
        response, status = _post(collector.url, lines, token, compress=False), 415
    assert response.status_code == status, response.text
    assert response.json()["error"]
    assert _count(es_client, f"refused-{case.replace(' ', '-')}") == 0


def test_unreachable_elasticsearch_spools_then_replays_in_order(tmp_path: Path, es_users, es_client) -> None:
    dead = es_users["collector"].model_copy(update={"hosts": [f"https://127.0.0.1:{free_port()}"]})
    config = _config(tmp_path, dead, spool_max_bytes=40_000)
    token = TokenStore(config.tokens_file).issue("agent-1")
    with serve_in_thread(config) as collector:
        assert _post(collector.url, _lines("spooled", 50, 0), token).status_code == 200
        assert _post(collector.url, _lines("spooled", 50, 50), token).status_code == 200
        full = _post(collector.url, _lines("spooled", 200, 100), token)
        assert full.status_code == 503 and int(full.headers["Retry-After"]) > 0
        assert "spool is full" in full.json()["error"]
        assert len(collector.collector.spool) == 2
        metrics = requests.get(f"{collector.url}/metrics", timeout=10).text
        assert "oam_collector_spooled_documents_total 100.0" in metrics
        assert "oam_collector_spool_full_rejections_total 1.0" in metrics
        assert f"oam_collector_spool_bytes {float(collector.collector.spool.bytes)}" in metrics
    # Elasticsearch is back (a collector on the same spool, now pointed at it): spooled batches go in, in order.
    config.elasticsearch.hosts = es_users["collector"].hosts
    collector = Collector(config)
    try:
        first = collector.spool.oldest()
        assert [action.id for action in first.actions()][:2] == ["spooled-0", "spooled-1"]
        assert collector.sink.replay_once() is False
        assert _count(es_client, "spooled") == 50
        assert collector.sink.replay_once() is False
        assert collector.spool.empty()
        assert _count(es_client, "spooled") == 100
    finally:
        collector.close()
        delete_indices(es_client, f"{PREFIX}-*")


def test_retention_deletes_only_expired_indices(tmp_path: Path, es_users, es_client) -> None:
    old_day = datetime.now(timezone.utc) - timedelta(days=20)
    old, fresh = f"{PREFIX}-logs-{old_day:%Y.%m.%d}", f"{PREFIX}-logs-{datetime.now(timezone.utc):%Y.%m.%d}"
    old_metrics = f"{PREFIX}-metrics-{old_day:%Y.%m.%d}"
    for name in (old, fresh, old_metrics):
        es_client.indices.create(index=name)
    try:
        with connect(es_users["retention"]) as retention:  # its own user: it lists and deletes indices, no more
            deleted = apply_retention(retention, {"logs": 14, "metrics": 30}, PREFIX)
        assert deleted == [old]
        assert es_client.indices.exists(index=fresh) and es_client.indices.exists(index=old_metrics)
    finally:
        delete_indices(es_client, f"{PREFIX}-*")


def test_collectors_side_by_side_share_tokens_and_never_double(tmp_path: Path, es_users, es_client) -> None:
    first = _config(tmp_path / "a", es_users["collector"], tokens_file=tmp_path / "tokens.json")
    second = _config(tmp_path / "b", es_users["collector"], tokens_file=tmp_path / "tokens.json")
    token = TokenStore(tmp_path / "tokens.json").issue("agent-1")
    lines = _lines("sidebyside", 400)
    try:
        with serve_in_thread(first) as one, serve_in_thread(second) as two:
            # An agent fails over mid-stream: half the batch to one, then all of it again to the other.
            assert _post(one.url, lines[:200], token).status_code == 200
            assert _post(two.url, lines, token).status_code == 200
            metrics = requests.get(f"{two.url}/metrics", timeout=10).text
            assert 'oam_collector_received_documents_total{source="agent"} 400.0' in metrics
            assert "oam_collector_indexed_documents_total 400.0" in metrics  # 200 created + 200 already there
        assert _count(es_client, "sidebyside") == 400
    finally:
        delete_indices(es_client, f"{PREFIX}-*")


def test_settings_kept_in_the_cmdb_apply_under_the_file(tmp_path: Path, es_users, es_client, zookeeper) -> None:
    import os
    import subprocess
    import sys

    from cmdb import Cmdb

    root = "/oam-collector-settings"
    with Cmdb(zookeeper.connection_string, user="admin", password="pw", root=root) as admin:
        admin.store.set("test/oam-collector/config", {"max_body_bytes": 600, "index_prefix": "oamcmdbset",
                                                       "elasticsearch": es_users["collector"].model_dump(
                                                           exclude_defaults=True)})
    port = free_port()
    tokens = tmp_path / "tokens.json"
    token = TokenStore(tokens).issue("cmdb-settings")
    config = tmp_path / "collector.toml"
    config.write_text(f'tokens_file = "{tokens}"\nspool_dir = "{tmp_path / "spool"}"\n')
    env = {**os.environ, "OAM_CMDB_USER": "admin", "OAM_CMDB_PASSWORD": "pw", "OAM_CMDB_ROOT": root}
    process = subprocess.Popen([sys.executable, "-m", "oam", "collector", "run", "--config", str(config),
                                "--port", str(port), "--zk", zookeeper.connection_string, "-e", "test"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, timeout=60)
        too_big = _post(url, _lines("cmdbset", 2000), token)
        assert too_big.status_code == 413 and "600 bytes" in too_big.json()["error"]  # the CMDB's limit
        small = _post(url, _lines("cmdbset", 3), token)
        assert small.status_code == 200
        es_client.indices.refresh(index="oamcmdbset-*")
        assert es_client.count(index="oamcmdbset-logs-*")["count"] == 3  # the CMDB's index prefix
    finally:
        process.terminate()
        process.wait(timeout=30)
        delete_indices(es_client, "oamcmdbset-*")
