"""The pure parts of the peer and soak benchmarks: trends, PSS parsing, the rows, rsyslog's configuration."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from backing_services.rsyslog import Output, render_config
from bench.peer_logs import OURS, PEER, Phase, figures, ratio_text, summarize
from bench.soak import LineWriter, soak_config
from foundation.waiting import wait_until
from oam.benchmarks.memory import Memory, higher, parse_rollup
from oam.benchmarks.runner import choose, discover
from oam.benchmarks.trend import rate, slope, trend
from oam.config import load as load_settings

ROLLUP = """\
55d0c0a00000-7ffc1a3f1000 ---p 00000000 00:00 0                          [rollup]
Rss:               52344 kB
Pss:               20480 kB
Pss_Dirty:          9000 kB
Shared_Clean:      30000 kB
"""


def test_a_steady_climb_is_its_slope_per_ten_minutes_and_its_growth():
    points = [(0.0, 100.0), (60.0, 101.0), (120.0, 102.0), (180.0, 103.0)]
    moved = trend(points)
    assert moved.per_10_min == pytest.approx(10.0)
    assert (moved.start, moved.end, moved.peak) == (100.0, 103.0, 103.0)
    assert moved.growth == pytest.approx(0.03)


def test_a_flat_series_with_a_spike_has_no_slope_but_keeps_its_peak():
    moved = trend([(0.0, 50.0), (10.0, 90.0), (20.0, 50.0)])
    assert moved.per_10_min == pytest.approx(0.0)
    assert moved.peak == 90.0 and moved.growth == pytest.approx(0.0)


def test_too_few_samples_give_no_slope_and_no_rate():
    assert slope([(5.0, 1.0)]) == 0.0
    assert slope([(5.0, 1.0), (5.0, 9.0)]) == 0.0
    assert rate([(5.0, 1.0)]) == 0.0
    assert trend([(0.0, 0.0), (60.0, 5.0)]).growth is None  # from nothing: no percentage
    with pytest.raises(ValueError, match="at least one sample"):
        trend([])


def test_a_cpu_counter_rate_is_its_share_of_a_core():
    assert rate([(0.0, 10.0), (30.0, 10.5), (100.0, 12.0)]) == pytest.approx(0.02)  # 2 s over 100 s


def test_pss_and_rss_come_from_smaps_rollup_in_mib():
    assert parse_rollup(ROLLUP) == Memory(pss_mb=20.0, rss_mb=pytest.approx(51.1171875))
    with pytest.raises(ValueError, match="no Pss"):
        parse_rollup("Rss: 10 kB\n")
    assert higher(Memory(10.0, 50.0), Memory(20.0, 40.0)) == Memory(20.0, 50.0)


def test_the_soak_runs_only_when_named():
    found = discover()
    assert "peer_logs" in choose(found) and "soak" not in choose(found)
    assert list(choose(found, ("soak",))) == ["soak"]
    assert list(choose(found, ("soak", "peer_logs"))) == ["peer_logs", "soak"]
    names = list(found)
    assert names.index("peer_logs") < names.index("agent")


def phase(pipeline: str, seconds: float, cpu: float, pss: float, documents: int = 100_000) -> Phase:
    return Phase(pipeline, seconds, cpu, pss_mb=pss, rss_mb=pss * 2, hwm_mb=pss * 3, documents=documents)


def test_each_pipeline_is_summed_over_its_phases_and_set_beside_rsyslog():
    phases = [phase(OURS, 20.0, 10.0, 300.0), phase(PEER, 10.0, 2.0, 100.0),
              phase(PEER, 10.0, 2.0, 120.0), phase(OURS, 30.0, 12.0, 310.0)]
    ours = summarize(phases, OURS)
    assert ours["rate"] == pytest.approx(4000.0)             # 200,000 documents in 50 s
    assert ours["cpu_per_100k"] == pytest.approx(11.0)       # 22 CPU s for 200,000
    assert (ours["pss_mb"], ours["rss_mb"], ours["hwm_mb"]) == (310.0, 620.0, 930.0)
    rate_row, cpu_row, memory_row = figures(phases)
    assert (rate_row.ours, rate_row.reference, rate_row.reference_name) == (pytest.approx(4000.0), 10_000.0, PEER)
    assert rate_row.ratio == pytest.approx(0.4) and rate_row.met is False
    assert cpu_row.ratio == pytest.approx(5.5) and cpu_row.met is False
    assert memory_row.figure == "log shipping peak memory (PSS)" and memory_row.ratio == pytest.approx(310 / 120)
    assert memory_row.to_json()["ours_rss_summed_mb"] == 620.0
    assert memory_row.to_json()["reference_vmhwm_summed_mb"] == 360.0


def test_a_pipeline_without_phases_is_named():
    with pytest.raises(ValueError, match="no phase of rsyslog"):
        summarize([phase(OURS, 1.0, 1.0, 1.0)], PEER)
    assert ratio_text(None) == "-" and ratio_text(0.4567) == "0.46"


def test_rsyslog_reads_the_glob_and_bulk_creates_into_the_one_index(tmp_path):
    output = Output(port=9201, user="writer", password='p"w\\d', index="rs-logs-2026.12.03", ca_file="/ca.crt",
                    batch=500, workers=3)
    config = render_config(tmp_path / "work", "/logs/*.log", output, host_name="h1")
    settings = dict(re.findall(r'([A-Za-z.]+)=("(?:[^"\\]|\\.)*")', config))
    assert json.loads(settings["file"]) == "/logs/*.log"
    assert json.loads(settings["searchIndex"]) == "rs-logs-2026.12.03"
    assert json.loads(settings["pwd"]) == 'p"w\\d'       # quotes and backslashes escaped, not cut short
    assert json.loads(settings["serverport"]) == "9201" and json.loads(settings["writeoperation"]) == "create"
    assert json.loads(settings["queue.dequeueBatchSize"]) == "500"
    assert json.loads(settings["queue.workerThreads"]) == "3"
    assert json.loads(settings["workDirectory"]) == str(Path(tmp_path / "work"))
    assert 'value="h1"' in config and 'module(load="imuxsock")' not in config  # never the system's sockets


def test_the_soak_writer_appends_numbered_log_lines_of_its_run(tmp_path):
    writer = LineWriter(tmp_path / "telemetry" / "soak.jsonl", rate=500.0, run_id="run-1")
    writer.start()
    try:
        wait_until(lambda: writer.written >= 50, timeout=30, what="50 soak lines")
    finally:
        writer.stopped.set()
        writer.join()
    docs = [json.loads(line) for line in (tmp_path / "telemetry" / "soak.jsonl").read_text().splitlines()]
    assert len(docs) == writer.written
    assert [doc["labels"]["soak_seq"] for doc in docs] == list(range(writer.written))
    assert {doc["_kind"] for doc in docs} == {"logs"} and {doc["labels"]["soak_run"] for doc in docs} == {"run-1"}


def test_the_soak_suite_runs_on_its_own_ports_in_its_data_dir_without_ssh_hosts(tmp_path):
    path = tmp_path / "oam.toml"
    path.write_text(soak_config(tmp_path / "data"))
    settings = load_settings(path)
    ports = [settings.elasticsearch.port, settings.zookeeper.port, *settings.ports.model_dump().values()]
    assert len(set(ports)) == len(ports)
    assert settings.data_dir == tmp_path / "data" and settings.sandbox.hosts == 0
