"""The ``metric`` and ``log`` rule kinds (schema and aggregation bodies) and the replay's steps."""
from __future__ import annotations

import pytest

from alerts.queries import LOG_LOOKBACK, log_body, metric_body, service_body
from alerts.replay import ReplayError, evaluation_times, parse_moment, replay
from alerts.rules import RuleError, parse_rule

NOW = 1_700_000_000.0
CPU = {"kind": "metric", "metric": "system.cpu.total.pct", "stat": "max", "op": ">", "threshold": 0.9,
       "window": "5m", "group_by": ["host"]}
QUEUE = {"kind": "metric", "prometheus": "queue_depth", "match": {"queue": "orders"}, "op": ">", "threshold": 100}
TIMEOUTS = {"kind": "log", "level": ["error", "critical"], "service": "order-service", "text": "payment timeout",
            "op": ">=", "threshold": 3, "window": "2m", "group_by": ["host"]}


@pytest.mark.parametrize("rule, field", [
    ({**CPU, "stat": "median"}, "stat"),
    ({**CPU, "group_by": ["route"]}, "route"),
    ({**CPU, "metric": "system cpu"}, "metric"),
    ({**CPU, "prometheus": "up"}, "exactly one of 'metric'"),
    ({k: v for k, v in CPU.items() if k != "metric"}, "exactly one of 'metric'"),
    ({**CPU, "measure": "latency"}, "measure"),
    ({**CPU, "service": "order-service"}, "service"),
    ({k: v for k, v in CPU.items() if k != "threshold"}, "threshold"),
    ({**QUEUE, "match": {"queue": 3}}, "match"),
    ({**QUEUE, "prometheus": "queue-depth"}, "prometheus"),
    ({**TIMEOUTS, "level": "loud"}, "level"),
    ({**TIMEOUTS, "level": []}, "level"),
    ({**TIMEOUTS, "text": ""}, "text"),
    ({**TIMEOUTS, "group_by": ["version"]}, "version"),
    ({**TIMEOUTS, "stat": "max"}, "stat"),
    ({k: v for k, v in TIMEOUTS.items() if k != "op"}, "op"),
])
def test_an_invalid_metric_or_log_rule_is_refused_with_one_line_naming_the_field(rule, field):
    with pytest.raises(RuleError) as caught:
        parse_rule("prod/alerts/x", rule)
    message = str(caught.value)
    assert "\n" not in message and field in message and "prod/alerts/x" in message


def test_the_metric_query_takes_the_stat_per_host_in_the_window_and_loads_no_document():
    rule = parse_rule("prod/alerts/cpu", {**CPU, "host": "web-1"})
    body = metric_body(rule, NOW)
    assert body["size"] == 0
    groups = body["aggs"]["groups"]
    assert groups["composite"]["sources"] == [{"host": {"terms": {"field": "host.name"}}}]
    assert groups["aggs"] == {"value": {"max": {"field": "system.cpu.total.pct"}}}
    filters = body["query"]["bool"]["filter"]
    assert {"exists": {"field": "system.cpu.total.pct"}} in filters and {"term": {"host.name": "web-1"}} in filters
    assert {"range": {"@timestamp": {"gte": "2023-11-14T22:08:20.000Z", "lt": "2023-11-14T22:13:20.000Z"}}} in filters
    assert rule.describe() == "max system.cpu.total.pct host=web-1 > 0.9 over 300s by host"


def test_a_prometheus_sample_is_read_by_name_and_labels_over_all_hosts():
    rule = parse_rule("prod/alerts/queue", QUEUE)
    body = metric_body(rule, NOW)
    assert body["aggs"] == {"value": {"avg": {"field": "prometheus.metrics.queue_depth"}}}
    assert {"term": {"prometheus.labels.queue": "orders"}} in body["query"]["bool"]["filter"]
    system = metric_body(parse_rule("prod/alerts/disk", {"kind": "metric", "metric": "system.filesystem.used.pct",
                                                         "match": {"mount": "/"}, "op": ">", "threshold": 0.9}), NOW)
    assert {"term": {"labels.mount": "/"}} in system["query"]["bool"]["filter"]


def test_the_log_query_counts_in_the_window_per_group_seen_in_the_look_back():
    rule = parse_rule("prod/alerts/timeouts", TIMEOUTS)
    body = log_body(rule, NOW)
    filters = body["query"]["bool"]["filter"]
    assert body["size"] == 0 and "hits" not in body
    assert {"term": {"service.name": "order-service"}} in filters
    assert {"match": {"message": {"query": "payment timeout", "operator": "and"}}} in filters
    levels = next(f["terms"]["log.level"] for f in filters if "terms" in f)
    assert {"error", "critical", "fatal"} <= set(levels)
    look_back = next(f["range"]["@timestamp"]["gte"] for f in filters if "range" in f)
    assert look_back == "2023-11-14T21:13:20.000Z" and LOG_LOOKBACK == 3600
    groups = body["aggs"]["groups"]
    assert groups["composite"]["sources"] == [{"host": {"terms": {"field": "host.name"}}}]
    assert groups["aggs"]["recent"]["filter"]["range"]["@timestamp"]["gte"] == "2023-11-14T22:11:20.000Z"
    whole = log_body(parse_rule("prod/alerts/errors", {"kind": "log", "op": ">", "threshold": 0}), NOW)
    assert "aggs" not in whole and whole["track_total_hits"] is True


def test_the_service_query_is_unchanged_by_the_shared_pieces():
    rule = parse_rule("prod/alerts/e", {"kind": "service", "service": "s", "measure": "error_rate", "op": ">",
                                        "threshold": 1, "group_by": ["host", "version"]})
    body = service_body(rule, NOW)
    assert body["aggs"]["groups"]["composite"]["sources"] == [{"host": {"terms": {"field": "host.name"}}},
                                                              {"version": {"terms": {"field": "service.version"}}}]
    assert body["aggs"]["groups"]["aggs"] == {"failed": {"filter": {"term": {"event.outcome": "failure"}}}}


def test_evaluation_times_and_their_limit():
    assert evaluation_times(0.0, 120.0, 30.0) == [0.0, 30.0, 60.0, 90.0, 120.0]
    with pytest.raises(ReplayError, match=r"86401 evaluations at 1s steps is more than 5000: use a larger --step "
                                          r"\(at least 18s\)"):
        evaluation_times(0.0, 86400.0, 1.0)
    with pytest.raises(ReplayError, match="must lie before"):
        evaluation_times(10.0, 5.0, 1.0)


def test_moments():
    assert parse_moment("now", NOW) == NOW and parse_moment("24h", NOW) == NOW - 86400
    assert parse_moment("2023-11-14T22:13:20Z", 0.0) == NOW == parse_moment("2023-11-14T22:13:20", 0.0)
    with pytest.raises(ReplayError, match="invalid time 'yesterday'"):
        parse_moment("yesterday", NOW)


class Recorded:
    """Answers an ungrouped ``service`` rule's search from a list of (time, failed) transactions."""

    def __init__(self, transactions: list[tuple[float, bool]]) -> None:
        self.transactions = transactions

    def search(self, index: str, query: dict, **_: object) -> dict:
        window = next(f["range"]["@timestamp"] for f in query["bool"]["filter"] if "range" in f)
        low, high = (parse_moment(window[k], 0.0) for k in ("gte", "lt"))
        inside = [failed for at, failed in self.transactions if low <= at < high]
        return {"took": 1, "hits": {"total": {"value": len(inside)}},
                "aggregations": {"failed": {"doc_count": sum(inside)}}}


def test_a_replay_moves_the_state_machine_and_sums_the_firing_time():
    transactions = [(NOW + t, 600 <= t < 1200) for t in range(0, 1800, 10)]
    rule = parse_rule("prod/alerts/e", {"kind": "service", "service": "s", "measure": "error_rate", "op": ">",
                                        "threshold": 50, "window": "1m", "interval": "1m", "for": "2m"})
    seen = []
    result = replay(Recorded(transactions), rule, evaluation_times(NOW, NOW + 1800, 60.0),
                    progress=lambda done, total: seen.append((done, total)))
    assert [(c.at - NOW, c.old, c.new) for c in result.changes] == [
        (660, "inactive", "pending"), (780, "pending", "firing"), (1260, "firing", "resolved")]
    assert result.fired == 1 and result.firing_seconds == 480 and result.firing_at_end == []
    assert seen[-1] == (31, 31) and result.evaluations == 31
