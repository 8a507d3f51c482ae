"""Latency comparison: parameters checked, the aggregations they become, and the ranking of values."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dashboard.latency_comparison import (
    BASELINE_TERMS,
    EDGES_MS,
    SELECTION_TERMS,
    BadSelection,
    histogram,
    histogram_aggregation,
    label_fields,
    parse_range,
    parse_selection,
    rank,
    rows,
    search_filter,
    trace_aggregation,
    trace_rows,
    trace_sources,
    transaction_aggregation,
    transaction_fields,
    transaction_rows,
)

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


def selection(**params: str):
    return parse_selection(params.items(), now=NOW)


def test_edges_are_log_spaced_ten_a_decade_from_a_tenth_of_a_millisecond_to_100_s():
    assert EDGES_MS[0] == 0.1 and EDGES_MS[-1] == 100_000.0 and len(EDGES_MS) == 61
    assert EDGES_MS[EDGES_MS.index(100.0):EDGES_MS.index(1000.0) + 1] == (
        100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0, 630.0, 800.0, 1000.0)
    assert list(EDGES_MS) == sorted(set(EDGES_MS))


def test_the_histogram_is_one_range_aggregation_on_nanoseconds_with_open_ends():
    ranges = histogram_aggregation()["durations"]["range"]["ranges"]
    assert ranges[0] == {"to": 100_000} and ranges[-1] == {"from": 100_000_000_000}
    assert ranges[1] == {"from": 100_000, "to": 125_000} and len(ranges) == len(EDGES_MS) + 1


def test_histogram_buckets_are_trimmed_to_the_used_ones():
    def bucket(start, end, count, failed):
        return {"from": start, "to": end, "doc_count": count, "failed": {"doc_count": failed}}

    response = {"aggregations": {
        "durations": {"buckets": [bucket(None, 100_000, 0, 0), bucket(100_000, 125_000, 3, 1),
                                  bucket(125_000, 160_000, 0, 0), bucket(160_000, 200_000, 2, 0),
                                  bucket(200_000, None, 0, 0)]},
        "failed": {"doc_count": 1}, "percentiles": {"values": {"50.0": 120_000.0, "95.0": 180_000.0, "99.0": None}}}}
    answer = histogram(response)
    assert (answer["count"], answer["failed"]) == (5, 1)
    assert [(b["from_ms"], b["to_ms"], b["count"]) for b in answer["buckets"]] == [
        (0.1, 0.125, 3), (0.125, 0.16, 0), (0.16, 0.2, 2)]
    assert answer["percentiles_ms"] == {"p50": 0.12, "p95": 0.18}
    assert histogram({"aggregations": {}})["buckets"] == []


def test_a_selection_is_a_duration_range_and_or_the_failed_transactions():
    chosen = selection(min_ms="200", max_ms="1.5s")
    assert chosen.filter() == {"bool": {"filter": [{"range": {"event.duration": {"gte": 200_000_000,
                                                                                  "lte": 1_500_000_000}}}]}}
    assert selection(failed="1").filter() == {"bool": {"filter": [{"term": {"event.outcome": "failure"}}]}}
    both = selection(min_ms="200ms", failed="true")
    assert len(both.filter()["bool"]["filter"]) == 2 and both.failed


@pytest.mark.parametrize("params, problem", [
    ({}, "select transactions with min_ms and/or max_ms, or failed=1"),
    ({"failed": "0"}, "select transactions with min_ms and/or max_ms, or failed=1"),
    ({"min_ms": "-5"}, "durations cannot be negative"),
    ({"max_ms": "soon"}, "max_ms must be a duration like 200, 200ms or 1.5s"),
    ({"min_ms": "2s", "max_ms": "1s"}, "min_ms (2s) is above max_ms (1s)"),
    ({"failed": "maybe"}, "failed must be 1 or 0"),
    ({"failed": "1", "from": "yesterday"}, "bad time in from"),
    ({"failed": "1", "colour": "red"}, "unknown parameter 'colour'"),
    ({"min_ms": "1" * 65}, "min_ms is too long"),
])
def test_bad_parameters_are_named(params, problem):
    with pytest.raises(BadSelection) as caught:
        selection(**params)
    assert problem in str(caught.value)


def test_the_histogram_takes_only_the_range():
    assert parse_range([("from", "now-2h"), ("refresh", "10")], now=NOW).start == datetime(
        2026, 12, 3, 7, 0, tzinfo=timezone.utc)
    with pytest.raises(BadSelection, match="min_ms is not a parameter of the histogram"):
        parse_range([("min_ms", "5")], now=NOW)


def test_transactions_are_compared_in_one_request_selection_against_the_rest():
    chosen = selection(min_ms="200")
    fields = transaction_fields(chosen, ["labels.region"])
    assert fields == ["host.name", "service.version", "transaction.name", "http.response.status_code",
                      "event.outcome", "labels.region"]
    aggs = transaction_aggregation(chosen, fields)
    assert aggs["selection"]["filter"] == chosen.filter()
    assert aggs["baseline"]["filter"] == {"bool": {"must_not": [chosen.filter()]}}
    assert aggs["selection"]["aggs"]["0"]["terms"]["field"] == "host.name"
    assert aggs["selection"]["aggs"]["0"]["terms"]["size"] == SELECTION_TERMS
    assert aggs["baseline"]["aggs"]["5"]["terms"] == {"field": "labels.region", "size": BASELINE_TERMS,
                                                      "order": [{"_count": "desc"}, {"_key": "asc"}]}
    assert "event.outcome" not in transaction_fields(selection(failed="1"), [])


def test_trace_documents_are_counted_per_trace_within_each_side_sample():
    sources = trace_sources(["labels.shard"])
    assert sources == [("spans", "labels.shard"), ("errors", "error.grouping_key"), ("logs", "log.level")]
    aggs = trace_aggregation("oam", ["t1", "t2"], ["t3"], sources)
    assert aggs["selection"]["filter"] == {"terms": {"trace.id": ["t1", "t2"]}}
    assert aggs["baseline"]["filter"] == {"terms": {"trace.id": ["t3"]}}
    shard = aggs["selection"]["aggs"]["0"]
    assert shard["filter"] == {"prefix": {"_index": "oam-spans-"}}
    assert shard["aggs"]["terms"]["terms"]["field"] == "labels.shard"
    assert shard["aggs"]["terms"]["aggs"]["traces"]["cardinality"]["field"] == "trace.id"
    assert aggs["baseline"]["aggs"]["2"]["filter"] == {"prefix": {"_index": "oam-logs-"}}


def test_labels_come_from_the_mapping_aggregatable_only_and_capped():
    caps = {"fields": {"labels.shard": {"keyword": {"aggregatable": True}},
                       "labels.cache_hit": {"boolean": {"aggregatable": True}},
                       "labels.note": {"text": {"aggregatable": False}},
                       "labels": {"object": {"aggregatable": False}},
                       **{f"labels.k{i:02}": {"keyword": {"aggregatable": True}} for i in range(30)}}}
    found = label_fields(caps)
    assert found[:2] == ["labels.cache_hit", "labels.k00"] and len(found) == 20
    assert "labels.note" not in found and "labels" not in found


def test_shares_and_ranking_most_over_represented_first():
    found = rows("labels.shard", "spans", {"3": 6, "1": 1}, {"1": 6, "2": 6, "4": 6}, 6, 18)
    found += rows("host.name", "transactions", {"web-1": 2}, {"web-1": 6}, 6, 18)
    ranked = rank(found)
    assert [(r["dimension"], r["value"]) for r in ranked] == [
        ("labels.shard", "3"), ("host.name", "web-1"), ("labels.shard", "1"), ("labels.shard", "2"),
        ("labels.shard", "4")]
    top = ranked[0]
    assert (top["selection"], top["baseline"], top["score"]) == (
        {"count": 6, "share": 1.0}, {"count": 0, "share": 0.0}, 1.0)
    assert ranked[1]["score"] == 0.0 and ranked[1]["selection"]["share"] == round(2 / 6, 4)
    assert rows("host.name", "transactions", {}, {"a": 1}, 0, 1)[0]["selection"]["share"] == 0.0


def test_ties_are_broken_by_selection_share_then_dimension_and_value():
    found = rows("service.version", "transactions", {"1.3.0": 4}, {}, 4, 20)
    found += rows("http.response.status_code", "transactions", {"500": 4}, {}, 4, 20)
    found += rows("labels.shard", "spans", {"1": 4}, {"1": 2}, 4, 20)
    assert [r["value"] for r in rank(found)] == ["500", "1.3.0", "1"]


def test_each_row_filters_the_trace_search_where_it_can():
    assert search_filter("host.name", "web-3") == {"host": "web-3"}
    assert search_filter("labels.shard", "3") == {"labels.shard": "3"}
    assert search_filter("error.grouping_key", "abc") == {"error_group": "abc"}
    assert search_filter("log.level", "error") is None
    assert selection(min_ms="200", max_ms="1234567.5").search_params() == {
        "from": "2026-12-03T08:00:00+00:00", "to": "2026-12-03T09:00:00+00:00", "duration_of": "transaction",
        "min_duration": "200", "max_duration": "1234567.5"}
    assert selection(failed="1").search_params()["outcome"] == "failure"


def test_rows_read_from_the_answers():
    response = {"aggregations": {
        "selection": {"doc_count": 6, "0": {"buckets": [{"key": "web-3", "doc_count": 6}]}},
        "baseline": {"doc_count": 12, "0": {"buckets": [{"key": "web-1", "doc_count": 6},
                                                        {"key": "web-2", "doc_count": 6}]}}}}
    found, totals = transaction_rows(response, ["host.name"])
    assert totals == {"selection": 6, "baseline": 12}
    assert {r["value"]: (r["selection"]["share"], r["baseline"]["share"]) for r in found} == {
        "web-3": (1.0, 0.0), "web-1": (0.0, 0.5), "web-2": (0.0, 0.5)}
    traces = {"aggregations": {
        "selection": {"0": {"terms": {"buckets": [{"key": 0, "key_as_string": "false", "doc_count": 9,
                                                   "traces": {"value": 3}}]}}},
        "baseline": {"0": {"terms": {"buckets": []}}}}}
    (row,) = trace_rows(traces, [("spans", "labels.cache_hit")], 3, 5)
    assert (row["value"], row["selection"], row["source"]) == ("false", {"count": 3, "share": 1.0}, "spans")
