"""The service manager against the real programs: health, security, failures, an ensemble."""
from __future__ import annotations

import os
import socket

import pytest
from kazoo.client import KazooClient

from backing_services.distribution import ES_VERSION
from backing_services.elasticsearch import ElasticsearchServer
from backing_services.ports import free_port
from backing_services.process import ServiceError, pid_alive
from backing_services.zookeeper import four_letter_word
from foundation.elasticsearch import connect
from foundation.waiting import wait_until


def test_elasticsearch_answers_with_the_pinned_version(elasticsearch):
    nodes = elasticsearch.request("GET", "/_nodes/_local")["nodes"]
    assert [node["version"] for node in nodes.values()] == [ES_VERSION]
    assert elasticsearch.request("GET", "/_cluster/health")["status"] == "green"


def test_elasticsearch_runs_as_the_unprivileged_user(elasticsearch):
    import os
    import pwd

    pid = elasticsearch.process.pid
    owner = pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name
    assert owner == (elasticsearch.user or pwd.getpwuid(os.geteuid()).pw_name)
    assert owner != "root"


def test_the_session_node_is_secured_and_keeps_its_certificates_private(elasticsearch):
    from elasticsearch import AuthenticationException

    with connect(elasticsearch.connection()) as good:
        assert good.cluster.health()["status"] in ("green", "yellow")
    with connect(elasticsearch.connection(password="wrong")) as wrong, pytest.raises(AuthenticationException):
        wrong.cluster.health()
    ca, node = elasticsearch.ca, elasticsearch.config_dir / "certs"
    for path in (ca.cert_path, ca.key_path, node / "node.crt", node / "node.key"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert ca.key_path.stat().st_uid == os.geteuid()  # the CA's key is never the service user's
    assert not ca.directory.is_relative_to(elasticsearch.base_dir)


def test_a_second_start_reuses_the_ca_and_the_node_certificate(run_dir, elasticsearch):
    before = {path: path.read_bytes() for path in (elasticsearch.ca.cert_path, elasticsearch.config_dir / "certs" /
                                                   "node.crt")}
    elasticsearch.prepare()  # what every start does first
    assert {path: path.read_bytes() for path in before} == before


def test_security_off_is_open_plain_http_and_still_refuses_wildcard_deletes(run_dir):
    import requests

    server = ElasticsearchServer(run_dir / "es-open", http_port=free_port(), heap_mb=256, security=False)
    server.start(timeout=180)
    try:
        assert server.url.startswith("http://") and server.connection().username == ""
        assert requests.get(server.url + "/_cluster/health", timeout=10).status_code == 200
        assert requests.put(server.url + "/oam-open", timeout=10).status_code == 200
        assert requests.delete(server.url + "/oam-*", timeout=10).status_code == 400
    finally:
        server.stop()
    assert not pid_alive(server.process.pid)


def test_a_failed_start_says_why_with_the_server_log(run_dir):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        server = ElasticsearchServer(run_dir / "es-broken", http_port=free_port(), heap_mb=256,
                                     transport_port=blocker.getsockname()[1])
        with pytest.raises(ServiceError) as failure:
            server.start(timeout=120)
    finally:
        blocker.close()
    message = str(failure.value)
    assert message.startswith("Elasticsearch exited with code")
    assert "BindTransportException" in message or "Address already in use" in message
    assert not server.running()


def test_a_taken_port_is_refused_before_starting(run_dir, elasticsearch):
    server = ElasticsearchServer(run_dir / "es-clash", http_port=elasticsearch.http_port)
    with pytest.raises(ServiceError, match=f"port {elasticsearch.http_port} .* already in use"):
        server.start()


def test_zookeeper_answers_ruok(zookeeper):
    assert four_letter_word(zookeeper.client_port, "ruok") == "imok"


def test_an_ensemble_elects_a_new_leader_when_the_leader_stops(zookeeper_ensemble):
    modes = zookeeper_ensemble.modes()
    assert sorted(modes) == ["follower", "follower", "leader"]
    client = KazooClient(hosts=zookeeper_ensemble.connection_string, timeout=10)
    client.start(timeout=15)
    try:
        client.create("/foundation-check", b"before", makepath=True)
        leader = zookeeper_ensemble.nodes[modes.index("leader")]
        leader.stop()
        wait_until(lambda: "leader" in zookeeper_ensemble.modes(), timeout=30, interval=0.2,
                   what="the ensemble to elect a new leader")
        client.set("/foundation-check", b"after")  # the remaining quorum takes writes
        assert client.get("/foundation-check")[0] == b"after"
    finally:
        leader.start()  # leave the session fixture whole for other tests
        client.delete("/foundation-check")
        client.stop()
        client.close()
    assert sorted(zookeeper_ensemble.modes()) == ["follower", "follower", "leader"]
