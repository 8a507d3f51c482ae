"""Trace search: parameters checked, and the Elasticsearch queries they become."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from dashboard.trace_query import BadTraceQuery, parse_query
from dashboard.trace_search import (
    details_aggregation,
    document_conditions,
    ids_aggregation,
    order_rows,
    transaction_filters,
    whole_trace,
    whole_trace_aggregation,
    within,
)
from oam.cli import cli

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


def query(**params: str):
    return parse_query(params.items(), now=NOW)


def test_defaults_are_the_last_hour_newest_first_whole_trace_durations():
    q = query()
    assert (q.time_range.start, q.time_range.end) == (datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc), NOW)
    assert (q.sort, q.duration_of, q.limit, q.min_ms, q.max_ms) == ("newest", "trace", 50, None, None)


@pytest.mark.parametrize("text, ms", [("200", 200.0), ("200ms", 200.0), ("1.5s", 1500.0), (" 0 ", 0.0)])
def test_durations_in_milliseconds_or_seconds(text, ms):
    assert query(min_duration=text).min_ms == ms


@pytest.mark.parametrize("params, problem", [
    ({"sort": "fastest"}, "sort must be one of newest, slowest, not 'fastest'"),
    ({"min_duration": "-5"}, "durations cannot be negative"),
    ({"max_duration": "soon"}, "max_duration must be a duration like 200, 200ms or 1.5s"),
    ({"min_duration": "2s", "max_duration": "1s"}, "min_duration (2s) is above max_duration (1s)"),
    ({"duration_of": "span"}, "duration_of must be one of trace, transaction"),
    ({"outcome": "broken"}, "outcome must be one of success, failure, unknown"),
    ({"status": "99"}, "status must be an HTTP status code"),
    ({"limit": "0"}, "limit must be a whole number from 1 to 500"),
    ({"from": "yesterday"}, "bad time in from: 'yesterday'"),
    ({"from": "now", "to": "now-1h"}, "must be before to"),
    ({"servce": "backend"}, "unknown search parameter 'servce'"),
    ({"text": "x" * 201}, "text is too long"),
])
def test_bad_parameters_are_named(params, problem):
    with pytest.raises(BadTraceQuery) as caught:
        query(**params)
    assert problem in str(caught.value)


def test_one_parameter_given_twice_with_different_values_is_refused():
    with pytest.raises(BadTraceQuery, match="sort is given twice"):
        parse_query([("sort", "newest"), ("sort", "slowest")], now=NOW)
    assert parse_query([("service", ""), ("service", "backend")], now=NOW).terms == {"service.name": "backend"}


def test_transaction_filters_hold_for_one_transaction():
    q = parse_query([("service", "backend"), ("operation", "POST /orders"), ("status", "201"),
                     ("min_duration", "200"), ("duration_of", "transaction")], now=NOW)
    filters = transaction_filters(q)
    assert filters[0] == q.time_range.query()
    assert {"term": {"service.name": "backend"}} in filters
    assert {"term": {"transaction.name": "POST /orders"}} in filters
    assert {"term": {"http.response.status_code": 201}} in filters
    assert {"range": {"event.duration": {"gte": 200_000_000}}} in filters


def test_trace_durations_bound_the_whole_trace_not_one_transaction():
    q = query(min_duration="200", max_duration="1s")
    assert not any("range" in f and "event.duration" in f["range"] for f in transaction_filters(q))
    bucket = {"key": "t1", "start": {"value": 1000.0, "value_as_string": "1970-01-01T00:00:01.000Z"},
              "hops": {"buckets": [{"at": {"value": 1000.0}, "took": {"value": 190_000_000}},    # the request
                                   {"at": {"value": 1190.0}, "took": {"value": 15_000_000}}]}}  # its queued job
    trace = whole_trace(bucket)
    assert trace == {"trace_id": "t1", "start": "1970-01-01T00:00:01.000Z", "start_ms": 1000.0, "duration_ms": 205.0}
    assert within(q, trace) and not within(query(min_duration="210"), trace)
    assert within(query(min_duration="210", duration_of="transaction"), trace)  # step 2 bounded the transaction
    assert whole_trace({"key": "t2", "start": {"value": None}, "hops": {"buckets": []}}) is None


def test_whole_traces_look_at_their_last_started_transactions():
    hops = whole_trace_aggregation(10)["traces"]["aggs"]["hops"]["terms"]
    assert hops["field"] == "transaction.id" and hops["order"] == [{"at": "desc"}, {"_key": "asc"}]


def test_labels_text_and_error_group_are_conditions_on_other_documents():
    q = parse_query([("labels.shard", "2"), ("labels.cache_hit", "false"), ("text", "timeout shard"),
                     ("error_group", "abc")], now=NOW)
    conditions = dict(document_conditions(q, "oam"))
    assert {"match": {"message": {"query": "timeout shard", "operator": "and"}}} in conditions["oam-logs-*"]
    assert {"term": {"error.grouping_key": "abc"}} in conditions["oam-errors-*"]
    labels = conditions["oam-transactions-*,oam-spans-*"]
    assert {"term": {"labels.shard": "2"}} in labels and {"term": {"labels.cache_hit": "false"}} in labels
    assert document_conditions(query(), "oam") == []


def test_candidates_are_ordered_exactly_and_ties_go_by_trace_id():
    terms = ids_aggregation(100)["traces"]["terms"]
    assert terms["order"] == [{"latest": "desc"}, {"_key": "asc"}] and terms["size"] == 100
    assert ids_aggregation(5, "slowest")["traces"]["aggs"]["latest"] == {"max": {"field": "event.duration"}}


def test_rows_newest_or_slowest_first_ties_by_trace_id():
    rows = [{"trace_id": "b", "start_ms": 1, "duration_ms": 5}, {"trace_id": "a", "start_ms": 1, "duration_ms": 9},
            {"trace_id": "c", "start_ms": 2, "duration_ms": 5}]
    assert [r["trace_id"] for r in order_rows(rows, "newest")] == ["c", "a", "b"]
    assert [r["trace_id"] for r in order_rows(rows, "slowest")] == ["a", "b", "c"]


def test_details_count_each_kind_by_its_index():
    aggs = details_aggregation("oam", 3)["traces"]["aggs"]
    assert aggs["spans"] == {"filter": {"prefix": {"_index": "oam-spans-"}}}
    assert aggs["errors"] == {"filter": {"prefix": {"_index": "oam-errors-"}}}


@pytest.mark.parametrize("args, problem", [
    (["--min-duration", "-1"], "Error: min_duration must be a duration"),
    (["--sort", "fast"], "'fast' is not one of 'newest', 'slowest'"),
    (["--from", "tomorrow"], "Error: bad time in from: 'tomorrow'"),
    (["--label", "shard"], "'shard' is not NAME=VALUE"),
    (["--limit", "9999"], "Error: limit must be a whole number from 1 to 500"),
])
def test_cli_refuses_bad_input_in_one_line(tmp_path, args, problem):
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "traces", "search", *args])
    assert result.exit_code in (1, 2) and problem in result.output
    assert "Traceback" not in result.output
