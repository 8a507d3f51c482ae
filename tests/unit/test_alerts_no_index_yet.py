"""A fresh suite has no transactions or metrics index yet: Elasticsearch answers a search over no
index without aggregations. That is no data, never a crash of the evaluator."""
from __future__ import annotations

from alerts.queries import evaluate
from alerts.rules import parse_rule


class NoIndices:
    """What Elasticsearch answers a ``size: 0`` search with aggregations when no index matches."""

    def search(self, **_: object) -> dict:
        return {"took": 0, "timed_out": False, "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}


def rule(value: dict) -> object:
    return parse_rule("development/alerts/r", value)


def test_service_rules_read_no_data_and_absent_rules_every_host_silent():
    ungrouped = rule({"kind": "service", "service": "gateway", "measure": "error_rate", "op": ">", "threshold": 5})
    assert [(s.value, s.outcome) for s in evaluate(NoIndices(), ungrouped, 1e9).groups.values()] == [(None, None)]
    grouped = rule({"kind": "service", "service": "gateway", "measure": "error_rate", "op": ">", "threshold": 5,
                    "group_by": ["host"]})
    assert evaluate(NoIndices(), grouped, 1e9).groups == {}
    absent = rule({"kind": "absent", "intervals": 3, "metric_interval": "10s"})
    silent = evaluate(NoIndices(), absent, 1e9, hosts=["web-1"]).groups
    assert [(s.labels, s.outcome) for s in silent.values()] == [({"host": "web-1"}, True)]
