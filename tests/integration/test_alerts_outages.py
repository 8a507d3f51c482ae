"""Alerts through outages, end to end: a real ``oam alerts run``, real Elasticsearch, two clustered
Alertmanagers and a real SMTP server.

* A host agent stopped: the host known to the CMDB sends no metrics, ``host-down`` fires; the
  agent started again: it resolves. One mail each.
* Elasticsearch stopped while an alert fires: the evaluator's queries fail, the alert stays firing
  (it is re-sent, so Alertmanager does not resolve it by itself) and no resolved mail goes out;
  Elasticsearch back and the errors gone: exactly one resolved mail.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from alert_parts import PASSWORD, USER, Traffic, mails_for, start_evaluator, stop_evaluators, wait_for_mail
from elasticsearch import ApiError

from agents.host.config import AgentConfig
from agents.host.daemon import HostAgent
from backing_services.ports import free_port
from cmdb import Cmdb, HostFacts
from collector.auth import TokenStore
from collector.config import CollectorElasticsearch, load_config
from collector.testing import serve_in_thread
from foundation.elasticsearch import connect, delete_indices
from foundation.waiting import wait_until
from telemetry.templates import install_templates

from elasticsearch_access import piece_connections, secured_elasticsearch

PREFIX = f"oamalertsout{os.getpid()}"  # inside the pieces' roles (oam*)
ENV = "outage"


@pytest.fixture
def root() -> str:
    return f"/oam-test-alert-outages-{uuid.uuid4().hex[:10]}/cmdb"


def _set_rule(zookeeper, root: str, name: str, rule: dict) -> None:
    with Cmdb(zookeeper.connection_string, user=USER, password=PASSWORD, root=root, actor="test") as handle:
        handle.store.set(f"{ENV}/alerts/{name}", rule, comment="test rule")


def _no_more_mail(smtp_server, name: str, count: int, seconds: float) -> None:
    """``seconds`` pass with still exactly ``count`` mails for ``name``."""
    time.sleep(seconds)
    assert len(mails_for(smtp_server, name)) == count, mails_for(smtp_server, name)


def test_a_stopped_agent_fires_host_down_and_its_return_resolves_it(
        zookeeper, es_client, es_users, alertmanagers, smtp_server, root, tmp_path: Path):
    host = socket.gethostname()  # the host name the agent's metric documents carry
    name = f"host-down-{uuid.uuid4().hex[:6]}"
    install_templates(es_client, prefix=PREFIX)
    config = load_config(None, port=free_port(), tokens_file=tmp_path / "tokens.json", spool_dir=tmp_path / "spool",
                         index_prefix=PREFIX)
    config.elasticsearch = CollectorElasticsearch(**es_users["collector"].model_dump())
    token = TokenStore(config.tokens_file).issue("alerts-agent")
    with Cmdb(zookeeper.connection_string, user=USER, password=PASSWORD, root=root, actor="test") as handle:
        handle.inventory.remember(HostFacts(host, role="web", environment=ENV, services=["order-service"]))
    _set_rule(zookeeper, root, name, {
        "kind": "absent", "intervals": 3, "metric_interval": "1s", "interval": "1s", "for": "2s",
        "severity": "critical", "annotations": {"summary": "{host} sent no metrics"}})
    agent_settings = AgentConfig(agent_id="alerts-agent", data_dir=tmp_path / "agent", interval=1.0, metrics_port=0,
                                 collector_urls=[f"http://127.0.0.1:{config.port}"], token=token, log_paths=[],
                                 flush_seconds=0.2, environment=ENV)

    def run_agent() -> tuple[HostAgent, threading.Thread]:
        agent = HostAgent(agent_settings)
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        return agent, thread

    evaluator = None
    try:
        with serve_in_thread(config):
            agent, thread = run_agent()
            wait_until(lambda: es_client.count(index=f"{PREFIX}-metrics-*", ignore_unavailable=True,
                                               query={"term": {"host.name": host}})["count"] > 0,
                       timeout=60, interval=0.5, what="the agent's first metrics", retry_on=(ApiError,))
            evaluator = start_evaluator("eval-outage", zookeeper, root, es_users, alertmanagers, tmp_path,
                                        prefix=PREFIX, environment=ENV)
            _no_more_mail(smtp_server, name, 0, 8)  # the agent sends: the host is not down

            agent.stop.set()
            thread.join(timeout=15)
            firing = wait_for_mail(smtp_server, name, 1, timeout=45, why="the host-down mail")
            assert firing == [f"[FIRING] {name} ({ENV} {host}): {host} sent no metrics"], firing

            agent, thread = run_agent()
            wait_for_mail(smtp_server, name, 2, timeout=45, why="the resolved mail once the agent is back")
            _no_more_mail(smtp_server, name, 2, 10)
            agent.stop.set()
            thread.join(timeout=15)
        assert [m.split("]")[0] + "]" for m in mails_for(smtp_server, name)] == ["[FIRING]", "[RESOLVED]"]
    finally:
        stop_evaluators([evaluator] if evaluator else [])
        delete_indices(es_client, f"{PREFIX}-*")


@pytest.fixture
def own_elasticsearch(run_dir: Path):
    """A secured node of this test's own, so it can be stopped without stopping the others' tests."""
    server = secured_elasticsearch(run_dir / f"es-alert-outage-{uuid.uuid4().hex[:6]}", heap_mb=320)
    server.start(timeout=180)
    yield server
    server.stop()


def test_elasticsearch_away_sends_no_false_resolve(zookeeper, own_elasticsearch, alertmanagers, smtp_server, root,
                                                   tmp_path: Path):
    admin = connect(own_elasticsearch.connection(), request_timeout=5, max_retries=0)
    install_templates(admin, prefix=PREFIX)
    name = f"order-errors-{uuid.uuid4().hex[:6]}"
    _set_rule(zookeeper, root, name, {
        "kind": "service", "service": "order-service", "measure": "error_rate", "op": ">", "threshold": 20,
        "window": "3s", "interval": "1s", "for": "2s", "severity": "critical", "no_data": "keep_state",
        "annotations": {"summary": "order-service failed {value:.0f}%"}})
    users = piece_connections(own_elasticsearch)
    evaluator = start_evaluator("eval-es-away", zookeeper, root, users, alertmanagers, tmp_path, prefix=PREFIX,
                                environment=ENV)
    try:
        with Traffic(admin, PREFIX, ENV) as traffic:
            traffic.failing = 0.7
            wait_for_mail(smtp_server, name, 1, timeout=60, why="the firing mail")

            own_elasticsearch.stop()
            _no_more_mail(smtp_server, name, 1, 25)  # > 3 re-send periods (8 s): Alertmanager must not resolve it
            log = (tmp_path / "eval-es-away.log").read_text(errors="replace")
            assert f"{ENV}/alerts/{name} is in error" in log  # the evaluator saw its queries fail

            own_elasticsearch.start(timeout=180)
            _no_more_mail(smtp_server, name, 1, 5)  # back, and still failing: still the one firing alert
            traffic.failing = 0.0
            wait_for_mail(smtp_server, name, 2, timeout=60, why="the resolved mail once the errors stop")
            _no_more_mail(smtp_server, name, 2, 10)
        assert [m.split("]")[0] + "]" for m in mails_for(smtp_server, name)] == ["[FIRING]", "[RESOLVED]"]
        history = connect(own_elasticsearch.connection(), request_timeout=10)
        history.indices.refresh(index=f"{PREFIX}-alerts-*")
        hits = history.search(index=f"{PREFIX}-alerts-*", size=50, sort=[{"@timestamp": "asc"}],
                              query={"term": {"rule.name": name}})["hits"]["hits"]
        states = [hit["_source"]["event"]["action"] for hit in hits]
        assert "error" in states and states.count("resolved") == 1, json.dumps(states)
        history.close()
    finally:
        stop_evaluators([evaluator])
        admin.close()
