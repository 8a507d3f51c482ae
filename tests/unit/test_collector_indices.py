"""Retention picks whole daily indices older than each kind's limit, and nothing else."""
from __future__ import annotations

from datetime import date

from collector.indices import expired_indices


def test_expired_indices_per_kind() -> None:
    names = ["oam-logs-2026.11.01", "oam-logs-2026.11.10", "oam-logs-2026.11.24", "oam-metrics-2026.10.01",
             "oam-errors-2026.11.01", "other-logs-2020.01.01", "oam-logs-latest", "oam-deadletter-2026.10.01"]
    expired = expired_indices(names, {"logs": 14, "metrics": 30, "deadletter": 30}, date(2026, 11, 24))
    assert expired == ["oam-deadletter-2026.10.01", "oam-logs-2026.11.01", "oam-metrics-2026.10.01"]
