"""Liveness, readiness and the runtime metrics of the collector, the dashboard and the host agent,
without backing services: Elasticsearch and ZooKeeper are addresses where nothing listens."""
from __future__ import annotations

import time

import pytest
import requests
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from agents.host.config import AgentConfig
from agents.host.daemon import HostAgent
from agents.host.status_server import StatusServer
from collector.app import create_app as collector_app
from collector.config import load_config
from collector.decode import Action
from collector.service import Collector
from dashboard import DashboardConfig
from dashboard import create_app as dashboard_app
from foundation.health import Check, limit_check, readiness, register_runtime_collectors
from oam.programs import ProgramComponent

NOWHERE_ES, NOWHERE_ZK = "http://127.0.0.1:9", "127.0.0.1:9"
RUNTIME_SERIES = ("process_cpu_seconds_total", "process_resident_memory_bytes", "python_info",
                  "python_gc_objects_collected_total")


def test_readiness_names_every_check_and_is_503_while_one_fails():
    def broken() -> Check:
        raise ConnectionError("refused\nsecond line")

    report = readiness({"a": lambda: Check(True, "fine"), "b": broken, "c": lambda: Check(False, "full")})
    assert report.status_code == 503 and not report.ready and report.failing() == ["b", "c"]
    body = report.as_dict()
    assert body["status"] == "not ready"
    assert body["checks"] == {"a": {"ok": True, "detail": "fine"},
                              "b": {"ok": False, "detail": "ConnectionError: refused"},
                              "c": {"ok": False, "detail": "full"}}
    assert readiness({"a": lambda: Check(True)}).as_dict()["status"] == "ready"
    assert readiness({"a": lambda: Check(True)}).status_code == 200


def test_a_limit_check_fails_from_ninety_percent_of_the_limit():
    assert limit_check(899, 1000, "spool").ok
    refused = limit_check(900, 1000, "spool")
    assert not refused.ok and "900 of 1000 bytes" in refused.detail


def test_runtime_collectors_go_on_own_registries_only():
    text = generate_latest(register_runtime_collectors(CollectorRegistry())).decode()
    assert all(f"\n{name}" in text for name in RUNTIME_SERIES), text
    assert register_runtime_collectors(REGISTRY) is REGISTRY  # it has them already: not added twice


# -- collector ---------------------------------------------------------------------------------
@pytest.fixture
def collector(tmp_path):
    config = load_config(None, tokens_file=tmp_path / "tokens.json", spool_dir=tmp_path / "spool",
                         spool_max_bytes=2000, elasticsearch={"hosts": [NOWHERE_ES]})
    running = Collector(config)
    yield running
    running.close()


def test_the_collector_is_alive_but_not_ready_without_elasticsearch(collector):
    client = collector_app(collector).test_client()
    health = client.get("/health")
    assert health.status_code == 200 and health.json["status"] == "alive" and health.json["status"] != "ok"
    assert health.json["spool"] == {"bytes": 0, "segments": 0}
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json["status"] == "not ready"
    assert not ready.json["checks"]["elasticsearch"]["ok"] and ready.json["checks"]["elasticsearch"]["detail"]
    assert ready.json["checks"]["spool"] == {"ok": True, "detail": "spool: 0 of 2000 bytes"}


def test_a_nearly_full_spool_makes_the_collector_not_ready(collector):
    collector.spool.append([Action("oam-logs", f"id-{n}", {"message": "x" * 100}) for n in range(12)])
    checks = collector_app(collector).test_client().get("/ready").json["checks"]
    assert not checks["spool"]["ok"] and "of 2000 bytes" in checks["spool"]["detail"]


def test_the_collector_metrics_carry_process_and_platform_series(collector):
    text = collector_app(collector).test_client().get("/metrics").get_data(as_text=True)
    assert all(f"\n{name}" in text for name in RUNTIME_SERIES)
    assert "oam_collector_spool_bytes" in text


# -- dashboard ---------------------------------------------------------------------------------
def dashboard(**settings):
    return dashboard_app(DashboardConfig(elasticsearch=NOWHERE_ES, zookeeper=NOWHERE_ZK, **settings)).test_client()


def test_the_dashboard_answers_health_and_ready_without_a_login():
    client = dashboard()
    assert client.get("/health").json["status"] == "alive"
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert {name: check["ok"] for name, check in ready.json["checks"].items()} == {"elasticsearch": False,
                                                                                  "cmdb": False}
    assert "ZooKeeper unreachable" in ready.json["checks"]["cmdb"]["detail"]


def test_the_dashboard_metrics_are_open_unless_a_token_file_is_set(tmp_path):
    text = dashboard().get("/metrics").get_data(as_text=True)
    assert all(f"\n{name}" in text for name in RUNTIME_SERIES)
    token_file = tmp_path / "metrics.token"
    token_file.write_text("a-metrics-token-of-some-length\n")
    client = dashboard(metrics_token_file=token_file)
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    taken = client.get("/metrics", headers={"Authorization": "Bearer a-metrics-token-of-some-length"})
    assert taken.status_code == 200 and "process_cpu_seconds_total" in taken.get_data(as_text=True)


def test_a_short_metrics_token_is_refused_with_its_file_named(tmp_path):
    from foundation.settings import SettingsError

    token_file = tmp_path / "metrics.token"
    token_file.write_text("short")
    with pytest.raises(SettingsError, match="metrics.token is too short"):
        DashboardConfig(metrics_token_file=token_file).metrics_token()


# -- host agent --------------------------------------------------------------------------------
@pytest.fixture
def agent(tmp_path):
    return HostAgent(AgentConfig(agent_id="unit", data_dir=tmp_path / "agent", collector_urls=["http://127.0.0.1:9"],
                                 token="t", buffer_max_bytes=1000, cmdb_hosts=NOWHERE_ZK))


def test_the_agent_is_ready_only_while_collectors_take_batches_and_the_buffer_has_room(agent):
    agent.cmdb_error = "ZooKeeper unreachable"
    report = agent.readiness()
    assert report.failing() == ["cmdb"] and "ZooKeeper unreachable" in report.checks["cmdb"].detail
    agent._failed(time.monotonic(), "collector at http://127.0.0.1:9 unreachable")
    agent.buffer.put(["x" * 950])
    report = agent.readiness()
    assert report.failing() == ["collector", "buffer", "cmdb"]
    assert "unreachable" in report.checks["collector"].detail and "951 of 1000 bytes" in report.checks["buffer"].detail


def test_the_agent_endpoint_answers_metrics_health_and_ready_and_404_elsewhere(agent, tmp_path):
    server = StatusServer("127.0.0.1", 0, agent.metrics.registry, agent.readiness)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        metrics = requests.get(f"{base}/metrics", timeout=5)
        assert metrics.status_code == 200 and "process_cpu_seconds_total" in metrics.text
        assert "oam_agent_lines_read_total" in metrics.text
        assert requests.get(f"{base}/health", timeout=5).json()["status"] == "alive"
        ready = requests.get(f"{base}/ready", timeout=5)
        assert ready.status_code == 503 and ready.json()["checks"]["cmdb"]["ok"] is False
        for path in ("/", "/metricsx", "/anything/metrics"):
            missing = requests.get(base + path, timeout=5)
            assert missing.status_code == 404 and "no such endpoint" in missing.json()["error"], path

        piece = ProgramComponent("agent", ["agent", "run"], tmp_path, "127.0.0.1", server.port, ready_path="/ready")
        status = piece.probe()  # what `oam status` shows
        assert not status.healthy and status.detail.startswith("not ready (HTTP 503): ")
        assert "cmdb: not registered in the CMDB" in status.detail and "collector" not in status.detail
    finally:
        server.stop()
