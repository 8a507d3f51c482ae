"""Index names and templates per kind of document."""
from __future__ import annotations

import fnmatch
from datetime import datetime, timedelta, timezone

import pytest

from telemetry.ecs import KINDS
from telemetry.templates import COMMON_MAPPINGS, index_name, index_pattern, index_template


def test_indices_are_daily_in_utc():
    moment = datetime(2026, 11, 24, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert index_name("logs", moment) == "oam-logs-2026.11.25"


def test_an_unknown_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown document kind 'log'"):
        index_name("log")
    with pytest.raises(ValueError, match="unknown document kind"):
        index_template("traces")


def test_each_kind_has_a_template_that_matches_only_its_own_indices():
    for kind in KINDS:
        patterns = index_template(kind)["index_patterns"]
        for other in KINDS:
            matches = any(fnmatch.fnmatch(index_name(other), p) for p in patterns)
            assert matches == (kind == other), (kind, other)
    assert all(fnmatch.fnmatch(index_name(kind), index_pattern()) for kind in KINDS)


def test_the_ids_that_join_a_trace_are_keywords():
    props = COMMON_MAPPINGS["properties"]
    for field in ("trace", "transaction", "span", "parent"):
        assert props[field]["properties"]["id"]["type"] == "keyword"
    assert props["event"]["properties"]["duration"]["type"] == "long"
