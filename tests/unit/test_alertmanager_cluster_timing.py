"""A clustered Alertmanager's group_interval against its peers' wait (backing_services.alertmanager)."""
from __future__ import annotations

import pytest

from alerts.amconfig import alertmanager_config
from backing_services.alertmanager import AlertmanagerCluster, check_cluster_timing, seconds
from backing_services.process import ServiceError


def test_durations_read_as_alertmanager_writes_them():
    assert [seconds(d) for d in ("500ms", "10s", "5m", "1h30m", "1d")] == [0.5, 10, 300, 5400, 86400]
    for bad in ("", "10", "5 m", "1x", "s10"):
        with pytest.raises(ValueError, match="not a duration"):
            seconds(bad)


def test_the_suites_defaults_leave_every_peer_time_to_wait():
    check_cluster_timing(alertmanager_config("127.0.0.1:25"), size=3, peer_timeout="15s")  # 5m against 2 x 15s
    check_cluster_timing(alertmanager_config("127.0.0.1:25", group_interval="10s"), size=2, peer_timeout="5s")


def test_a_group_interval_under_twice_the_last_peers_wait_is_refused_naming_both():
    config = alertmanager_config("127.0.0.1:25", group_wait="1s", group_interval="1s")
    with pytest.raises(ServiceError, match=r"group_interval 1s .*\(1 x peer timeout 5s"):
        AlertmanagerCluster("/nonexistent", config, size=2, peer_timeout="5s")  # before any port or process
    with pytest.raises(ServiceError, match=r"\(2 x peer timeout 5s"):
        check_cluster_timing(alertmanager_config("127.0.0.1:25", group_interval="15s"), size=3, peer_timeout="5s")
