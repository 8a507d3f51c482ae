"""A host with only ``oam-suite[agent]`` (what ``oam agent install`` puts there) runs the agent, and
every other piece says in one line which extra it needs.

Each test runs ``oam`` through ``tests/agent_only.py``: every module of an installed distribution
outside the base dependencies' closure fails to import, as where it is not installed.
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from backing_services.ports import free_port
from foundation.settings import toml_text
from foundation.waiting import wait_until

AGENT_ONLY = Path(__file__).resolve().parents[1] / "agent_only.py"
SERVER_PACKAGES = ["flask", "elasticsearch", "scipy", "numpy", "fabric", "paramiko", "jinja2", "aiosmtpd", "waitress",
                   "redis", "sentry_sdk", "cryptography", "bcrypt", "werkzeug", "opentelemetry.sdk",
                   "opentelemetry.proto", "matplotlib"]


def agent_only(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(AGENT_ONLY), *args], capture_output=True, text=True, timeout=timeout)


def test_the_server_packages_are_refused_and_the_agents_import():
    probe = ("import importlib, sys\n"
             f"for name in {SERVER_PACKAGES!r}:\n"
             "    try:\n"
             "        importlib.import_module(name)\n"
             "    except ModuleNotFoundError:\n"
             "        continue\n"
             "    sys.exit(f'{name} imported')\n"
             "import agents.host.daemon, agents.host.registration, agents.host.live_config, cmdb\n"
             f"loaded = sorted(m for m in sys.modules if m.partition('.')[0] in {SERVER_PACKAGES!r})\n"
             "print('loaded:', loaded)\n")
    code = ("import runpy, sys\n"
            f"sys.path.insert(0, {str(AGENT_ONLY.parent)!r})\n"
            "from agent_only import AgentOnly\n"
            "sys.meta_path.insert(0, AgentOnly())\n" + probe)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded: []"


def test_agent_run_help_works_without_the_server_packages():
    result = agent_only("agent", "run", "--help")
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout and "SIGHUP" in result.stdout


def metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")), None)


def test_the_agent_runs_tails_samples_and_stops_without_the_server_packages(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text("".join(f"2026-01-01 line {n}\n" for n in range(3)))
    port = free_port()
    config = tmp_path / "agent.toml"
    config.write_text(toml_text({
        "agent": {"id": "agent-only", "data_dir": str(tmp_path / "data"), "metrics_port": port, "interval": 0.2},
        "collector": {"urls": [f"http://127.0.0.1:{free_port()}"], "token": "t"},  # nobody listens: sends fail
        "logs": {"paths": [str(logs / "*.log")]},
        "scrape": [{"url": f"http://127.0.0.1:{port}/metrics"}]}))  # its own /metrics: the scrape path
    log = tmp_path / "agent.log"
    with open(log, "wb") as out:
        agent = subprocess.Popen([sys.executable, str(AGENT_ONLY), "agent", "run", "--config", str(config)],
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: metric(port, "oam_agent_lines_read_total") == 3 or agent.poll() is not None,
                          timeout=30, interval=0.1, what="the agent to read the log file")
        assert agent.poll() is None, log.read_text()
        assert wait_until(lambda: (metric(port, "oam_agent_send_failures_total") or 0) > 0, timeout=30,
                          interval=0.1, what="the agent to try the collector")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            assert response.status == 200
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    assert agent.returncode == 0, log.read_text()
    assert "ModuleNotFoundError" not in log.read_text() and "Traceback" not in log.read_text()


def test_a_piece_that_needs_the_suite_says_so_in_one_line():
    for args, command in ((["dashboard", "run"], "dashboard"), (["dashboard", "--help"], "dashboard"),
                          (["collector", "run", "--config", "x.toml"], "collector"), (["up"], "up"),
                          (["agent", "install", "--host", "a@127.0.0.1", "--collector", "http://x",
                            "--token-file", __file__], "agent install")):
        result = agent_only(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        [line] = result.stderr.splitlines()  # one line, no traceback
        found = re.fullmatch(rf"Error: oam {command} needs the suite's server dependencies: "
                             r"pip install 'oam-suite\[suite\]' \((\S+) is not installed\)", line)
        assert found and found[1] in {name.partition(".")[0] for name in SERVER_PACKAGES}, line
    listing = agent_only("--help")
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line for line in listing.stdout.splitlines() if line.startswith("  ")}
    assert "(needs pip install 'oam-suite[suite]')" in rows["dashboard"]
    assert "needs" not in rows["agent"] and "needs" not in rows["cmdb"]
