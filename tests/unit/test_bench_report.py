"""The benchmark report: ratio and target logic of a row, the JSON a script writes, the table."""
from __future__ import annotations

import argparse
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from oam.benchmarks.chart import mean_rate, throughput_chart
from oam.benchmarks.report import Failure, number, summary, table
from oam.benchmarks.results import Row, Target, script_arguments, write_results
from oam.benchmarks.runner import BENCH_DIR, discover
from oam.cli import cli


def test_ratio_is_ours_over_reference_and_none_without_one():
    assert Row("ingest", "docs/s", 900.0, "docs/s", 1000.0).ratio == pytest.approx(0.9)
    assert Row("ingest", "rss", 90.0, "MB").ratio is None
    assert Row("agent", "cpu", 0.5, "%", 0.0, "idle peer").ratio is None


@pytest.mark.parametrize(("target", "ours", "reference", "met"), [
    (Target("ratio", ">=", 0.8), 900.0, 1000.0, True),
    (Target("ratio", ">=", 0.8), 700.0, 1000.0, False),
    (Target("ratio", ">=", 0.8), 800.0, 1000.0, True),       # the limit itself meets it
    (Target("ratio", "<=", 3), 31.0, 10.0, False),
    (Target("ours", "<=", 60), 59.9, None, True),           # a limit on ours needs no reference
    (Target("ours", ">=", 30), 12.0, 30.0, False),
    (Target("ratio", ">=", 0.8), 900.0, None, None),         # no ratio: cannot be judged
])
def test_met_compares_the_named_figure_with_the_target(target, ours, reference, met):
    assert Row("b", "f", ours, "u", reference, "peer", target).met is met


def test_a_target_the_run_cannot_judge_is_neither_met_nor_missed():
    target = Target("ours", "<=", 300, "<= 300 ms at 1M docs").not_judged("only 100,000 docs")
    row = Row("dashboard", "page p95: logs", 12.0, "ms", 10.0, "raw ES queries", target).to_json()
    assert row["met"] is None and row["target"] == "<= 300 ms at 1M docs"
    assert row["not_judged"] == "only 100,000 docs"
    line = table([row]).splitlines()[-1]
    assert line.endswith("<= 300 ms at 1M docs  n/a")
    assert "not judged: dashboard (only 100,000 docs)" in summary([row])


def test_a_bad_target_is_refused():
    with pytest.raises(ValueError):
        Target("theirs", ">=", 1)
    with pytest.raises(ValueError):
        Target("ours", "<", 1)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100_000)
    return parser


def test_a_script_writes_its_rows_as_json_only_when_asked(tmp_path):
    path = tmp_path / "sub" / "ingest.json"
    args = script_arguments(parser(), {"docs": 20_000}, ["--quick", "--json", str(path)])
    assert args.docs == 20_000
    assert script_arguments(parser(), {"docs": 20_000}, ["--quick", "--docs", "7"]).docs == 7  # explicit wins
    rows = [Row("ingest", "collector ingest", 900.0, "docs/s", 1000.0, "raw", Target("ratio", ">=", 0.8)),
            Row("ingest", "peak RSS", float("nan"), "MB")]
    write_results(args, "ingest", rows, series={"throughput": {"phases": []}})
    document = json.loads(path.read_text())
    assert document["settings"] == {"docs": 20_000, "quick": True}
    first, second = document["rows"]
    assert first == {"bench": "ingest", "figure": "collector ingest", "ours": 900.0, "reference": 1000.0,
                     "reference_name": "raw", "unit": "docs/s", "ratio": 0.9, "target": "ratio >= 0.8", "met": True}
    assert second["ours"] is None  # NaN is not JSON: an unmeasured figure is null
    assert "series" in document

    plain = script_arguments(parser(), {"docs": 20_000}, [])
    write_results(plain, "ingest", rows)  # no --json: nothing written, no error
    assert plain.docs == 100_000


SAMPLE = [
    Row("cmdb", "reads/s (store.get)", 2180.8, "ops/s", 2179.3, "raw kazoo get").to_json(),
    Row("ingest", "collector ingest", 15000.0, "docs/s", 20000.0, "raw parallel_bulk",
        Target("ratio", ">=", 0.8)).to_json(),
    Row("agent", "agent peak RSS", 41.5, "MB", 19.0, "node-exporter", Target("ours", "<=", 60, "<= 60 MB")).to_json(),
]


def test_the_table_shows_each_row_with_ratio_target_and_met():
    lines = table(SAMPLE).splitlines()
    assert lines[0].split() == ["bench", "figure", "ours", "reference", "ratio", "target", "met"]
    assert len(lines) == 2 + len(SAMPLE)
    cmdb, ingest, agent = lines[2:]
    assert "2,181 ops/s" in cmdb and "2,179 ops/s (raw kazoo get)" in cmdb and "1.00x" in cmdb
    assert cmdb.rstrip().endswith("-")
    assert "15,000 docs/s" in ingest and "0.75x" in ingest and "ratio >= 0.8" in ingest
    assert ingest.rstrip().endswith("NO")
    assert "41.5 MB" in agent and "2.18x" in agent and agent.rstrip().endswith("yes")
    assert len({line.index("x ") for line in (cmdb, ingest, agent)}) == 1  # ratios right-aligned in one column


def test_failed_scripts_are_listed_with_their_reason_and_in_the_summary():
    failures = [Failure("deploy", "exit 1: sshd did not start")]
    text = table(SAMPLE, failures)
    assert text.splitlines()[-1].split() == ["deploy", "FAILED:", "exit", "1:", "sshd", "did", "not", "start"]
    line = summary(SAMPLE, failures)
    assert "3 figures" in line and "targets met 1 of 2 judged" in line
    assert "ingest: collector ingest" in line and "failed: deploy" in line


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (0.0, "0"), (0.01234, "0.012"), (1.234, "1.23"), (12.34, "12.3"), (123.45, "123.5"),
    (12345.6, "12,346"), (-2.5, "-2.50"),
])
def test_numbers_keep_the_digits_they_deserve(value, text):
    assert number(value) == text


def test_the_scripts_are_the_installed_bench_package():
    import bench

    assert BENCH_DIR == Path(bench.__file__).parent and (BENCH_DIR / "ingest.py").is_file()
    assert discover()["ingest"] == BENCH_DIR / "ingest.py"


def test_without_matplotlib_oam_bench_says_what_to_install_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    result = CliRunner().invoke(cli, ["bench", "--only", "cmdb", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output == "Error: oam bench draws its charts with matplotlib, which is not installed: " \
                            "pip install 'oam-suite[bench]'\n"


def test_a_directory_without_scripts_is_one_error_line(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "--scripts", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and result.output == f"Error: no benchmark scripts (*.py) in {tmp_path}\n"


def test_the_benchmarks_are_found_quick_ones_first():
    names = list(discover())
    assert names[:2] == ["cmdb", "ingest"]
    assert {"cmdb", "ingest", "instrumentation", "deploy", "agent", "dashboard"} <= set(names)


def test_the_throughput_chart_is_a_png(tmp_path):
    series = {"title": "Ingest", "unit": "docs/s", "interval": 0.5,
              "phases": [{"name": "1: raw", "points": [[0.5, 1000.0], [1.0, 3000.0], [1.2, 2500.0]]},
                         {"name": "2: collector", "points": [[0.5, 2000.0], [1.0, 2800.0]]}]}
    path = throughput_chart(series, tmp_path / "chart.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 400
    with pytest.raises(ValueError, match="no throughput samples"):
        throughput_chart({"phases": [{"name": "empty", "points": []}]}, tmp_path / "none.png")


GOOD_SCRIPT = '''
import argparse, sys
from oam.benchmarks.results import Row, Target, script_arguments, write_results
parser = argparse.ArgumentParser()
parser.add_argument("--rate", type=float, default=100.0)
args = script_arguments(parser, quick={"rate": 50.0})
print("measuring", flush=True)
write_results(args, "good", [Row("good", "things/s", args.rate, "ops/s", 40.0, "peer", Target("ratio", ">=", 2))])
'''
FAILING_SCRIPT = '''
import sys
print("starting", flush=True)
print("Traceback (most recent call last):", file=sys.stderr)
print("RuntimeError: sshd did not start", file=sys.stderr)
sys.exit(3)
'''
SILENT_SCRIPT = "print('forgot to write the JSON')\n"


def run_bench(tmp_path, *args: str) -> subprocess.CompletedProcess:
    scripts = tmp_path / "scripts"
    scripts.mkdir(exist_ok=True)
    (scripts / "good.py").write_text(GOOD_SCRIPT)
    (scripts / "broken.py").write_text(FAILING_SCRIPT)
    (scripts / "silent.py").write_text(SILENT_SCRIPT)
    return subprocess.run([sys.executable, "-m", "oam", "bench", "--scripts", str(scripts),
                           "--out", str(tmp_path / "out"), *args], capture_output=True, text=True, timeout=120)


def test_a_failing_script_is_shown_failed_the_others_still_report_and_the_exit_code_is_1(tmp_path):
    run = run_bench(tmp_path, "--quick")
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    good = next(line for line in lines if line.startswith("good"))
    assert "50.0 ops/s" in good and "40.0 ops/s (peer)" in good and "1.25x" in good and good.endswith("NO")
    assert "broken  FAILED: exit 3: RuntimeError: sshd did not start" in run.stdout
    assert "silent  FAILED: exit 0 but no usable results" in run.stdout
    assert "failed: broken, silent" in run.stdout
    assert re.search(r"^  good \d+:\d\d \| measuring$", run.stderr, re.M)  # output streams as progress
    assert "RuntimeError: sshd did not start" in (tmp_path / "out" / "broken.log").read_text()
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [row["figure"] for row in results["rows"]] == ["things/s"]
    assert {failure["bench"] for failure in results["failures"]} == {"broken", "silent"}


def test_only_runs_the_named_scripts_with_their_full_settings_by_default(tmp_path):
    run = run_bench(tmp_path, "--only", "good", "--quiet")
    assert run.returncode == 0, run.stderr
    assert "100.0 ops/s" in run.stdout and "yes" in run.stdout.splitlines()[2]
    assert "broken" not in run.stdout and "measuring" not in run.stderr


def test_the_mean_rate_weighs_each_sample_by_its_length():
    # 1000 docs/s for 1 s, then 4000 docs/s for 0.5 s: 3000 docs in 1.5 s
    assert mean_rate([[1.0, 1000.0], [1.5, 4000.0]]) == pytest.approx(2000.0)
    assert mean_rate([]) == 0.0
