"""`oam bench --quick` end to end: the real CMDB and ingest benchmarks, their table, JSON and chart."""
from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"-?[\d,]+(?:\.\d+)?"


def test_quick_cmdb_and_ingest_report(tmp_path):
    out = tmp_path / "results"
    run = subprocess.run([sys.executable, "-m", "oam", "bench", "--quick", "--quiet", "--only", "cmdb",
                          "--only", "ingest", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=420)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "[1/2] cmdb" in run.stderr and "[2/2] ingest" in run.stderr  # progress, script by script

    table = run.stdout
    for figure, reference in [("reads/s (store.get)", "raw kazoo get"), ("writes/s (store.set)", "raw kazoo set"),
                              ("watch notification p99", "raw kazoo + DataWatch"),
                              ("collector ingest", "raw parallel_bulk")]:
        line = next((line for line in table.splitlines() if figure in line), None)
        assert line is not None, f"no row {figure!r} in\n{table}"
        # ours, then the reference with its name, then the ratio
        assert re.search(rf"{NUMBER} \S+\s+{NUMBER} \S+ \({re.escape(reference)}\)\s+{NUMBER}x", line), line
    ingest = next(line for line in table.splitlines() if "collector ingest" in line)
    assert "ratio >= 0.8" in ingest and ingest.rstrip().endswith(("yes", "NO"))
    assert "FAILED" not in table

    results = json.loads((out / "results.json").read_text())
    rows = {(row["bench"], row["figure"]): row for row in results["rows"]}
    assert results["failures"] == []
    col = rows[("ingest", "collector ingest")]
    assert col["ours"] > 0 and col["reference"] > 0
    assert abs(col["ratio"] - col["ours"] / col["reference"]) < 1e-9
    assert col["met"] is (col["ratio"] >= 0.8)
    assert all(rows[("cmdb", figure)]["ours"] > 0 for figure in ("reads/s (store.get)", "writes/s (store.set)"))

    phases = json.loads((out / "ingest.json").read_text())["series"]["throughput"]["phases"]
    workers = json.loads((out / "ingest.json").read_text())["settings"]["workers"]
    many = f"collector, {workers} workers" if workers > 1 else "collector, 1 worker"
    assert [phase["name"] for phase in phases] == [
        "1: raw parallel_bulk", "2: collector, 1 worker", f"3: {many}", f"4: {many}", "5: collector, 1 worker",
        "6: raw parallel_bulk"]
    assert all(phase["points"] and sum(rate for _, rate in phase["points"]) > 0 for phase in phases)

    chart = out / "ingest-throughput.png"
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 400
    assert str(chart) in table
    assert (out / "report.txt").read_text().startswith("bench")


def test_an_unknown_benchmark_is_a_one_line_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "oam", "bench", "--only", "nosuch", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "unknown benchmark nosuch; known: cmdb, ingest" in run.stderr
    assert "Traceback" not in run.stderr
