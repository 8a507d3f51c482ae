"""Session fixtures: the real Elasticsearch and ZooKeeper, started once on free ports.

Every run keeps its services under ``$OAM_TEST_ROOT/<pytest pid>`` (default ``/tmp/oam-tests``).
A run that was killed leaves that directory behind; the next run stops whatever still lives
there (pid files name it) and deletes it, so stale data dirs, pid files and ports never break a
new run. Services also die with the pytest process that started them.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from backing_services.elasticsearch import ElasticsearchServer
from backing_services.ports import free_port
from backing_services.process import pid_alive, reap_stale
from backing_services.zookeeper import ZooKeeperEnsemble, ZooKeeperServer
from foundation.elasticsearch import ElasticsearchConnection, connect

from elasticsearch_access import piece_connections, secured_elasticsearch

TEST_ROOT = Path(os.environ.get("OAM_TEST_ROOT", "/tmp/oam-tests"))
# ZooKeeper's root is closed; tests build their trees below this open node (the fixtures' chroot).
TEST_NAMESPACE = "/oam-tests"



def reap_stale_runs(root: Path) -> list[Path]:
    """Stop the services of earlier runs whose pytest is gone, and delete their directories."""
    cleaned = []
    if not root.exists():
        return cleaned
    for run_dir in root.iterdir():
        if not run_dir.name.isdigit() or pid_alive(int(run_dir.name)):
            continue
        for pid_file in run_dir.rglob("*.pid"):
            reap_stale(pid_file)
        shutil.rmtree(run_dir, ignore_errors=True)
        cleaned.append(run_dir)
    return cleaned


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def run_dir() -> Iterator[Path]:
    """This run's own directory for service data; removed at the end."""
    reap_stale_runs(TEST_ROOT)
    TEST_ROOT.mkdir(parents=True, exist_ok=True)
    os.chmod(TEST_ROOT, 0o755)
    path = TEST_ROOT / str(os.getpid())
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def elasticsearch(run_dir: Path) -> Iterator[ElasticsearchServer]:
    """A real single-node Elasticsearch for the whole session, secured (see :func:`secured_elasticsearch`)."""
    server = secured_elasticsearch(run_dir / "elasticsearch", heap_mb=512)
    server.start(timeout=180)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def es_users(elasticsearch: ElasticsearchServer) -> dict[str, ElasticsearchConnection]:
    """The least-privilege connections of the pieces: ``collector``, ``dashboard``, ``retention``."""
    return piece_connections(elasticsearch)


@pytest.fixture(scope="session")
def es_client(elasticsearch: ElasticsearchServer):
    """A superuser client, for a test's own set-up and checks (never the piece under test's)."""
    client = connect(elasticsearch.connection(), request_timeout=30, max_retries=3)
    yield client
    client.close()


@pytest.fixture(scope="session")
def zookeeper(run_dir: Path) -> Iterator[ZooKeeperServer]:
    """A real standalone ZooKeeper for the whole session."""
    server = ZooKeeperServer(run_dir / "zookeeper", client_port=free_port(), namespace=TEST_NAMESPACE)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def zookeeper_ensemble(run_dir: Path) -> Iterator[ZooKeeperEnsemble]:
    """A real 3-node ZooKeeper ensemble on loopback. Tests that stop a node must start it again."""
    ensemble = ZooKeeperEnsemble(run_dir / "zookeeper-ensemble", size=3, namespace=TEST_NAMESPACE)
    ensemble.start()
    yield ensemble
    ensemble.stop()


@pytest.fixture(scope="session")
def ssh_hosts(run_dir: Path):
    """Three real sshd hosts on 127.0.0.2-4 (root login with a session key; ``known_hosts`` lists them).

    Each host's ``root`` directory stands for its file system. A test that stops a host must start it again.
    """
    from backing_services.sshd import SshHosts

    hosts = SshHosts(run_dir / "ssh-hosts", count=3)
    hosts.start()
    yield hosts
    hosts.stop()
