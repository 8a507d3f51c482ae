"""Run by test_interrupted_run.py in a child pytest, which it kills with SIGKILL midway.

Not collected on its own (its name does not start with test_). With OAM_SCENARIO_HANG set it
starts the real services, says where they live, and hangs until killed.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from backing_services.ports import free_port
from backing_services.zookeeper import ZooKeeperServer, four_letter_word


def test_services_start_and_answer(run_dir: Path, elasticsearch, zookeeper):
    assert elasticsearch.request("GET", "/_cluster/health")["status"] in ("green", "yellow")
    assert four_letter_word(zookeeper.client_port) == "imok"
    if os.environ.get("OAM_SCENARIO_HANG"):
        # One server that would outlive a killed run (no parent-death signal): only the next
        # run's clean-up of stale runs can stop it.
        escaped = ZooKeeperServer(run_dir / "escaped-zookeeper", free_port(), die_with_parent=False)
        escaped.start()
        Path(os.environ["OAM_SCENARIO_HANG"]).write_text(str(run_dir))
        time.sleep(600)
