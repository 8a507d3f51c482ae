"""The service map: who called whom told in tracestate, stored at ingest, aggregated and drawn."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from collector.decode import add_origin, decode_line
from dashboard.service_map import MAX_EDGES, aggregations, depths, layout, shape
from dashboard.timerange import TimeRange
from dashboard.trace_query import parse_query
from dashboard.trace_search import transaction_filters
from telemetry.origin import read_origin, valid_service, with_origin

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
HOUR = TimeRange.parse("now-1h", "now", NOW)
SPAN = "00f067aa0ba902b7"


def bucket(key: object, count: int, failed: int, p95_ns: float | None) -> dict:
    return {"key": key, "doc_count": count, "failed": {"doc_count": failed},
            "duration": {"values": {"95.0": p95_ns}}}


def answer(edges: list[dict], nodes: list[dict], other: int = 0) -> dict:
    return {"aggregations": {"edges": {"buckets": edges}, "nodes": {"buckets": nodes, "sum_other_doc_count": other}}}


def test_the_caller_puts_its_entry_first_and_replaces_an_older_one():
    assert with_origin(None, SPAN, "gateway") == f"oam=p:{SPAN};s:gateway"
    assert with_origin("oam=p:1111111111111111;s:edge, vendor=abc", SPAN, "backend") == \
        f"oam=p:{SPAN};s:backend,vendor=abc"
    assert with_origin(",".join(f"v{i}=x" for i in range(40)), SPAN, "a").count(",") == 31  # W3C: 32 members


@pytest.mark.parametrize("name, ok", [("gateway", True), ("order-service.v2", True), ("", False), (None, False),
                                      ("with space", False), ("a,b", False), ("a=b", False), ("a;b", False),
                                      ("é", False), ("x" * 201, False)])
def test_only_names_a_tracestate_value_can_carry_travel(name, ok):
    assert valid_service(name) is ok


def test_the_entry_counts_only_from_the_callees_parent_span():
    state = f"oam=p:{SPAN};s:gateway,vendor=abc"
    assert read_origin(state, SPAN) == ("gateway", "vendor=abc")
    # a service in between that passed our entry on: its callee is not credited to the service before it
    assert read_origin(state, "1111111111111111") == (None, "vendor=abc")
    assert read_origin("vendor=abc", SPAN) == (None, "vendor=abc")
    assert read_origin(f"oam=p:{SPAN.upper()};s:gateway", SPAN.upper()) == (None, "")
    assert read_origin("oam=garbage", SPAN) == (None, "")


def test_the_collector_stores_the_caller_as_service_origin_and_keeps_the_rest_of_tracestate():
    line = (b'{"_kind":"transactions","@timestamp":"%s","service":{"name":"backend"},"parent":{"id":"%s"},'
            b'"transaction":{"id":"aaaaaaaaaaaaaaaa"},"labels":{"tracestate":"oam=p:%s;s:gateway,vendor=abc"}}'
            % (datetime.now(timezone.utc).isoformat().encode(), SPAN.encode(), SPAN.encode()))
    doc = decode_line(line).source
    assert doc["service"] == {"name": "backend", "origin": {"name": "gateway"}}
    assert doc["labels"] == {"tracestate": "vendor=abc"}
    alone = {"service": {"name": "worker"}, "parent": {"id": SPAN}, "labels": {"tracestate": f"oam=p:{SPAN};s:backend"}}
    add_origin(alone)
    assert alone == {"service": {"name": "worker", "origin": {"name": "backend"}}, "parent": {"id": SPAN}}
    other = {"service": {"name": "x"}, "labels": {"tracestate": "vendor=abc", "shard": "2"}}
    add_origin(other)
    assert other == {"service": {"name": "x"}, "labels": {"tracestate": "vendor=abc", "shard": "2"}}
    unparented = {"service": {"name": "x"}, "labels": {"tracestate": f"oam=p:{SPAN};s:gateway"}}
    add_origin(unparented)
    assert unparented == {"service": {"name": "x"}}


def test_one_search_aggregates_edges_by_caller_and_callee_with_failures_and_p95_capped():
    aggs = aggregations()
    sources = aggs["edges"]["composite"]["sources"]
    assert [next(iter(s.values()))["terms"]["field"] for s in sources] == ["service.origin.name", "service.name"]
    assert aggs["edges"]["composite"]["size"] == MAX_EDGES
    for part in ("edges", "nodes"):
        assert aggs[part]["aggs"]["failed"] == {"filter": {"term": {"event.outcome": "failure"}}}
        assert aggs[part]["aggs"]["duration"]["percentiles"] == {"field": "event.duration", "percents": [95]}


def test_edges_get_rate_per_second_error_rate_and_p95_in_ms():
    found = shape(answer([bucket({"caller": "gateway", "callee": "backend"}, 7200, 72, 35_500_000),
                          bucket({"caller": "backend", "callee": "worker"}, 360, 0, None)],
                         [bucket("gateway", 7200, 72, 40_000_000),
                          bucket("backend", 7200, 90, 35_500_000)]), HOUR)
    assert found["seconds"] == 3600 and not found["truncated"]
    assert found["edges"] == [
        {"caller": "backend", "callee": "worker", "count": 360, "rate_per_s": 0.1, "failed": 0, "error_rate": 0.0,
         "p95_ms": None},
        {"caller": "gateway", "callee": "backend", "count": 7200, "rate_per_s": 2.0, "failed": 72, "error_rate": 0.01,
         "p95_ms": 35.5}]
    # the worker has no transactions of its own in this answer, yet it is a node
    assert [(n["name"], n["count"], n["error_rate"]) for n in found["nodes"]] == [
        ("backend", 7200, 0.0125), ("gateway", 7200, 0.01), ("worker", 0, 0.0)]


def test_a_cap_hit_is_said():
    full = [bucket({"caller": f"s{i}", "callee": "t"}, 1, 0, 1.0) for i in range(MAX_EDGES)]
    assert shape(answer(full, []), HOUR)["truncated"]
    assert shape(answer([], [bucket("a", 1, 0, 1.0)], other=5), HOUR)["truncated"]
    assert shape({}, HOUR) == {"from": HOUR.start.isoformat(), "to": HOUR.end.isoformat(), "seconds": 3600.0,
                               "nodes": [], "edges": [], "truncated": False}


def test_columns_follow_the_longest_chain_of_calls_and_loops_end():
    chain = [{"caller": "gateway", "callee": "backend"}, {"caller": "backend", "callee": "worker"},
             {"caller": "gateway", "callee": "worker"}]
    assert depths(["backend", "gateway", "worker"], chain) == {"gateway": 0, "backend": 1, "worker": 2}
    loop = [{"caller": "a", "callee": "b"}, {"caller": "b", "callee": "a"}, {"caller": "a", "callee": "a"}]
    assert max(depths(["a", "b"], loop).values()) <= 1


def test_the_drawing_puts_callers_left_of_callees_and_curves_calls_back():
    service_map = {"nodes": [{"name": n} for n in ("a", "b", "c")],
                   "edges": [{"caller": "a", "callee": "b"}, {"caller": "b", "callee": "c"},
                             {"caller": "c", "callee": "b"}]}
    drawn = layout(service_map)
    where = drawn["nodes"]
    assert where["a"][0] < where["b"][0] < where["c"][0]
    paths = {(e["caller"], e["callee"]): path for e, path, _x, _y in drawn["edges"]}
    assert " L" in paths[("a", "b")] and " C" in paths[("c", "b")]
    assert drawn["width"] > where["c"][0] and drawn["height"] > max(y for _x, y in where.values())


def test_an_edge_opens_the_trace_search_of_calls_from_its_caller():
    q = parse_query([("service", "backend"), ("caller", "gateway")], now=NOW)
    assert {"term": {"service.origin.name": "gateway"}} in transaction_filters(q)
    assert q.describe()["caller"] == "gateway"
