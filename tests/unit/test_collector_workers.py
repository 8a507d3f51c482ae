"""The collector's worker processes: how many, where each spools, one port bound by all."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from collector.config import CollectorConfig
from collector.workers import shared_port_socket, spool_dirs, worker_count, worker_spool
from foundation.settings import SettingsError, validate


def test_auto_is_one_worker_per_usable_core_and_a_number_is_kept():
    assert worker_count("auto") == len(os.sched_getaffinity(0))
    assert worker_count(3) == 3
    assert CollectorConfig().workers == "auto"
    assert validate(CollectorConfig, {"workers": 2}, "collector.toml").workers == 2
    with pytest.raises(SettingsError, match="workers"):
        validate(CollectorConfig, {"workers": 0}, "collector.toml")
    with pytest.raises(SettingsError, match="workers"):
        validate(CollectorConfig, {"workers": "many"}, "collector.toml")


def test_each_worker_has_a_spool_of_its_own_and_all_are_found(tmp_path: Path):
    assert worker_spool(tmp_path, 0) == tmp_path  # one worker keeps the layout of a single process
    assert worker_spool(tmp_path, 2) == tmp_path / "worker-2"
    (tmp_path / "worker-1").mkdir()
    (tmp_path / "worker-2").mkdir()
    assert spool_dirs(tmp_path) == [tmp_path, tmp_path / "worker-1", tmp_path / "worker-2"]


def test_several_processes_may_listen_on_one_port():
    first = shared_port_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = shared_port_socket("127.0.0.1", port)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        first.close()
        second.close()
