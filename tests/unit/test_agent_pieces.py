"""Host agent pieces of pure logic: metric buffer, backoff, settings, NDJSON lines, multi-line joining."""
from __future__ import annotations

import json
import random

import pytest

from agents.host.buffer import DiskBuffer
from agents.host.config import AgentConfigError, load_agent_config
from agents.host.documents import DocumentMaker, Event, MultilineJoiner
from agents.host.live_config import validate
from agents.host.shipper import backoff_delay
from agents.host.tailer import Line
from telemetry.ecs import ServiceInfo, to_nested


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


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    rng = random.Random(1)
    for attempt in range(12):
        delays = [backoff_delay(attempt, base=0.5, cap=30, rng=rng) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= min(30, 0.5 * 2 ** attempt)
    assert max(backoff_delay(20, rng=rng) for _ in range(50)) > 15  # reaches toward the cap


def test_settings_name_what_is_wrong(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text('[agent]\ninterval = "10"\n[collector]\ntoken = "t"\n')
    with pytest.raises(AgentConfigError, match="agent.interval has the wrong type"):
        load_agent_config(path)
    path.write_text('[collector]\nurls = ["http://c:4318"]\n')
    with pytest.raises(AgentConfigError, match="token"):
        load_agent_config(path)
    path.write_text('[collector]\ntoken = "t"\n[logz]\npaths = []\n')
    with pytest.raises(AgentConfigError, match="unknown section"):
        load_agent_config(path)
    path.write_text('[agent]\nid = "web-1"\n[collector]\ntoken_file = "/nonexistent/token"\n')
    with pytest.raises(AgentConfigError, match="cannot read the token file"):
        load_agent_config(path)


def test_cmdb_settings_keep_the_good_fields_and_drop_the_bad():
    good = validate({"log_paths": ["/var/log/*.log"], "interval": "often", "multiline_start": "([",
                     "colour": "blue", "scrape_urls": [1, 2]}, "env/oam-agent/config")
    assert good == {"log_paths": ["/var/log/*.log"]}
    assert validate(["not", "an", "object"], "k") == {}


def test_json_lines_keep_their_fields_and_gain_their_source_position():
    maker = DocumentMaker(ServiceInfo("oam-agent", host_name="web-1", agent_id="a1"))
    source = '{"_kind":"logs","message":"hi","log":{"level":"warn"}}'
    line = json.loads(maker.ndjson(Event("f1", "/var/log/app.log", 120, 160, source)))
    nested = to_nested({k: v for k, v in line.items() if not k.startswith("_")})
    assert nested["log"] == {"level": "warn", "file": {"path": "/var/log/app.log", "fingerprint": "f1"},
                             "offset": 120}
    assert line["_id"] == maker.line_id(Event("f1", "/other/path", 120, 999, "changed"))  # position decides
    plain = json.loads(maker.ndjson(Event("f2", "/var/log/sys.log", 0, 30, "2026-01-01 ERROR disk full")))
    assert plain["_kind"] == "logs" and plain["log"]["level"] == "error" and plain["message"].endswith("disk full")


def test_continuation_lines_join_the_line_before():
    joiner = MultilineJoiner(r"^\d{4}-")
    lines = [Line("f", "p", 0, 10, "2026-01-01 ERROR boom"), Line("f", "p", 10, 20, "Traceback:"),
             Line("f", "p", 20, 30, "  File x"), Line("f", "p", 30, 40, "2026-01-01 INFO ok")]
    done = joiner.feed(lines)
    assert [(e.text, e.offset, e.end) for e in done] == [("2026-01-01 ERROR boom\nTraceback:\n  File x", 0, 30)]
    assert [e.text for e in joiner.flush()] == ["2026-01-01 INFO ok"]  # held back until a quiet spell
