"""Alerts as Alertmanager takes them (``POST /api/v2/alerts``), sent to every configured peer.

Usage::

    body = payload(rule, state, now, resend=60.0, dashboard="http://127.0.0.1:8080")
    failures = post(["http://127.0.0.1:9093", "http://127.0.0.1:9094"], [body])   # [] if all took it

A firing alert's ``endsAt`` lies four resend periods ahead (as Prometheus does it), so an
Alertmanager resolves it by itself if no evaluator is left to re-send it; a resolved one's
``endsAt`` is the moment it resolved, in the past. A flapping alert is sent as firing with the
annotation ``flapping="true"`` (the same alert to Alertmanager: no new mail per flip). ``startsAt`` is when it started firing, kept
in the persisted state, so a re-send from another evaluator is the same alert to Alertmanager.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import requests

from foundation.clock import utc_iso

from .context import trace_links
from .rules import Rule, render
from .state import RESOLVED, AlertState

TIMEOUT = 5.0


def labels_of(rule: Rule, state: AlertState) -> dict[str, str]:
    """The alert's identity: its name, environment, severity, the rule's labels and the group's."""
    labels = {"alertname": rule.name, "environment": rule.environment, "severity": rule.severity}
    if rule.service:
        labels["service"] = rule.service
    return {**labels, **rule.labels, **state.labels}


def annotations_of(rule: Rule, state: AlertState) -> dict[str, str]:
    """The rule's annotation templates filled with the alert's value, threshold, labels and details."""
    value = state.value
    values: dict[str, Any] = {**state.details, **labels_of(rule, state), "rule": rule.name,
                              "value": value if value is not None else float("nan"), "threshold": rule.threshold}
    out = {"summary": f"{rule.name}: {rule.describe()}, value {figure(value)}",
           "description": f"{rule.describe()}; measured {figure(value)} (threshold {rule.threshold:g})"}
    out.update({name: render(text, values) for name, text in rule.annotations.items()})
    out["value"] = figure(value)
    if state.context:
        out["changes"] = "\n".join(state.context)
    if rule.runbook_url:
        out["runbook_url"] = rule.runbook_url
    if state.flapping:
        out["flapping"] = "true"
    return out


def figure(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def payload(rule: Rule, state: AlertState, now: float, resend: float, dashboard: str = "") -> dict[str, Any]:
    """One alert of the ``/api/v2/alerts`` body."""
    starts = (state.flapping_since if state.flapping else state.fired_at) or now
    resolved = state.state == RESOLVED and state.resolved_at and not state.flapping
    ends = state.resolved_at if resolved else now + 4 * max(resend, rule.interval)
    body: dict[str, Any] = {"labels": labels_of(rule, state), "annotations": annotations_of(rule, state),
                            "startsAt": utc_iso(starts, "milliseconds"), "endsAt": utc_iso(ends, "milliseconds")}
    if dashboard:
        body["annotations"].update(trace_links(dashboard, starts, service=rule.service or state.labels.get("service", "")))
        body["generatorURL"] = f"{dashboard.rstrip('/')}/alerts/{quote(rule.environment)}/{quote(rule.name)}"
    return body


def post(urls: Iterable[str], alerts: list[dict[str, Any]], timeout: float = TIMEOUT,
         session: requests.Session | None = None) -> list[str]:
    """Send ``alerts`` to each Alertmanager; one line per peer that did not take them (none: all did)."""
    failures = []
    sender = session or requests
    for url in urls:
        target = f"{url.rstrip('/')}/api/v2/alerts"
        try:
            response = sender.post(target, json=alerts, timeout=timeout)
        except requests.RequestException as exc:
            failures.append(f"{target}: {type(exc).__name__}")
            continue
        if response.status_code >= 300:
            failures.append(f"{target}: HTTP {response.status_code} {response.text[:200].strip()}")
    return failures
