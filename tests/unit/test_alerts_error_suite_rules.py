"""The ``error`` and ``suite`` rule kinds: schema, aggregation bodies, how a bucket becomes a
sample, and the rule pack's new rules."""
from __future__ import annotations

import pytest

from alerts.notify import annotations_of
from alerts.queries import dead_letter_body, error_body, error_sample, evaluate
from alerts.replay import ReplayError, replay
from alerts.rule_pack import default_rules
from alerts.rules import ERROR_LOOKBACK, RuleError, parse_rule
from alerts.state import AlertState

NOW = 1_700_000_000.0
NEW = {"kind": "error", "condition": "new", "service": "order-service", "window": "5m"}
REGRESSION = {"kind": "error", "condition": "regression", "quiet": "6h", "window": "5m"}
FREQUENT = {"kind": "error", "condition": "frequency", "op": ">=", "threshold": 10, "window": "10m"}
HEALTH = {"kind": "suite", "check": "elasticsearch_health", "op": ">", "threshold": 0}
DEAD = {"kind": "suite", "check": "dead_letters", "window": "5m"}
LOAD = {"kind": "metric", "metric": "system.load.1", "op": ">", "threshold": 4}


def rule(value: dict):
    return parse_rule("prod/alerts/x", value)


@pytest.mark.parametrize("value, named", [
    ({"kind": "error"}, "condition"),
    ({**NEW, "condition": "sudden"}, "condition"),
    ({k: v for k, v in FREQUENT.items() if k != "threshold"}, "threshold"),
    ({k: v for k, v in REGRESSION.items() if k != "quiet"}, "quiet"),
    ({**REGRESSION, "quiet": "six hours"}, "quiet"),
    ({**NEW, "quiet": "6h"}, "quiet"),
    ({**NEW, "group_by": ["host"]}, "group_by"),
    ({**NEW, "measure": "latency"}, "measure"),
    ({**NEW, "lookback": "1m"}, "lookback"),
    ({**REGRESSION, "lookback": "5h"}, "lookback"),
    ({"kind": "suite"}, "check"),
    ({**HEALTH, "check": "zookeeper"}, "check"),
    ({**HEALTH, "service": "order-service"}, "service"),
    ({**DEAD, "host": "web-1"}, "host"),
    ({**DEAD, "group_by": ["host"]}, "group_by"),
    ({**DEAD, "condition": "new"}, "condition"),
    ({**LOAD, "check": "dead_letters"}, "check"),
])
def test_an_invalid_error_or_suite_rule_is_refused_with_one_line_naming_the_field(value, named):
    with pytest.raises(RuleError) as caught:
        rule(value)
    message = str(caught.value)
    assert "\n" not in message and named in message and "prod/alerts/x" in message


def test_valid_rules_parse_and_describe_themselves():
    assert rule(NEW).describe() == "error groups of order-service first seen in the last 300s"
    regression = rule(REGRESSION)
    assert (regression.quiet, regression.lookback) == (21600.0, ERROR_LOOKBACK)
    assert regression.describe() == "error groups seen in the last 300s after 21600s quiet"
    assert rule(FREQUENT).describe() == "occurrences of an error group >= 10 over 600s"
    assert rule(HEALTH).describe() == "Elasticsearch cluster health (0 green, 1 yellow, 2 red) > 0"
    assert rule(DEAD).describe() == "dead letters > 0 over 300s"


def test_the_error_query_pages_groups_over_the_lookback_and_loads_no_document():
    body = error_body(rule({**NEW, "host": "web-1"}), NOW)
    assert body["size"] == 0
    groups = body["aggs"]["groups"]
    assert groups["composite"]["sources"] == [{"error_group": {"terms": {"field": "error.grouping_key"}}},
                                              {"service": {"terms": {"field": "service.name"}}}]
    filters = body["query"]["bool"]["filter"]
    assert {"term": {"service.name": "order-service"}} in filters and {"term": {"host.name": "web-1"}} in filters
    assert {"range": {"@timestamp": {"gte": "2023-11-07T22:13:20.000Z", "lt": "2023-11-14T22:13:20.000Z"}}} in filters
    measures = groups["aggs"]
    assert measures["first"] == {"min": {"field": "@timestamp"}}
    assert measures["recent"]["filter"] == {"range": {"@timestamp": {"gte": "2023-11-14T22:08:20.000Z"}}}
    assert measures["recent"]["aggs"]["latest"]["top_hits"]["size"] == 1
    assert measures["before"]["filter"] == {"range": {"@timestamp": {"lt": "2023-11-14T22:08:20.000Z"}}}


def test_a_frequency_rule_looks_back_only_as_far_as_a_grouped_log_rule():
    filters = error_body(rule(FREQUENT), NOW)["query"]["bool"]["filter"]
    assert {"range": {"@timestamp": {"gte": "2023-11-14T21:13:20.000Z", "lt": "2023-11-14T22:13:20.000Z"}}} in filters


def bucket(first: float, last: float, count: int, before: float | None = None, recent_first: float | None = None,
           key: str = "abc123") -> dict:
    """A composite bucket as Elasticsearch answers :func:`error_body` (times in POSIX seconds)."""
    hits = [{"_source": {"error": {"type": "KeyError", "message": "'sku'"}}}] if count else []
    return {"key": {"error_group": key, "service": "order-service"}, "doc_count": count + 1,
            "first": {"value": first * 1000}, "last": {"value": last * 1000},
            "before": {"last": {"value": None if before is None else before * 1000}},
            "recent": {"doc_count": count, "first": {"value": None if recent_first is None else recent_first * 1000},
                       "latest": {"hits": {"hits": hits}}}}


def test_a_group_first_seen_in_the_window_is_new_and_an_older_one_is_not():
    new = rule(NEW)
    sample = error_sample(new, NOW, bucket(NOW - 60, NOW - 10, 3, recent_first=NOW - 60))
    assert (sample.labels, sample.value, sample.outcome) == ({"error_group": "abc123", "service": "order-service"},
                                                             3.0, True)
    assert sample.details["error_type"] == "KeyError" and sample.details["error_message"] == "'sku'"
    assert sample.details["first_seen"] == "2023-11-14T22:12:20Z"
    assert error_sample(new, NOW, bucket(NOW - 3000, NOW - 10, 3, NOW - 3000, NOW - 60)).outcome is False
    quiet_lately = error_sample(new, NOW, bucket(NOW - 3000, NOW - 400, 0, NOW - 400))
    assert (quiet_lately.value, quiet_lately.outcome) == (0.0, False)  # counted, so a firing alert resolves
    assert error_sample(new, NOW, bucket(NOW - 9000, NOW - 8000, 0, NOW - 8000)) is None  # long quiet: left out


def test_a_regression_needs_the_quiet_period_before_the_window():
    regression = rule(REGRESSION)
    back = bucket(NOW - 86400, NOW - 5, 2, before=NOW - 7 * 3600, recent_first=NOW - 100)
    assert error_sample(regression, NOW, back).outcome is True
    steady = bucket(NOW - 86400, NOW - 5, 2, before=NOW - 400, recent_first=NOW - 100)
    assert error_sample(regression, NOW, steady).outcome is False
    brand_new = bucket(NOW - 100, NOW - 5, 2, recent_first=NOW - 100)
    assert error_sample(regression, NOW, brand_new).outcome is False  # new, not a regression


def test_a_frequency_rule_compares_the_windows_count():
    frequent = rule(FREQUENT)
    assert error_sample(frequent, NOW, bucket(NOW - 500, NOW - 1, 10, recent_first=NOW - 500)).outcome is True
    assert error_sample(frequent, NOW, bucket(NOW - 500, NOW - 1, 9, recent_first=NOW - 500)).outcome is False


def test_the_dead_letter_query_counts_the_window():
    body = dead_letter_body(rule(DEAD), NOW)
    assert body == {"size": 0, "track_total_hits": True, "query": {"bool": {"filter": [
        {"range": {"@timestamp": {"gte": "2023-11-14T22:08:20.000Z", "lt": "2023-11-14T22:13:20.000Z"}}}]}}}


class NoIndices:
    """What Elasticsearch answers a search over no index (a fresh suite)."""

    def search(self, **_: object) -> dict:
        return {"took": 0, "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}


def test_no_index_yet_is_no_error_group_and_no_dead_letter():
    assert evaluate(NoIndices(), rule(NEW), NOW).groups == {}
    [dead] = evaluate(NoIndices(), rule(DEAD), NOW).groups.values()
    assert (dead.value, dead.outcome) == (0.0, False)


def test_the_health_check_cannot_be_replayed_and_says_why():
    with pytest.raises(ReplayError, match="elasticsearch_health cannot be replayed"):
        replay(NoIndices(), rule(HEALTH), [NOW])


def test_the_annotations_can_name_the_error_and_the_cluster_status():
    new = rule({**NEW, "annotations": {"summary": "new in {service}: {error_type}: {error_message} ({error_group})"}})
    state = AlertState(labels={"error_group": "abc123"}, value=3.0,
                       details={"error_type": "KeyError", "error_message": "'sku'"})
    assert annotations_of(new, state)["summary"] == "new in order-service: KeyError: 'sku' (abc123)"


def test_the_pack_watches_disks_error_groups_and_the_suite_itself():
    pack = default_rules(["gateway"])
    rules = {name: parse_rule(f"development/alerts/{name}", value) for name, value in pack.items()}
    disk = rules["disk-full"]
    assert (disk.kind, disk.metric, disk.stat, disk.op, disk.threshold, disk.group_by) == (
        "metric", "system.filesystem.used.pct", "max", ">", 0.9, ("host",))
    assert (rules["new-error-group"].kind, rules["new-error-group"].condition) == ("error", "new")
    assert rules["elasticsearch-not-green"].check == "elasticsearch_health"
    assert rules["dead-letters"].check == "dead_letters" and rules["dead-letters"].breached(1)
    summary = annotations_of(disk, AlertState(labels={"host": "web-1"}, value=0.934))["summary"]
    assert summary == "a filesystem of web-1 is 93% used (over 90%)"


def test_a_long_error_message_is_kept_short_in_the_alerts_state():
    long = bucket(NOW - 60, NOW - 10, 1, recent_first=NOW - 60)
    long["recent"]["latest"]["hits"]["hits"][0]["_source"]["error"]["message"] = "x" * 5000
    assert len(error_sample(rule(NEW), NOW, long).details["error_message"]) == 200
