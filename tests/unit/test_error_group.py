"""One error group's query and answer, grouping-key checks, and the time ranges the picker offers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dashboard.error_group import BadGroupingKey, check_key, group_query, shape_group
from dashboard.timerange import BadTimeRange, TimeRange

NOW = datetime(2026, 11, 25, 12, 34, 56, tzinfo=timezone.utc)  # a Wednesday
RANGE = TimeRange.parse("now-1h", None, NOW)


def _doc(at: str, trace: str, host: str) -> dict:
    return {"@timestamp": at, "service": {"name": "worker", "version": "1.2.0"}, "host": {"name": host},
            "trace": {"id": trace}, "error": {"type": "TimeoutError", "message": "shard 2", "stack_trace": "File x"}}


def test_a_group_is_shaped_with_its_series_affected_values_and_occurrences():
    latest = _doc("2026-11-25T12:30:00Z", "a" * 32, "web-2")
    response = {"hits": {"total": {"value": 7}}, "aggregations": {
        "first": {"value_as_string": "2026-11-20T00:00:00.000Z"}, "last": {"value_as_string": "2026-11-25T12:30:00.000Z"},
        "latest": {"hits": {"hits": [{"_source": latest}]}},
        "earliest": {"hits": {"hits": [{"_source": {"service": {"version": "1.1.0"}}}]}}, "active": {"buckets": []},
        "in_range": {"doc_count": 2, "count_over_time": {"buckets": [{"key": 1000, "doc_count": 0},
                                                                      {"key": 2000, "doc_count": 2}]},
                     "recent": {"hits": {"hits": [{"_source": latest},
                                                  {"_source": _doc("2026-11-25T12:00:00Z", "b" * 32, "web-1")}]}},
                     "services": {"buckets": [{"key": "worker", "doc_count": 2}]},
                     "hosts": {"buckets": [{"key": "web-1", "doc_count": 1}, {"key": "web-2", "doc_count": 1}]},
                     "versions": {"buckets": [{"key": "1.2.0", "doc_count": 2}]}}}}
    group = shape_group("k1", response)
    assert group["count"] == 2 and group["total"] == 7 and group["type"] == "TimeoutError"
    assert group["first_seen"].startswith("2026-11-20") and group["stack_trace"] == "File x"
    assert group["first_release"] == "1.1.0" and group["regressed"] is False
    assert group["series"]["count"] == [[1000, 0], [2000, 2]]
    assert [h["value"] for h in group["hosts"]] == ["web-1", "web-2"]
    assert [o["trace_id"] for o in group["occurrences"]] == ["a" * 32, "b" * 32]


def test_an_unknown_group_is_none():
    assert shape_group("k1", {"hits": {"total": {"value": 0}}, "aggregations": {}}) is None


def test_the_query_bounds_the_range_parts_but_not_first_and_last_seen():
    body = group_query("k1", RANGE)
    assert body["query"]["bool"]["filter"] == [{"term": {"error.grouping_key": "k1"}}]
    assert body["aggs"]["in_range"]["filter"] == RANGE.query()
    assert set(body["aggs"]) == {"first", "last", "latest", "earliest", "active", "in_range"}
    assert "filter" not in body["aggs"]["active"] and body["aggs"]["active"]["date_histogram"]["min_doc_count"] == 1


@pytest.mark.parametrize("key", ["", "a" * 129, "a b", "../etc", "<script>"])
def test_malformed_grouping_keys_are_refused(key):
    with pytest.raises(BadGroupingKey, match="not an error grouping key"):
        check_key(key)


def test_a_sha1_grouping_key_is_accepted():
    assert check_key("0123456789abcdef0123456789abcdef01234567")


def test_date_math_rounds_like_elasticsearch():
    today = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    assert TimeRange.parse("now-1d/d", None, NOW) == TimeRange(today - timedelta(days=1), NOW)
    assert TimeRange.parse("now/d", "now/d", NOW).end == today + timedelta(days=1) - timedelta(milliseconds=1)
    assert TimeRange.parse("now/h", None, NOW).start == NOW.replace(minute=0, second=0, microsecond=0)
    assert TimeRange.parse("now-1w/w", None, NOW).start == today - timedelta(days=9)  # Monday of last week
    assert TimeRange.parse("now-7d", None, NOW).start == NOW - timedelta(days=7)


@pytest.mark.parametrize("text", ["now/x", "now-1d/", "now-/d", "now/d/d"])
def test_bad_date_math_says_what_to_use(text):
    with pytest.raises(BadTimeRange, match="now-1d/d"):
        TimeRange.parse(text, None, NOW)
