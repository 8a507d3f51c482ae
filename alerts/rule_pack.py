"""The rules ``oam up`` installs for the local suite, each only if its key has never existed
(an operator's edit or deletion of a pack rule is never undone).

Usage::

    written = install_pack(cmdb, "development", services=["gateway", "backend"])   # the keys written
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cmdb import Cmdb

from .rules import check, rule_key

PACK_COMMENT = "the suite's default rules (oam up)"


def default_rules(services: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per service: error rate over 5 % for 2 minutes, p95 latency over 500 ms for 5 minutes. For
    all: a host known to the CMDB that sent no metrics for 3 intervals (1 minute), a filesystem of
    a host over 90 % used, a new error group, Elasticsearch not green for 2 minutes, and dead letters."""
    rules: dict[str, dict[str, Any]] = {}
    for service in services:
        rules[f"{service}-error-rate"] = {
            "kind": "service", "service": service, "measure": "error_rate", "op": ">", "threshold": 5,
            "window": "2m", "for": "2m", "min_requests": 20, "severity": "critical",
            "annotations": {"summary": "{service} failed {value:.1f}% of its requests (over {threshold:g}%)"}}
        rules[f"{service}-latency-p95"] = {
            "kind": "service", "service": service, "measure": "latency", "percentile": 95, "op": ">",
            "threshold": 500, "window": "5m", "for": "5m", "min_requests": 20, "severity": "warning",
            "annotations": {"summary": "{service} p95 latency {value:.0f} ms (over {threshold:g} ms)"}}
    rules["host-down"] = {
        "kind": "absent", "intervals": 3, "metric_interval": "10s", "for": "1m", "severity": "critical",
        "annotations": {"summary": "{host} sent no metrics for a minute"}}
    rules["disk-full"] = {
        "kind": "metric", "metric": "system.filesystem.used.pct", "stat": "max", "op": ">", "threshold": 0.9,
        "window": "5m", "group_by": ["host"], "severity": "critical",
        "annotations": {"summary": "a filesystem of {host} is {value:.0%} used (over {threshold:.0%})"}}
    rules["new-error-group"] = {
        "kind": "error", "condition": "new", "window": "5m", "severity": "warning",
        "annotations": {"summary": "new error in {service}: {error_type}: {error_message}"}}
    rules["elasticsearch-not-green"] = {
        "kind": "suite", "check": "elasticsearch_health", "op": ">", "threshold": 0, "for": "2m",
        "severity": "critical", "annotations": {"summary": "Elasticsearch is {status} ({unassigned_shards} "
                                                           "unassigned shards)"}}
    rules["dead-letters"] = {
        "kind": "suite", "check": "dead_letters", "op": ">", "threshold": 0, "window": "5m", "severity": "warning",
        "annotations": {"summary": "{value:.0f} document(s) refused for good in 5 minutes (oam-deadletter-*)"}}
    return rules


def install_pack(cmdb: Cmdb, environment: str, services: Iterable[str]) -> list[str]:
    """Write each default rule of ``environment`` that has no key yet; the keys written."""
    written = []
    for name, rule in default_rules(services).items():
        key = rule_key(environment, name)
        problem = check(key, rule)
        if problem:
            raise ValueError(problem)  # the pack itself is wrong: a bug, not an input
        if cmdb.store.exists(key) or cmdb.store.versions(key):  # there, or deleted on purpose
            continue
        cmdb.store.set(key, rule, comment=PACK_COMMENT)
        written.append(key)
    return written
