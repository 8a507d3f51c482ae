"""An error group "regressed": back after a quiet period, judged from hourly buckets of its occurrences."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dashboard.error_group import QUIET_PERIOD, BadQuiet, parse_quiet, regression

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp() * 1000
HOUR = 3_600_000


def _bucket(first_h: float, last_h: float, count: int = 2) -> dict:
    return {"doc_count": count, "first": {"value": T0 + first_h * HOUR}, "last": {"value": T0 + last_h * HOUR}}


def test_a_comeback_after_a_day_without_occurrences_is_regressed():
    answer = regression([_bucket(0, 0.5), _bucket(1.1, 1.2), _bucket(30.2, 30.9), _bucket(31, 31.5)])
    assert answer["regressed"] is True
    assert answer["latest_burst_started"] == "2026-11-02T06:12:00.000Z"
    assert answer["quiet_before_hours"] == 29.0 and answer["quiet_hours"] == 24


def test_the_latest_long_gap_starts_the_burst_and_a_shorter_one_is_no_regression():
    answer = regression([_bucket(0, 0.1), _bucket(50, 50.2), _bucket(60, 60.1)])
    assert (answer["quiet_before_hours"], answer["latest_burst_started"]) == (49.9, "2026-11-03T02:00:00.000Z")
    answer = regression([_bucket(0, 0.1), _bucket(23, 23.5)])
    assert answer["regressed"] is False and answer["latest_burst_started"] == "2026-11-01T00:00:00.000Z"


def test_the_quiet_period_is_a_parameter():
    buckets = [_bucket(0, 0.1), _bucket(3.1, 3.2)]
    assert regression(buckets, timedelta(hours=2))["regressed"] is True
    assert regression(buckets)["regressed"] is False
    assert regression([]) == {"regressed": False, "quiet_hours": 24, "latest_burst_started": None,
                              "quiet_before_hours": None}


def test_quiet_periods_parse_in_hours_or_days():
    assert parse_quiet(None) == QUIET_PERIOD == timedelta(hours=24)
    assert parse_quiet("6h") == timedelta(hours=6) and parse_quiet("2d") == timedelta(days=2)


@pytest.mark.parametrize("text", ["0h", "30m", "91d", "h", "1.5h", "-2d", "24"])
def test_bad_quiet_periods_are_refused_naming_the_form(text):
    with pytest.raises(BadQuiet, match="quiet must be hours or days like 24h"):
        parse_quiet(text)
