"""Chaos under sustained load: every part crashes once, and nothing is lost or doubled.

A service writes numbered log lines through the app agent at a steady rate. A host agent (a
real process) ships them to two collectors (real processes, spreading and failing over), which
write to this module's own Elasticsearch; the agent registers in a CMDB on this module's own
3-node ZooKeeper ensemble. While the load runs:

1. the agent is killed with SIGKILL and started again ~12 s later;
2. Elasticsearch is stopped and started again (the collectors spool meanwhile);
3. one collector is killed with SIGKILL while its spool holds documents, and started again later;
4. the ZooKeeper leader is killed with SIGKILL and started again later.

Afterwards every line in the service's log file is in Elasticsearch exactly once (by content and
by source position), a CMDB probe that wrote and read a key every 150 ms never failed nor went
long without an answer, and the dashboard shows the agent's metric gap and the recovery of
Elasticsearch and the collector.
"""
from __future__ import annotations

import base64
import json
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from chaos_parts import (
    CmdbProbe,
    OverviewWatcher,
    collector_health,
    kill_hard,
    now_utc,
    oam_process,
    received_documents,
    writer_process,
)
from elasticsearch import Elasticsearch
from local_suite import wait_until

from backing_services.ports import free_port
from backing_services.zookeeper import ZooKeeperEnsemble
from cmdb import Cmdb
from collector.auth import TokenStore
from dashboard import create_app
from dashboard.app import close_app
from dashboard.config import DashboardConfig
from dashboard.users import UserStore
from foundation.elasticsearch import ElasticsearchConnection, connect
from foundation.settings import toml_text

from elasticsearch_access import piece_connections, secured_elasticsearch

ROOT = "/chaos"
AGENT_ID = "chaos-host"
ENVIRONMENT = "chaos"
RATE = 40.0                      # log lines per second (and as many transactions in the span file)
PASSWORDS = {"admin": "chaos-admin-secret", "writer": "chaos-writer-secret", "viewer": "chaos-viewer-secret"}
MAX_CMDB_GAP = 5.0


@pytest.fixture(scope="module")
def own_elasticsearch(run_dir: Path):
    """This module's Elasticsearch: the test restarts it, so the session's is not used."""
    server = secured_elasticsearch(run_dir / "chaos-elasticsearch", heap_mb=512)
    server.start(timeout=180)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def own_ensemble(run_dir: Path):
    """This module's 3-node ZooKeeper ensemble: the test kills its leader."""
    ensemble = ZooKeeperEnsemble(run_dir / "chaos-zookeeper", size=3, namespace="/oam-tests")
    ensemble.start()
    yield ensemble
    ensemble.stop()


def _collector_config(base: Path, port: int, es: ElasticsearchConnection, tokens: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    path = base / "collector.toml"
    # One worker process: the test reads its /metrics and its spool directory as the whole collector's.
    path.write_text(toml_text({"host": "127.0.0.1", "port": port, "threads": 4, "workers": 1, "tokens_file": tokens,
                               "spool_dir": base / "spool", "retry_backoff_seconds": 0.1,
                               "elasticsearch": {**es.model_dump(exclude_defaults=True), "request_timeout": 10.0}}))
    return path


def _agent_config(base: Path, urls: list[str], token: str, logs: Path, zk: str) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    path = base / "agent.toml"
    path.write_text(f'[agent]\nid = "{AGENT_ID}"\ndata_dir = "{base / "data"}"\ninterval = 1\nmetrics_port = 0\n'
                    f'flush_seconds = 0.5\nenvironment = "{ENVIRONMENT}"\nrole = "chaos"\n'
                    f'[collector]\nurls = {json.dumps(urls)}\ntoken = "{token}"\n'
                    f'[logs]\npaths = ["{logs}/*.jsonl"]\n'
                    f'[cmdb]\nhosts = "{zk}"\nuser = "chaos-writer"\npassword = "{PASSWORDS["writer"]}"\n'
                    f'root = "{ROOT}"\n')
    return path


def _basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()}


def _field(source: dict, dotted: str):
    """A field of a stored document, whether the sender wrote it nested or dotted."""
    if dotted in source:
        return source[dotted]
    node = source
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _indexed(es: Elasticsearch, kind: str, fields: list[str]) -> list[dict]:
    """The writer's documents of one kind in Elasticsearch (``fields`` of each)."""
    es.indices.refresh(index=f"oam-{kind}-*")
    hits = es.search(index=f"oam-{kind}-*", query={"term": {"service.name": "chaos-writer"}}, size=10_000,
                     source=fields)["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def _count(es: Elasticsearch, kind: str) -> int:
    try:
        es.indices.refresh(index=f"oam-{kind}-*", ignore_unavailable=True, allow_no_indices=True)
        return es.count(index=f"oam-{kind}-*", query={"term": {"service.name": "chaos-writer"}},
                        ignore_unavailable=True, allow_no_indices=True)["count"]
    except Exception:  # noqa: BLE001 - Elasticsearch is restarting
        return -1


def _leader(ensemble: ZooKeeperEnsemble):
    modes = ensemble.modes()
    return ensemble.nodes[modes.index("leader")] if "leader" in modes else None


def _file_lines(path: Path) -> list[tuple[int, dict]]:
    """(offset, document) of every line the service wrote."""
    out, offset = [], 0
    with open(path, "rb") as handle:
        for raw in handle:
            out.append((offset, json.loads(raw)))
            offset += len(raw)
    return out


def test_nothing_lost_or_doubled_the_cmdb_answers_and_the_dashboard_shows_the_gap(
        tmp_path, own_elasticsearch, own_ensemble):
    es_server, ensemble = own_elasticsearch, own_ensemble
    es = connect(es_server.connection(), request_timeout=30, max_retries=3)
    pieces = piece_connections(es_server)
    zk = ensemble.connection_string
    admin = Cmdb(zk, user="chaos-admin", password=PASSWORDS["admin"], root=ROOT)
    admin.grant("chaos-writer", PASSWORDS["writer"], "writer")
    UserStore(admin).save("viewer", PASSWORDS["viewer"], "viewer")

    tokens = tmp_path / "tokens.json"
    token = TokenStore(tokens).issue("chaos-agent")
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    collectors = [oam_process(f"collector-{n}", ["collector", "run", "--config",
                                                 str(_collector_config(tmp_path / f"collector-{n}", port,
                                                                       pieces["collector"], tokens))],
                              tmp_path / f"collector-{n}") for n, port in enumerate(ports)]
    telemetry = tmp_path / "telemetry"
    telemetry.mkdir()
    agent = oam_process("agent", ["agent", "run", "--config",
                                  str(_agent_config(tmp_path / "agent", urls, token, telemetry, zk))],
                        tmp_path / "agent")
    writer = writer_process(telemetry, tmp_path / "writer", RATE)
    app = create_app(DashboardConfig(elasticsearch=pieces["dashboard"], zookeeper=zk, cmdb_user="chaos-admin",
                                     cmdb_password=PASSWORDS["admin"], cmdb_root=ROOT, collectors=urls,
                                     tokens_file=tokens, environment=ENVIRONMENT))
    viewer = _basic("viewer")
    probe = CmdbProbe(zk, "chaos-writer", PASSWORDS["writer"], ROOT, f"{ENVIRONMENT}/probe/heartbeat")
    watcher = OverviewWatcher(app.test_client(), viewer)
    timeline: dict[str, float] = {}
    moments = {}

    def mark(event: str) -> None:
        timeline[event] = time.monotonic()
        moments[event] = now_utc()

    try:
        for collector in collectors:
            collector.start()
        for collector, url in zip(collectors, urls):
            wait_until(lambda url=url: collector_health(url), 60, f"{collector.name} to answer /health")
        agent.start()
        mark("agent started")
        writer.start()
        probe.start()
        watcher.start()
        wait_until(lambda: _count(es, "logs") > 50, 60, "the first lines in Elasticsearch")
        mark("load flowing")
        time.sleep(12)

        # 1. The agent dies while shipping and comes back.
        kill_hard(agent)
        mark("agent killed")
        time.sleep(12)
        agent.start()
        mark("agent restarted")
        wait_until(lambda: AGENT_ID in admin.inventory.live(), 30, "the agent to be live in the CMDB again")
        time.sleep(4)

        # 2. Elasticsearch goes away; both collectors spool.
        es_server.stop()
        mark("elasticsearch stopped")
        spool = tmp_path / "collector-0" / "spool"
        wait_until(lambda: list(spool.glob("*.ndjson")), 20, "collector-0 to spool documents")

        # 3. That collector dies holding a spool; the agent fails over to the other one.
        kill_hard(collectors[0])
        mark("collector-0 killed")
        taken_by_other = received_documents(urls[1])
        spooled_when_killed = len(list(spool.glob("*.ndjson")))

        # 4. The ZooKeeper leader dies.
        leader = wait_until(lambda: _leader(ensemble), 10, "the ensemble to name its leader")
        kill_hard(leader.process)
        mark("zookeeper leader killed")
        time.sleep(8)

        taken_by_other = received_documents(urls[1]) - taken_by_other
        collectors[0].start()
        mark("collector-0 restarted")
        es_server.start(timeout=180)
        mark("elasticsearch back")
        leader.start()
        wait_until(lambda: sorted(ensemble.modes()) == ["follower", "follower", "leader"], 60,
                   "the ensemble to be whole again")
        mark("zookeeper node back")
        wait_until(lambda: collector_health(urls[0]), 30, "collector-0 to answer again")
        time.sleep(10)  # the load goes on over the recovered suite

        writer.stop(timeout=30)
        mark("load stopped")
        written = _file_lines(telemetry / "chaos-writer.log.jsonl")
        assert f"wrote {len(written)}" in writer.log_tail(5)  # the file holds every line it logged
        transactions = _file_lines(telemetry / "chaos-writer.spans.jsonl")
        wait_until(lambda: _count(es, "logs") >= len(written), 120, f"all {len(written)} lines in Elasticsearch")
        wait_until(lambda: _count(es, "transactions") >= len(transactions), 60,
                   f"all {len(transactions)} transactions in Elasticsearch")
        for url in urls:
            wait_until(lambda url=url: (collector_health(url) or {}).get("spool", {}).get("bytes") == 0, 60,
                       f"the spool of {url} to drain")
        time.sleep(3)  # a late duplicate would show now
        mark("drained")
        # What the dashboard shows now, with every part back.
        client = app.test_client()
        until = now_utc()  # three minutes or more, so that buckets hold three of the agent's 1 s samples
        since = min(moments["agent started"], until - timedelta(minutes=3))
        metrics_answer = client.get(f"/api/hosts/{AGENT_ID}/metrics", headers=viewer,
                                    query_string={"from": since.isoformat(), "to": until.isoformat()})
        overview = client.get("/api/overview", headers=viewer).json
    finally:
        watcher.finish()
        probe.finish()
        writer.stop(timeout=10)
        agent.stop(timeout=15)
        for collector in collectors:
            collector.stop(timeout=15)
        close_app(app)
        admin.close()

    try:
        start = timeline["agent started"]
        print("\ntimeline (s after the agent started):")
        for event, at in timeline.items():
            print(f"  {at - start:7.1f}  {event}")
        print(f"  lines written: {len(written)} log, {len(transactions)} span file; "
              f"collector-0 held {spooled_when_killed} spool segment(s) when killed")
        print(f"  collector-1 took {taken_by_other:.0f} documents while collector-0 was dead")
        gap, gap_at = probe.longest_gap()
        print(f"  CMDB probe: {len(probe.answers)} answers, {len(probe.failures)} failures, "
              f"longest gap {gap:.2f}s at {gap_at - start:.1f}s")

        # Every line the service wrote is in Elasticsearch exactly once.
        indexed = _indexed(es, "logs", ["message", "log.offset", "log.file.path", "@timestamp", "trace.id"])
        expected = Counter(document["message"] for _, document in written)
        assert len(expected) == len(written), "the writer's lines are all different"
        found = Counter(source["message"] for source in indexed)
        assert found == expected, (f"missing {sorted(set(expected) - set(found))[:10]}, "
                                   f"doubled {[m for m, n in found.items() if n > 1][:10]}")
        assert len(indexed) == len(written)
        positions = {(_field(s, "log.file.path"), _field(s, "log.offset")): s["message"] for s in indexed}
        path = str(telemetry / "chaos-writer.log.jsonl")
        assert positions == {(path, offset): document["message"] for offset, document in written}
        by_message = {s["message"]: s for s in indexed}
        assert all(by_message[d["message"]]["@timestamp"] == d["@timestamp"] and
                   _field(by_message[d["message"]], "trace.id") == d["trace"]["id"] for _, d in written)
        # ... and so is every transaction in the span file beside it.
        found = Counter(_field(source, "transaction.id") for source in
                        _indexed(es, "transactions", ["transaction.id"]))
        assert found == Counter(document["transaction"]["id"] for _, document in transactions)

        assert taken_by_other > RATE * 4  # the agent failed over to the collector left standing

        # The CMDB answered throughout.
        assert probe.failures == []
        assert gap < MAX_CMDB_GAP
        assert len(probe.answers) > 100

        # The dashboard shows the agent's gap and the recovery.
        assert metrics_answer.status_code == 200, metrics_answer.get_data(as_text=True)
        memory = metrics_answer.json["series"]["memory"]
        step = (memory[1][0] - memory[0][0]) / 1000
        print(f"  dashboard memory series: {len(memory)} buckets of {step:.0f}s: "
              + "".join("." if value is None else "#" for _, value in memory))

        first_sample = next(at / 1000 for at, value in memory if value is not None)

        def buckets(since: str | float, until: str, slack_after: float = 0.0, slack_before: float = 0.0):
            low = (moments[since].timestamp() if isinstance(since, str) else since) + slack_after
            high = moments[until].timestamp() - slack_before
            return [value for at, value in memory if at / 1000 >= low and at / 1000 + step <= high]

        dead = buckets("agent killed", "agent restarted", slack_after=0.5)
        assert len(dead) >= 2 and all(value is None for value in dead), dead
        before = buckets(first_sample, "agent killed", slack_before=1.5)  # no false gap, not even at the start
        after = buckets("agent restarted", "load stopped", slack_after=5.0)
        assert before and all(value is not None for value in before), before
        assert len(after) >= 5 and all(value is not None for value in after), after

        assert all(part["ok"] for part in overview["health"].values()), overview["health"]
        assert overview["hosts_live"] == 1 and overview["hosts_down"] == []
        es_states = watcher.states("elasticsearch", timeline["elasticsearch stopped"] + 1, timeline["drained"])
        collector_states = watcher.states(f"collector {urls[0]}", timeline["collector-0 killed"] + 1,
                                          timeline["drained"])
        assert False in es_states and es_states[-1], es_states
        assert False in collector_states and collector_states[-1], collector_states
        assert watcher.errors == []
    finally:
        es.close()
