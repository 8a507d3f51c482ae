"""A real Prometheus scrapes the suite's daemons, as an operator's would.

The collector, the dashboard (its /metrics behind a bearer token, as docs/dashboard.md shows),
the host agent and the sample backend run as their own processes on the session's Elasticsearch,
ZooKeeper and Redis; Debian's Prometheus scrapes them every second. Every target must be up, each
job must have ``process_cpu_seconds_total``, and every /ready must say ready with each check named.
"""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import requests
from chaos_parts import child_env, oam_process
from prometheus_server import PROMETHEUS, PrometheusServer

from backing_services.ports import free_port
from collector.auth import TokenStore
from dashboard.testing import seeded
from foundation.settings import toml_text
from foundation.waiting import NotReady, wait_until

from requirements import require

require(PROMETHEUS.exists(), "Debian's prometheus (/usr/bin/prometheus; scripts/setup installs it)")

JOBS = {"collector", "dashboard", "agent", "sample"}
READY_CHECKS = {"collector": {"elasticsearch", "spool"}, "dashboard": {"elasticsearch", "cmdb"},
                "agent": {"collector", "buffer", "cmdb"}}


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def suite(run_dir: Path, es_client, es_users, zookeeper, redis_server):
    """The four daemons on free ports; yields their base URLs and the dashboard's metrics token file."""
    base = run_dir / "prometheus-scrape"
    ports = {name: free_port() for name in ("collector", "dashboard", "agent", "sample")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with seeded(es_client, zookeeper.connection_string, elasticsearch=es_users["dashboard"]) as seed:
        base.mkdir(parents=True, exist_ok=True)
        tokens = base / "tokens.json"
        agent_token = TokenStore(tokens).issue("prometheus-test-agent")
        metrics_token = base / "dashboard-metrics.token"
        metrics_token.write_text(secrets.token_hex(24))
        collector_toml = base / "collector.toml"
        collector_toml.write_text(toml_text({
            "host": "127.0.0.1", "port": ports["collector"], "workers": 1, "threads": 2, "tokens_file": tokens,
            "spool_dir": base / "spool", "index_prefix": seed.prefix,
            "elasticsearch": es_users["collector"].model_dump(exclude_defaults=True)}))
        agent_toml = base / "agent.toml"
        agent_toml.write_text(toml_text({
            "agent": {"id": "prometheus-test-host", "data_dir": base / "agent-data", "interval": 1,
                      "metrics_port": ports["agent"], "environment": "production"},
            "collector": {"urls": [urls["collector"]], "token": agent_token},
            "scrape": [{"url": f"{urls['sample']}/metrics"}],
            "cmdb": {"hosts": zookeeper.connection_string, "user": seed.config.cmdb_user,
                     "password": seed.config.cmdb_password, "root": seed.root}}))
        es = seed.config.elasticsearch
        dashboard = oam_process("dashboard", [
            "--data-dir", str(base / "dashboard-data"), "dashboard", "run", "--port", str(ports["dashboard"]),
            "--es", ",".join(es.hosts), "--index-prefix", seed.prefix, "--zk", seed.config.zookeeper,
            "--cmdb-root", seed.root, "--metrics-token-file", str(metrics_token)], base / "dashboard")
        dashboard.env = {**child_env(), "OAM_CMDB_USER": seed.config.cmdb_user,
                         "OAM_CMDB_PASSWORD": seed.config.cmdb_password, "OAM_ES_USER": es.username,
                         "OAM_ES_PASSWORD": es.password, "OAM_ES_CA_FILE": es.ca_file}
        processes = [
            oam_process("collector", ["collector", "run", "--config", str(collector_toml)], base / "collector"),
            dashboard,
            oam_process("sample", ["sample", "backend", "--port", str(ports["sample"]), "--redis-url",
                                   redis_server.url, "--data-dir", str(base / "sample-data"), "--telemetry-dir",
                                   str(base / "sample-telemetry")], base / "sample"),
            oam_process("agent", ["agent", "run", "--config", str(agent_toml)], base / "agent"),
        ]
        try:
            for process in processes:
                process.start()
            for process in processes:
                url = urls[process.name] + ("/metrics" if process.name == "agent" else "/health")
                process.wait_ready(lambda url=url: _answers(url), timeout=60, interval=0.2,
                                   what=f"{process.name} to answer {url}")
            yield urls, metrics_token
        finally:
            for process in reversed(processes):
                process.stop(timeout=15)


@pytest.fixture(scope="module")
def prometheus(run_dir: Path, suite):
    urls, metrics_token = suite
    jobs = [{"job_name": name, "static_configs": [{"targets": [url.removeprefix("http://")]}]}
            for name, url in urls.items()]
    for job in jobs:
        if job["job_name"] == "dashboard":
            job["authorization"] = {"type": "Bearer", "credentials_file": str(metrics_token)}
    server = PrometheusServer(run_dir / "prometheus", jobs)
    server.start()
    yield server
    server.stop()


def test_prometheus_scrapes_every_daemon_with_its_process_metrics(prometheus):
    targets = prometheus.wait_all_up(JOBS)
    assert {target["labels"]["job"]: target["health"] for target in targets} == dict.fromkeys(JOBS, "up")

    def cpu_series() -> dict[str, float] | None:
        result = prometheus.api("query", query="process_cpu_seconds_total")["result"]
        found = {series["metric"]["job"]: float(series["value"][1]) for series in result}
        return found if set(found) >= JOBS else None

    cpu = wait_until(cpu_series, timeout=20, interval=0.5, what="process_cpu_seconds_total from every job")
    assert set(cpu) == JOBS and all(seconds > 0 for seconds in cpu.values()), cpu
    python = prometheus.api("query", query="python_info")["result"]
    assert {series["metric"]["job"] for series in python} == JOBS
    up = prometheus.api("query", query="up")["result"]
    assert {series["metric"]["job"]: series["value"][1] for series in up} == dict.fromkeys(JOBS, "1")


def test_each_piece_says_ready_naming_its_checks(suite):
    urls, _ = suite
    for name, checks in READY_CHECKS.items():
        answer = wait_until(lambda name=name: _ready(urls[name]), timeout=20, interval=0.5,
                            what=f"{name} to be ready")
        assert answer["status"] == "ready" and set(answer["checks"]) == checks, (name, answer)
        assert all(check["ok"] and check["detail"] for check in answer["checks"].values()), (name, answer)


def test_the_agent_answers_nothing_but_its_endpoints_and_the_dashboard_metrics_need_the_token(suite):
    urls, _ = suite
    assert requests.get(urls["agent"] + "/", timeout=5).status_code == 404
    assert requests.get(urls["agent"] + "/anything", timeout=5).status_code == 404
    answer = requests.get(urls["dashboard"] + "/metrics", timeout=5)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")


def _ready(url: str) -> dict:
    answer = requests.get(url + "/ready", timeout=10)
    if answer.status_code != 200:
        raise NotReady(f"/ready answered {answer.status_code}: {answer.text}")
    return answer.json()
