"""Alerts: rules kept in the CMDB, evaluated against Elasticsearch, delivered by Prometheus Alertmanager.

Usage::

    from alerts import Rule, parse_rule

    rule = parse_rule("prod/alerts/order-errors", {"kind": "service", "service": "order-service",
                                                   "measure": "error_rate", "op": ">", "threshold": 5})
    rule.for_seconds      # 0.0: fires at the first evaluation that finds the condition true

Pieces: :mod:`alerts.rules` (the rule document and its CMDB schema), :mod:`alerts.state` (the
pure state machine per rule and group), :mod:`alerts.flapping` (flap detection),
:mod:`alerts.history` (every transition as a document in ``<prefix>-alerts-*``), :mod:`alerts.queries` (Elasticsearch aggregations),
:mod:`alerts.notify` (Alertmanager's API), :mod:`alerts.replay` (a rule replayed over stored data), :mod:`alerts.evaluator` (the loop, one active
evaluator through a ZooKeeper election, state kept in ZooKeeper), :mod:`alerts.cli` (``oam alerts``).
"""
from __future__ import annotations

from .rules import RULE_PATTERN, RULE_SCHEMA, Rule, RuleError, parse_rule, rule_key
from .state import AlertState, Transition, step

__all__ = ["RULE_PATTERN", "RULE_SCHEMA", "AlertState", "Rule", "RuleError", "Transition", "parse_rule", "rule_key",
           "step"]
