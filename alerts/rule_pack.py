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
    """Per service: error rate over 5 % for 2 minutes, p95 latency over 500 ms for 5 minutes; and
    a host known to the CMDB that sent no metrics for 3 intervals (1 minute)."""
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
