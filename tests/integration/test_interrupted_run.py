"""A test run killed midway (SIGKILL), then started again, passes and leaves nothing behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from local_suite import processes_under, wait_until

SCENARIO = Path(__file__).with_name("scenario_killed_midway.py")


def run_scenario(root: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SCENARIO)],
        env={**os.environ, "OAM_TEST_ROOT": str(root), **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_a_run_killed_midway_then_started_again_passes(tmp_path):
    root = Path("/tmp") / f"oam-killed-run-{os.getpid()}"  # the ES user must reach it
    ready = tmp_path / "ready"
    first = run_scenario(root, OAM_SCENARIO_HANG=str(ready))
    try:
        wait_until(lambda: ready.exists() or first.poll() is not None, 240, "the first run to get going", 0.5)
        assert ready.exists(), f"the first run never got going:\n{first.stdout.read() if first.poll() is not None else ''}"
        stale_dir = Path(ready.read_text())
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert stale_dir.exists()
        # Parent-death signals stop the fixtures' services; the escaped one is still running.
        time.sleep(5)
        survivors = processes_under(stale_dir)
        assert survivors, "the escaped server should have outlived the killed run"

        second = run_scenario(root)
        output, _ = second.communicate(timeout=300)
        assert second.returncode == 0, output
        assert "1 passed" in output
        assert not stale_dir.exists(), "the stale run directory was not cleaned up"
        assert not processes_under(stale_dir), "a process of the killed run is still alive"
        assert not processes_under(root)
    finally:
        if first.poll() is None:
            first.kill()
        for pid in processes_under(root):
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["rm", "-rf", str(root)], check=False)
