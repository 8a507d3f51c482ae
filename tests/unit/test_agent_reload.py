"""SIGHUP (``systemctl reload oam-agent``) makes ``oam agent run`` re-read its config file, not die."""
from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request

from backing_services.ports import free_port
from foundation.settings import toml_text
from foundation.waiting import wait_until


def lines_read(port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith("oam_agent_lines_read_total"))


def test_sighup_reloads_the_settings_file_and_the_agent_keeps_running(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (second / "b.log").write_text("".join(f"line {n}\n" for n in range(5)))
    port = free_port()
    config = tmp_path / "agent.toml"

    def write(paths: list[str]) -> None:
        config.write_text(toml_text({
            "agent": {"id": "reload-test", "data_dir": str(tmp_path / "data"), "metrics_port": port, "interval": 60},
            "collector": {"urls": [f"http://127.0.0.1:{free_port()}"], "token": "t"},  # nobody listens there
            "logs": {"paths": paths}}))

    write([str(first / "*.log")])
    log = tmp_path / "agent.log"
    with open(log, "wb") as out:
        agent = subprocess.Popen([sys.executable, "-m", "oam", "agent", "run", "--config", str(config)],
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: lines_read(port) == 0, timeout=30, interval=0.1, what="the agent's /metrics")
        write([str(second / "*.log")])
        agent.send_signal(signal.SIGHUP)
        assert wait_until(lambda: lines_read(port) == 5, timeout=30, interval=0.1,
                          what="the agent to read the file the new settings name")
        assert agent.poll() is None and "settings file re-read" in log.read_text()
        config.write_text("[agent]\nmetrics_port = 'x'\n")  # a broken file is refused; the running settings stay
        agent.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "SIGHUP: agent.toml" in log.read_text(), timeout=10, interval=0.1,
                          what="the agent to refuse the broken file")
        assert agent.poll() is None and lines_read(port) == 5
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    assert agent.returncode == 0, log.read_text()
