"""The host agent through the real collector into the real Elasticsearch."""
from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from elasticsearch import ApiError
from prometheus_client import CollectorRegistry, Counter, start_http_server

from agents.host.config import AgentConfig
from agents.host.daemon import HostAgent
from backing_services.ports import free_port
from backing_services.process import read_pid
from collector.auth import TokenStore
from collector.config import CollectorElasticsearch, load_config
from collector.testing import serve_in_thread
from foundation.elasticsearch import delete_indices
from foundation.waiting import NotReady, wait_until
from telemetry.ecs import timestamp

from requirements import require

PREFIX = "oamagent"


@pytest.fixture
def collector_setup(tmp_path: Path, es_users, es_client):
    """A collector config (not started) and a token for the agent."""
    config = load_config(None, port=free_port(), tokens_file=tmp_path / "tokens.json", spool_dir=tmp_path / "spool",
                         index_prefix=PREFIX)
    config.elasticsearch = CollectorElasticsearch(**es_users["collector"].model_dump())  # its own user
    token = TokenStore(config.tokens_file).issue("agent-test")
    yield config, token
    delete_indices(es_client, f"{PREFIX}-*")


@pytest.fixture
def collector(collector_setup):
    config, token = collector_setup
    with serve_in_thread(config) as running:
        yield running, token


def agent_config(tmp_path: Path, url: str, token: str, **overrides) -> AgentConfig:
    config = AgentConfig(agent_id="agent-test", data_dir=tmp_path / "agent", interval=1.0, metrics_port=0,
                         collector_urls=[url], token=token, log_paths=[str(tmp_path / "logs" / "*")],
                         flush_seconds=0.2)
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture
def run_agent() -> Iterator:
    agents: list[tuple[HostAgent, threading.Thread]] = []

    def start(config: AgentConfig) -> HostAgent:
        agent = HostAgent(config)
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        agents.append((agent, thread))
        return agent

    yield start
    for agent, thread in agents:
        agent.stop.set()
        thread.join(timeout=10)


def count(es_client, query: dict, kind: str = "logs") -> int:
    """The matching documents; NotReady while a just-created daily index has no started shard yet (503)."""
    try:
        es_client.indices.refresh(index=f"{PREFIX}-{kind}-*", ignore_unavailable=True)
        return es_client.count(index=f"{PREFIX}-{kind}-*", query=query, ignore_unavailable=True)["count"]
    except ApiError as error:
        if error.meta.status == 503:
            raise NotReady(f"the {kind} index is not searchable yet: {error}") from error
        raise


def wait_count(es_client, query: dict, expected: int, timeout: float = 60, kind: str = "logs") -> int:
    def reached() -> bool:
        seen = count(es_client, query, kind)
        if seen < expected:
            raise NotReady(f"{seen} of {expected}")
        return True

    wait_until(reached, timeout=timeout, interval=0.5, what=f"{expected} {kind} documents matching {query}")
    time.sleep(1)  # anything more would be a duplicate: give it a moment to show
    return count(es_client, query, kind)


def json_line(marker: str, n: int) -> str:
    return json.dumps({"_kind": "logs", "@timestamp": timestamp(), "message": f"{marker} {n}",
                       "service": {"name": "app"}, "labels": {"marker": marker, "seq": n}})


def test_json_and_plain_lines_arrive_once_with_stack_traces_joined(tmp_path, collector, run_agent, es_client):
    running, token = collector
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.jsonl").write_text("".join(json_line("mixed", n) + "\n" for n in range(300)))
    (logs / "plain.log").write_text(
        "2026-01-01 12:00:00 INFO started\n"
        "2026-01-01 12:00:01 ERROR request failed\n"
        "Traceback (most recent call last):\n"
        '  File "app.py", line 3, in handle\n'
        "KeyError: 'id'\n"
        "2026-01-01 12:00:02 INFO recovered\n")
    run_agent(agent_config(tmp_path, running.url, token, multiline_start=r"^\d{4}-|^\{"))
    assert wait_count(es_client, {"term": {"labels.marker": "mixed"}}, 300) == 300
    assert wait_count(es_client, {"term": {"log.file.path": str(logs / "plain.log")}}, 3) == 3
    hits = es_client.search(index=f"{PREFIX}-logs-*", query={"match_phrase": {"message": "request failed"}})
    (hit,) = hits["hits"]["hits"]
    assert "KeyError: 'id'" in hit["_source"]["message"]
    assert hit["_source"]["log"]["level"] == "error"


def test_a_scraped_prometheus_endpoint_is_searchable_by_name_and_label(tmp_path, collector, run_agent, es_client):
    running, token = collector
    registry = CollectorRegistry()
    orders = Counter("shop_orders", "Orders taken", ["region"], registry=registry)
    orders.labels("eu").inc(7)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    try:
        run_agent(agent_config(tmp_path, running.url, token, log_paths=[],
                               scrape_urls=[f"http://127.0.0.1:{port}/metrics", dead]))
        query = {"bool": {"filter": [{"term": {"prometheus.labels.region": "eu"}},
                                     {"exists": {"field": "prometheus.metrics.shop_orders_total"}}]}}
        assert wait_count(es_client, query, 1, kind="metrics") >= 1
        hit = es_client.search(index=f"{PREFIX}-metrics-*", query=query)["hits"]["hits"][0]["_source"]
        assert hit["prometheus"]["metrics"]["shop_orders_total"] == 7.0
        down = {"bool": {"filter": [{"term": {"labels.target": dead}}, {"term": {"prometheus.up": 0}}]}}
        assert wait_count(es_client, down, 1, kind="metrics") >= 1  # a failed scrape is reported
        cpu = {"exists": {"field": "system.cpu.total.pct"}}
        assert wait_count(es_client, cpu, 1, kind="metrics") >= 1
    finally:
        server.shutdown()


OUTAGE_SECONDS = 60


def test_collectors_down_lose_nothing_and_the_backlog_drains(tmp_path, collector_setup, run_agent, es_client):
    """No collector answers for 60 s while the application writes; then one comes back."""
    config, token = collector_setup
    logs = tmp_path / "logs"
    logs.mkdir()
    agent = run_agent(agent_config(tmp_path, f"http://127.0.0.1:{config.port}", token))
    began, written = time.monotonic(), 0
    with open(logs / "app.jsonl", "a") as handle:
        while time.monotonic() - began < OUTAGE_SECONDS:
            for _ in range(100):
                handle.write(json_line("outage", written) + "\n")
                written += 1
            handle.flush()
            time.sleep(0.5)
    assert agent.metrics.registry.get_sample_value("oam_agent_send_failures_total") > 0
    assert agent.store.states and all(state.offset == 0 for state in agent.store.states.values())
    with serve_in_thread(config):
        assert wait_count(es_client, {"term": {"labels.marker": "outage"}}, written, timeout=120) == written


AGENT_CONFIG = """
[agent]
id = "torture"
data_dir = "{data}"
interval = 5
metrics_port = 0
flush_seconds = 0.2
[collector]
urls = ["{url}"]
token = "{token}"
[logs]
paths = ["{logs}/app.log*"]
"""


def test_rotation_and_agent_kills_lose_and_repeat_nothing(tmp_path, collector, es_client):
    """200,000 lines; 5 renames, 5 copy-truncates; the agent SIGKILLed and restarted 3 times."""
    running, token = collector
    logs = tmp_path / "logs"
    logs.mkdir()
    config = tmp_path / "agent.toml"
    config.write_text(AGENT_CONFIG.format(data=tmp_path / "agent", url=running.url, token=token, logs=logs))

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "oam", "agent", "run", "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    total, per_step = 200_000, 200_000 // 14
    agent = start()
    written = 0
    path = logs / "app.log"
    try:
        for step in range(14):
            with open(path, "a") as handle:
                for _ in range(per_step if step < 13 else total - written):
                    handle.write(f'{{"_kind":"logs","@timestamp":"{timestamp()}","message":"t {written}",'
                                 f'"labels":{{"marker":"torture","seq":"{written}"}}}}\n')
                    written += 1
            time.sleep(0.3)
            if step in (1, 3, 5, 7, 9):
                os.rename(path, logs / f"app.log.{step}")          # rotation by rename
            elif step in (2, 4, 6, 8, 10):
                shutil.copyfile(path, logs / f"app.log.{step}")    # rotation by copy-truncate
                os.truncate(path, 0)
            if step in (3, 7, 11):
                agent.send_signal(signal.SIGKILL)
                agent.wait()
                agent = start()
        assert written == total
        shipped = wait_count(es_client, {"term": {"labels.marker": "torture"}}, total, timeout=240)
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    assert shipped == total
    # Exactly once: no line number twice (terms on one shard are exact), so with the count, none lost.
    top = es_client.search(index=f"{PREFIX}-logs-*", size=0, query={"term": {"labels.marker": "torture"}},
                           aggs={"seq": {"terms": {"field": "labels.seq", "size": 1}}})
    bucket = top["aggregations"]["seq"]["buckets"][0]
    if bucket["doc_count"] != 1:  # say where the repeated line came from
        twins = es_client.search(index=f"{PREFIX}-logs-*", query={"term": {"labels.seq": bucket["key"]}})
        details = [(h["_id"], h["_source"].get("log")) for h in twins["hits"]["hits"]]
        raise AssertionError(f"line {bucket['key']} indexed {bucket['doc_count']} times: {details}")


def test_the_agent_is_a_live_host_in_the_cmdb_while_it_runs(tmp_path, collector, run_agent, zookeeper):
    from cmdb import Cmdb

    running, token = collector
    root = "/oam-agent-registration"
    admin = Cmdb(zookeeper.connection_string, user="admin", password="pw", root=root)
    try:
        agent = run_agent(agent_config(tmp_path, running.url, token, log_paths=[], role="web", environment="test",
                                       cmdb_hosts=zookeeper.connection_string, cmdb_user="admin",
                                       cmdb_password="pw", cmdb_root=root))
        wait_until(lambda: "agent-test" in admin.inventory.live(), timeout=15, interval=0.2,
                   what="the agent to register live")
        live = admin.inventory.live()["agent-test"]
        assert live.facts.role == "web" and live.facts.environment == "test"
        assert {"os", "cpus", "memory_bytes", "agent_version", "started"} <= set(live.facts.labels)
        agent.stop.set()
        wait_until(lambda: "agent-test" not in admin.inventory.live(), timeout=15, interval=0.2,
                   what="the stopped agent to leave the live list")
        assert "agent-test" not in admin.inventory.live()
        assert "agent-test" in admin.inventory.known()  # down, but still known
    finally:
        admin.close()


class CommandLineWatch:
    """Reads every process's command line (``/proc/*/cmdline``) over and over on a thread; keeps any
    that carries one of ``secrets``."""

    def __init__(self, *secrets: str) -> None:
        self.secrets = [secret.encode() for secret in secrets]
        self.seen: list[str] = []
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                try:
                    line = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
                except OSError:
                    continue
                if any(secret in line for secret in self.secrets):
                    self.seen.append(line.replace(b"\0", b" ").decode(errors="replace")[:200])
            self.passes += 1
            self._stop.wait(0.005)

    def __enter__(self) -> CommandLineWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_install_over_ssh_runs_hardened_agents_live_and_a_stopped_one_leaves(tmp_path, collector, zookeeper, ssh_hosts):
    from agents.host.layout import Layout
    from cmdb import Cmdb

    require(shutil.which("systemd-analyze"), "systemd-analyze is not installed (scripts/setup installs systemd)")
    running, token = collector
    cmdb_root = "/oam-agent-install"
    admin = Cmdb(zookeeper.connection_string, user="admin", password="pw", root=cmdb_root)
    token_file = tmp_path / "agent.token"
    token_file.write_text(token)
    root = str(ssh_hosts.base_dir / "{name}")  # the loopback hosts share this machine's file system
    layouts = {f"agent-h{i}": Layout(root.format(name=f"agent-h{i}")) for i in (1, 2, 3)}
    hosts = [f"agent-h{i}@{server.address}:{server.port}" for i, server in enumerate(ssh_hosts, 1)]
    unreachable = f"agent-gone@127.0.0.9:{free_port()}"  # nothing listens there
    metrics_port = free_port()
    # The SSH key, known_hosts, environment and collector come from the variables `oam env` exports.
    env = {**os.environ, "OAM_CMDB_USER": "admin", "OAM_CMDB_PASSWORD": "pw", "OAM_CMDB_ROOT": cmdb_root,
           "OAM_AGENT_BUNDLE_DIR": str(tmp_path / "bundle"), "OAM_SSH_KEY": str(ssh_hosts.client_key),
           "OAM_KNOWN_HOSTS": str(ssh_hosts.known_hosts), "OAM_ENVIRONMENT": "test", "OAM_COLLECTOR_URL": running.url}

    def install(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "oam", "agent", "install", "--install-root", root, *args,
                               "--token-file", str(token_file), "--zk", zookeeper.connection_string,
                               "--python", "/usr/bin/python3", "--interval", "5"],  # an interpreter oam-agent may run
                              env=env, capture_output=True, text=True, timeout=600)

    try:
        with CommandLineWatch(token) as watch:
            # One host with its self-metrics on a port (the hosts share one loopback: one port each) ...
            first = install("--host", hosts[0], "--metrics-port", str(metrics_port))
            assert first.returncode == 0, first.stdout + first.stderr
            # ... then two at once, with one that cannot be reached.
            result = install("--hosts", ",".join(hosts[1:]), "--host", unreachable, "--metrics-port", "0")
            assert result.returncode == 1, result.stdout + result.stderr  # one host failed ...
            live = admin.inventory.live()
            assert {"agent-h1", "agent-h2", "agent-h3"} <= set(live)  # ... and did not stop the others
            assert live["agent-h1"].facts.environment == "test"  # OAM_ENVIRONMENT
            header, _, *lines = result.stdout.splitlines()
            assert header.split() == ["HOST", "RESULT", "STEP", "SECONDS", "DETAIL"]
            rows = {line.split()[0]: line.split()[1] for line in lines}
            assert rows == {"agent-h2": "ok", "agent-h3": "ok", "agent-gone": "FAILED"}
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
                assert b"oam_agent_lines_read_total" in response.read()
        assert watch.passes > 10 and watch.seen == []  # the token was in no process's command line

        for name, layout in layouts.items():
            config = Path(layout.config)
            facts = config.stat()
            assert (stat.S_IMODE(facts.st_mode), pwd.getpwuid(facts.st_uid).pw_name) == (0o600, "oam-agent"), name
            assert token in config.read_text() and config.parent == Path(layout.root) / "etc" / "oam"
            supervisor = psutil.Process(read_pid(Path(layout.prefix) / "agent.pid"))
            agents = [p for p in supervisor.children(recursive=True) if "run" in p.cmdline() and "agent" in p.cmdline()]
            assert [p.username() for p in agents] == ["oam-agent"], name
            assert Path(layout.data_dir).owner() == "oam-agent"  # the only place the agent writes
            verify = subprocess.run(["systemd-analyze", "verify", layout.unit], capture_output=True, text=True,
                                    timeout=60)
            assert (verify.returncode, verify.stdout + verify.stderr) == (0, ""), name
        assert {"oam-agent", "adm"} <= {grp.getgrgid(gid).gr_name for gid in os.getgrouplist(
            "oam-agent", pwd.getpwnam("oam-agent").pw_gid)}  # may read /var/log

        # Stop one agent: it leaves the live list within the session timeout; the others stay.
        os.kill(read_pid(Path(layouts["agent-h2"].prefix) / "agent.pid"), signal.SIGTERM)  # `kill $(cat agent.pid)`
        wait_until(lambda: "agent-h2" not in admin.inventory.live(), timeout=30, interval=0.5,
                   what="agent-h2 to leave the live list")
        live = admin.inventory.live()
        assert "agent-h2" not in live and {"agent-h1", "agent-h3"} <= set(live)
    finally:
        # Uninstall by role: the hosts are looked up in the CMDB's inventory (address, ssh port).
        from cmdb import HostFacts

        for i, server in enumerate(ssh_hosts, 1):
            admin.inventory.remember(HostFacts(f"agent-h{i}", role="agent-test", addresses=[server.address],
                                               labels={"ssh_port": str(server.port)}))
        by_role = ["--role", "agent-test", "--zk", zookeeper.connection_string, "--install-root", root, "-o", "json"]
        removed = subprocess.run([sys.executable, "-m", "oam", "agent", "uninstall", *by_role], env=env,
                                 capture_output=True, text=True, timeout=120)
        admin.close()
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert sorted((row["host"], row["ok"]) for row in json.loads(removed.stdout)) == [
        ("agent-h1", True), ("agent-h2", True), ("agent-h3", True)]
    for layout in layouts.values():
        assert not any(Path(path).exists() for path in (layout.prefix, layout.config, layout.data_dir, layout.unit))


def test_settings_changed_in_the_cmdb_apply_without_a_restart(tmp_path, collector, run_agent, zookeeper, es_client,
                                                              caplog):
    from cmdb import Cmdb

    running, token = collector
    root = "/oam-agent-live-config"
    admin = Cmdb(zookeeper.connection_string, user="admin", password="pw", root=root)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    try:
        agent = run_agent(agent_config(tmp_path, running.url, token, log_paths=[str(first / "*.log")],
                                       environment="live", cmdb_hosts=zookeeper.connection_string,
                                       cmdb_user="admin", cmdb_password="pw", cmdb_root=root))
        (first / "a.log").write_text("".join(json_line("live-first", n) + "\n" for n in range(10)))
        assert wait_count(es_client, {"term": {"labels.marker": "live-first"}}, 10) == 10

        admin.store.set("live/oam-agent/config", {"log_paths": [str(second / "*.log")]}, comment="new place")
        admin.store.set("live/oam-agent/agent-test", {"interval": "often"}, comment="a bad value is refused")
        (second / "b.log").write_text("".join(json_line("live-second", n) + "\n" for n in range(10)))
        assert wait_count(es_client, {"term": {"labels.marker": "live-second"}}, 10) == 10
        assert agent.config.log_paths == [str(second / "*.log")] and agent.config.interval == 1.0
        assert 'live/oam-agent/agent-test: interval: expected a number, got "often"; ignored' in \
            [record.getMessage() for record in caplog.records if record.name == "oam.agent.config"]
    finally:
        admin.close()


def test_a_dead_collector_fails_over_to_the_next_and_the_agent_reports_itself(tmp_path, collector, run_agent, es_client):
    import requests

    running, token = collector
    logs = tmp_path / "logs"
    logs.mkdir()
    metrics_port = free_port()
    run_agent(agent_config(tmp_path, running.url, token, metrics_port=metrics_port,
                           collector_urls=[f"http://127.0.0.1:{free_port()}", running.url]))
    (logs / "app.jsonl").write_text("".join(json_line("failover", n) + "\n" for n in range(500)))
    assert wait_count(es_client, {"term": {"labels.marker": "failover"}}, 500) == 500
    text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    values = {line.split(" ")[0]: float(line.split(" ")[-1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert values["oam_agent_lines_read_total"] >= 500
    assert values["oam_agent_batches_sent_total"] >= 1 and values["oam_agent_bytes_sent_total"] > 0
    assert values[f'oam_agent_file_lag_bytes{{path="{logs / "app.jsonl"}"}}'] == 0
    assert "oam_agent_buffer_bytes" in values


def test_batches_spread_over_two_collectors_and_one_dying_loses_nothing(tmp_path, collector_setup, run_agent,
                                                                         es_client):
    config, token = collector_setup
    second = load_config(None, port=free_port(), tokens_file=config.tokens_file, spool_dir=tmp_path / "spool-2",
                         index_prefix=PREFIX)
    second.elasticsearch = config.elasticsearch
    logs = tmp_path / "logs"
    logs.mkdir()
    with serve_in_thread(config) as first:
        with serve_in_thread(second) as other:
            agent = run_agent(agent_config(tmp_path, first.url, token, collector_urls=[first.url, other.url]))
            (logs / "app.jsonl").write_text("".join(json_line("spread", n) + "\n" for n in range(1000)))
            assert wait_count(es_client, {"term": {"labels.marker": "spread"}}, 1000) == 1000
            sent = agent.shipper.sent_to
            assert sent[first.url] >= 1 and sent[other.url] >= 1, sent  # both took a share
        with (logs / "app.jsonl").open("a") as file:  # the second collector is gone now
            file.write("".join(json_line("spread", n) + "\n" for n in range(1000, 1500)))
        assert wait_count(es_client, {"term": {"labels.marker": "spread"}}, 1500) == 1500
    es_client.indices.refresh(index=f"{PREFIX}-logs-*")
    seqs = es_client.search(index=f"{PREFIX}-logs-*", query={"term": {"labels.marker": "spread"}}, size=0,
                            aggs={"seq": {"cardinality": {"field": "labels.seq", "precision_threshold": 4000}}})
    assert seqs["aggregations"]["seq"]["value"] == 1500


def test_a_collector_that_never_answers_does_not_hold_up_the_metrics(tmp_path, run_agent):
    """Metrics are taken on their own thread: a hung collector delays the shipping, not the samples."""
    with socket.socket() as hung:  # the kernel accepts the connections; nothing ever answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        agent = run_agent(agent_config(tmp_path, f"http://127.0.0.1:{hung.getsockname()[1]}", "token",
                                       interval=0.3))
        time.sleep(3)
        assert agent.shipper.batches_sent == 0  # the first batch is still waiting for an answer
        assert len(agent.buffer) >= 5

