"""Fixtures for integration tests beyond the session-wide Elasticsearch and ZooKeeper."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backing_services.ports import free_port
from backing_services.redis import RedisServer


@pytest.fixture(scope="session")
def redis_server(run_dir: Path) -> Iterator[RedisServer]:
    """A real redis-server for the whole session."""
    server = RedisServer(run_dir / "redis", port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer):
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def smtp_server(run_dir: Path):
    """A real SMTP server (aiosmtpd, its own process) storing every message in a Maildir."""
    from backing_services.smtp import SmtpServer

    server = SmtpServer(run_dir / "smtp", port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def alertmanagers(run_dir: Path, smtp_server):
    """Two clustered Alertmanagers mailing every alert (and its resolution) to ``smtp_server``.

    A short group_wait keeps tests quick. group_interval is twice the 5 s peer timeout, as the
    cluster requires: the second peer's flushes (each waiting out the peer timeout) then begin
    with the first peer's, so both read an alert in the same state. repeat_interval is long, so
    a mail more than the alert's first and its resolution is a duplicate.
    """
    from alerts.amconfig import alertmanager_config
    from backing_services.alertmanager import AlertmanagerCluster

    config = alertmanager_config(smtp_server.address, to="ops@example.com", group_wait="1s", group_interval="10s",
                                 repeat_interval="4h")
    cluster = AlertmanagerCluster(run_dir / "alertmanager", config, size=2, peer_timeout="5s")
    cluster.start()
    yield cluster
    cluster.stop()
