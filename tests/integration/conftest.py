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
