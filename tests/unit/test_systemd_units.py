"""The systemd units — the agent's that ``oam agent install`` writes and the collector's and dashboard's
in deploy/systemd/ — pass ``systemd-analyze verify`` without a warning, and are hardened alike."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agents.host.layout import Layout, unit_text

from requirements import require

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SHIPPED = sorted(DEPLOY.glob("*.service"))
OAM = Path(sys.executable).parent / "oam"  # stands for /opt/oam/venv/bin/oam: verify checks ExecStart exists
HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "Restart=on-failure", "Wants=network-online.target",
             "After=network-online.target"]


def verify(unit: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    require(analyze, "systemd-analyze is not installed (Debian package systemd; scripts/setup installs it)")
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout + result.stderr) == (0, ""), unit.read_text()


WRITES_NOTHING = {"oam-alerts.service"}  # state in ZooKeeper: the whole file system stays read-only


def assert_hardened(text: str, writes: bool = True) -> None:
    lines = text.splitlines()
    for setting in HARDENING:
        assert any(line.startswith(setting) for line in lines), setting
    assert any(line.startswith("ReadWritePaths=") for line in lines) == writes
    for key in ("User=", "RestartSec=", "ExecStart="):
        assert any(line.startswith(key) and len(line) > len(key) for line in lines), key
    assert "User=root" not in lines


def test_the_agent_unit_is_hardened_and_passes_systemd_analyze_verify(tmp_path):
    layout = Layout(str(tmp_path))
    Path(layout.oam).parent.mkdir(parents=True)
    Path(layout.oam).symlink_to(OAM)
    text = unit_text(layout)
    assert_hardened(text)
    assert "User=oam-agent" in text.splitlines() and "ExecReload=/bin/kill -HUP $MAINPID" in text.splitlines()
    assert f"ReadWritePaths={layout.data_dir}" in text.splitlines()
    unit = tmp_path / "oam-agent.service"
    unit.write_text(text)
    verify(unit)


@pytest.mark.parametrize("shipped", SHIPPED, ids=[path.name for path in SHIPPED])
def test_the_shipped_units_are_hardened_and_pass_systemd_analyze_verify(tmp_path, shipped):
    text = shipped.read_text()
    assert_hardened(text, writes=shipped.name not in WRITES_NOTHING)
    assert "/opt/oam/venv/bin/oam " in text
    unit = tmp_path / shipped.name
    unit.write_text(text.replace("/opt/oam/venv/bin/oam ", f"{OAM} "))
    verify(unit)


def test_there_are_units_for_the_collector_the_dashboard_and_the_alert_evaluator():
    assert [path.name for path in SHIPPED] == ["oam-alerts.service", "oam-collector.service", "oam-dashboard.service"]


@pytest.mark.parametrize("piece", ["collector", "dashboard"])
def test_the_collector_and_dashboard_units_reload_on_sighup(piece):
    lines = (SHIPPED[0].parent / f"oam-{piece}.service").read_text().splitlines()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in lines
