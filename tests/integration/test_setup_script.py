"""The set-up script is idempotent: run again, it changes and downloads nothing."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_setup_changes_nothing():
    result = subprocess.run([str(ROOT / "scripts" / "setup")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "setup: nothing to do; everything is already installed" in result.stdout
    assert "downloading" not in result.stdout + result.stderr
    assert "zip cached, sha1" in result.stdout and "verified" in result.stdout
