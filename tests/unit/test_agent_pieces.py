"""Host agent pieces: metric buffer, the shipper's Retry-After, settings, NDJSON lines, multi-line joining."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agents.host.buffer import DiskBuffer
from agents.host.config import AgentConfig, load_agent_config
from agents.host.daemon import SHIP_BACKOFF, HostAgent
from agents.host.documents import DocumentMaker, Event, MultilineJoiner
from agents.host.live_config import validate
from agents.host.shipper import Shipper, Unavailable
from agents.host.tailer import Line
from backing_services.ports import free_port
from foundation.settings import SettingsError
from telemetry.ecs import ServiceInfo


def test_a_full_buffer_drops_the_oldest_batches_and_counts_them(tmp_path):
    buffer = DiskBuffer(tmp_path, max_bytes=300)
    for n in range(6):
        buffer.put([f'{{"batch": {n}, "pad": "{"x" * 60}"}}'])
    assert buffer.size() <= 300 and buffer.dropped_batches >= 2
    path, lines = buffer.oldest()
    first_kept = json.loads(lines[0])["batch"]
    assert first_kept == buffer.dropped_batches  # the oldest went first
    buffer.remove(path)
    assert json.loads(buffer.oldest()[1][0])["batch"] == first_kept + 1
    reopened = DiskBuffer(tmp_path, max_bytes=300)  # survives a restart, order kept
    assert json.loads(reopened.oldest()[1][0])["batch"] == first_kept + 1


@pytest.fixture
def collectors():
    """Two local HTTP servers answering ingest with the status and headers each is given."""
    servers, hits = [], []

    def serve(status: int, headers: dict[str, str]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                hits.append(self.server.server_address[1])
                body = b'{"accepted": 1, "failed": []}' if status == 200 else b'{"error": "spool full"}'
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield serve, hits
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_the_shipper_honours_the_collectors_retry_after(collectors):
    serve, hits = collectors
    busy = serve(503, {"Retry-After": "7"})
    throttled = serve(429, {"Retry-After": "3"})
    shipper = Shipper([busy, throttled], "token")
    with pytest.raises(Unavailable) as first:
        shipper.send(["{}"])
    assert 2.5 < first.value.retry_after <= 3 and len(hits) == 2  # every collector asked: the earliest wins
    with pytest.raises(Unavailable, match="asked to wait"):
        shipper.send(["{}"])
    assert len(hits) == 2  # neither was asked again before its time
    assert SHIP_BACKOFF.delay(1, first.value.retry_after) >= first.value.retry_after


def test_a_collector_without_retry_after_leaves_the_pause_to_the_backoff(collectors):
    serve, hits = collectors
    shipper = Shipper([serve(503, {"Retry-After": "7"}), serve(502, {})], "token")
    with pytest.raises(Unavailable) as failed:
        shipper.send(["{}"])
    assert failed.value.retry_after is None
    with pytest.raises(Unavailable):
        shipper.send(["{}"])
    assert len(hits) == 3  # the 502 one is tried again at once, the 503 one is not


def test_settings_name_what_is_wrong(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text('[agent]\ninterval = "10"\n[collector]\ntoken = "t"\n')
    with pytest.raises(SettingsError, match=r'^agent.toml: \[agent\] interval: expected a number, got "10"$'):
        load_agent_config(path)
    path.write_text('[collector]\nurls = ["http://c:4318"]\n')
    with pytest.raises(SettingsError, match=r"^agent.toml: \[collector\] token: expected a token \(or a token_file\)$"):
        load_agent_config(path)
    path.write_text('[collector]\ntoken = "t"\n[logz]\npaths = []\n')
    with pytest.raises(SettingsError, match=r"^agent.toml: logz: unknown key \(known: agent, cmdb, collector, logs, "):
        load_agent_config(path)
    path.write_text('[collector]\ntoken = "t"\n[[scrape]]\nurl = "http://a/metrics"\n[[scrape]]\nurl = 5\n')
    with pytest.raises(SettingsError, match=r"^agent.toml: \[scrape\[1\]\] url: expected a URL, got 5$"):
        load_agent_config(path)
    path.write_text('[agent]\nid = "web-1"\n[collector]\ntoken_file = "/nonexistent/token"\n')
    with pytest.raises(SettingsError, match=r"^agent.toml: \[collector\] token_file: cannot read /nonexistent/token"):
        load_agent_config(path)


def test_a_good_file_is_read_section_by_section(tmp_path):
    (tmp_path / "token").write_text("secret\n")
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\nid = "web-1"\ninterval = 5\nrole = "web"\n[collector]\n'
                    f'urls = ["http://c1:4318", "http://c2:4318"]\ntoken_file = "{tmp_path / "token"}"\n'
                    f'[logs]\npaths = ["/var/log/*.log"]\nmultiline_start = "^\\\\S"\n'
                    f'[[scrape]]\nurl = "http://127.0.0.1:8001/metrics"\n[cmdb]\nhosts = "zk:2181"\n')
    config = load_agent_config(path)
    assert (config.agent_id, config.interval, config.role, config.token) == ("web-1", 5.0, "web", "secret")
    assert config.collector_urls == ["http://c1:4318", "http://c2:4318"] and config.log_paths == ["/var/log/*.log"]
    assert config.multiline_start == "^\\S" and config.scrape_urls == ["http://127.0.0.1:8001/metrics"]
    assert (config.cmdb_hosts, config.metrics_port, config.data_dir) == ("zk:2181", 9110, Path("/var/lib/oam/agent"))


def test_cmdb_settings_keep_the_good_fields_and_drop_the_bad(caplog):
    good = validate({"log_paths": ["/var/log/*.log"], "interval": "often", "multiline_start": "([",
                     "colour": "blue", "scrape_urls": [1, 2]}, "env/oam-agent/config")
    assert good == {"log_paths": ["/var/log/*.log"]}
    refused = [record.getMessage() for record in caplog.records]
    assert refused[0] == 'env/oam-agent/config: interval: expected a number, got "often"; ignored'
    assert refused[1] == 'env/oam-agent/config: multiline_start: expected a regular expression, got "(["; ignored'
    assert refused[2].startswith("env/oam-agent/config: colour: unknown key (known: collector_urls, ")
    assert validate(["not", "an", "object"], "k") == {}


def test_json_lines_keep_their_shape_and_gain_their_source_position():
    maker = DocumentMaker(ServiceInfo("oam-agent", host_name="web-1", agent_id="a1"))
    source = '{"_kind":"logs","message":"hi \\u00e9","log":{"level":"WARN","logger":"x"},"labels":{"a.b":"1"}}'
    line = json.loads(maker.ndjson(Event("f1", "/var/log/app.log", 120, 160, source)))
    assert line == {"_kind": "logs", "_id": maker.line_id(Event("f1", "/other/path", 120, 999, "changed")),
                    "message": "hi \u00e9", "labels": {"a.b": "1"}, "agent": {"id": "a1"},
                    "log": {"level": "warning", "logger": "x", "offset": 120,
                            "file": {"path": "/var/log/app.log", "fingerprint": "f1"}}}
    own_agent = '{"_kind":"spans","agent":{"id":"app-9"},"span":{"id":"00f067aa0ba902b7"}}'
    assert json.loads(maker.ndjson(Event("f1", "/a", 0, 9, own_agent)))["agent"] == {"id": "app-9"}


def test_plain_lines_become_log_documents_with_a_canonical_level():
    maker = DocumentMaker(ServiceInfo("oam-agent", host_name="web-1", agent_id="a1"))
    for text, level in (("2026-01-01 ERROR disk full", "error"), ("W WARN low", "warning"),
                        ("FATAL gone", "critical"), ("TRACE x", "debug"), ("no level", "info"),
                        ('{"not": "a document"}', "info"), ('{"_kind": "logs", truncated', "info")):
        plain = json.loads(maker.ndjson(Event("f2", "/var/log/sys.log", 0, 30, text)))
        assert plain["_kind"] == "logs" and plain["message"] == text
        assert plain["log"] == {"level": level, "offset": 0,
                                "file": {"path": "/var/log/sys.log", "fingerprint": "f2"}}, text
        assert "trace" not in plain


def test_continuation_lines_join_the_line_before():
    joiner = MultilineJoiner(r"^\d{4}-")
    lines = [Line("f", "p", 0, 10, "2026-01-01 ERROR boom"), Line("f", "p", 10, 20, "Traceback:"),
             Line("f", "p", 20, 30, "  File x"), Line("f", "p", 30, 40, "2026-01-01 INFO ok")]
    done = joiner.feed(lines)
    assert [(e.text, e.offset, e.end) for e in done] == [("2026-01-01 ERROR boom\nTraceback:\n  File x", 0, 30)]
    assert [e.text for e in joiner.flush()] == ["2026-01-01 INFO ok"]  # held back until a quiet spell


def test_the_installer_writes_an_agent_toml_the_agent_reads(tmp_path):
    from agents.host.install import InstallPlan
    from deployer.config import HostSpec

    plan = InstallPlan(collector_urls=["http://c:4318"], token="t", root=str(tmp_path / "{name}"),
                       log_paths=['/var/log/"quoted"/*.log'], scrape_urls=["http://127.0.0.1:8001/metrics"],
                       cmdb_hosts="zk:2181", cmdb_user="agent", cmdb_password="pw")
    host = HostSpec(name="web-1", address="10.0.0.1", deploy_root="/")
    path = tmp_path / "agent.toml"
    path.write_text(plan.config_for(host))
    config = load_agent_config(path)
    assert (config.agent_id, config.token, config.cmdb_password, config.cmdb_root) == ("web-1", "t", "pw", "")
    assert config.log_paths == ['/var/log/"quoted"/*.log'] and config.scrape_urls == ["http://127.0.0.1:8001/metrics"]
    assert config.data_dir == tmp_path / "web-1" / "var" / "lib" / "oam" / "agent"
    assert config.metrics_port == 9110  # self-metrics on by default (on 127.0.0.1)


def test_metrics_are_sent_again_after_a_failed_send_with_no_logs_pending(collectors, tmp_path):
    serve, hits = collectors
    agent = HostAgent(AgentConfig(agent_id="unit", data_dir=tmp_path, token="t",
                                  collector_urls=[f"http://127.0.0.1:{free_port()}"]))
    agent.buffer.put(['{"a": 1}'])
    agent._ship_metrics(time.monotonic())
    assert agent.attempt == 1 and len(agent.buffer) == 1 and not agent.readiness().ready
    agent.apply_settings({"collector_urls": [serve(200, {})]})  # a collector is back
    agent._ship_metrics(agent.next_try + 0.01)
    assert hits and len(agent.buffer) == 0 and agent.attempt == 0 and agent.readiness().ready
