"""Alerts: firing and pending now (the evaluator's persisted state), the last day's transitions,
Alertmanager's silences (operators add and expire them) and the environment's rules."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from elasticsearch import ApiError, TransportError
from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest, ServiceUnavailable

from alerts import silences
from alerts.notify import annotations_of, labels_of
from alerts.rules import Rule
from alerts.state import FIRING, PENDING
from alerts.store import RuleState, load_rules, load_states

from ..auth import require
from .common import config, connections, es, json_object, prefix

bp = Blueprint("alerts", __name__)
HISTORY_SIZE = 100


def _iso(seconds: float | None) -> str | None:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds") if seconds else None


def active_alerts(rules: list[Rule], states: dict[str, RuleState]) -> list[dict[str, Any]]:
    """Every firing or pending group, firing first, then the longest-standing."""
    rows = []
    for rule in rules:
        state = states.get(rule.name)
        for alert in (state.groups.values() if state else []):
            if alert.state not in (FIRING, PENDING):
                continue
            annotations = annotations_of(rule, alert)
            rows.append({"rule": rule.name, "key": rule.key, "state": alert.state, "severity": rule.severity,
                         "labels": labels_of(rule, alert), "value": alert.value,
                         "since": _iso(alert.fired_at if alert.state == FIRING else alert.active_since),
                         "summary": annotations.get("summary", ""), "context": list(alert.context)})
    return sorted(rows, key=lambda r: (r["state"] != FIRING, r["since"] or ""))


def history_rows(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transition documents (``<prefix>-alerts-*``) as table rows; missing fields stay empty."""
    rows = []
    for hit in hits:
        doc = hit.get("_source") or {}
        rows.append({"at": doc.get("@timestamp", ""), "state": (doc.get("event") or {}).get("action", ""),
                     "rule": (doc.get("rule") or {}).get("name", ""), "labels": doc.get("labels") or {},
                     "service": (doc.get("service") or {}).get("name", ""),
                     "host": (doc.get("host") or {}).get("name", ""), "message": doc.get("message", ""),
                     "value": ((doc.get("oam") or {}).get("alert") or {}).get("value")})
    return rows


def recent_history(client: Any, index_prefix: str) -> tuple[list[dict[str, Any]], str | None]:
    """The last 24 h of transitions, newest first, and why there are none if they cannot be read."""
    try:
        answer = client.search(index=f"{index_prefix}-alerts-*", size=HISTORY_SIZE, ignore_unavailable=True,
                               allow_no_indices=True, sort=[{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
                               query={"range": {"@timestamp": {"gte": "now-24h"}}})
    except (ApiError, TransportError) as exc:
        return [], f"history unavailable ({type(exc).__name__})"
    return history_rows(answer.get("hits", {}).get("hits", [])), None


def silence_list() -> tuple[list[dict[str, Any]], str | None]:
    """Alertmanager's active and pending silences, or why there are none to show."""
    urls = config().alertmanagers
    if not urls:
        return [], "no Alertmanager configured (OAM_ALERTMANAGERS or --alertmanager)"
    try:
        return [s.to_json() for s in silences.list_silences(urls, ("active", "pending"))], None
    except silences.SilenceError as exc:
        return [], str(exc)


def firing_count() -> int:
    """How many alerts fire now (the overview's figure)."""
    cmdb, environment = connections().cmdb, config().environment
    return sum(a.state == FIRING for s in load_states(cmdb, environment).values() for a in s.groups.values())


def _alerts() -> dict[str, Any]:
    cmdb, environment = connections().cmdb, config().environment
    rules, broken = load_rules(cmdb, environment)
    history, history_error = recent_history(es(), prefix())
    silenced, silence_error = silence_list()
    return {"environment": environment, "alerts": active_alerts(rules, load_states(cmdb, environment)),
            "history": history, "history_error": history_error, "silences": silenced,
            "silence_error": silence_error, "alertmanagers": list(config().alertmanagers),
            "rules": [{"name": r.name, "key": r.key, "kind": r.kind, "severity": r.severity,
                       "describe": r.describe(), "error": None} for r in rules]
            + [{"name": key.rsplit("/", 1)[-1], "key": key, "kind": None, "severity": None, "describe": None,
                "error": reason} for key, reason in broken.items()]}


def _add_silence(body: Any) -> str:
    text = str(body.get("matchers", "")).strip()
    try:
        matchers = [silences.parse_matcher(part) for part in text.split()] if text else []
        seconds = silences.parse_duration(str(body.get("duration", "")).strip())
        return silences.create(config().alertmanagers, matchers, seconds, str(body.get("comment", "")), g.user.name)
    except silences.SilenceError as exc:
        raise _silence_problem(exc) from None


def _expire(silence_id: str) -> None:
    try:
        silences.expire(config().alertmanagers, silence_id)
    except silences.SilenceError as exc:
        raise _silence_problem(exc) from None


def _silence_problem(exc: silences.SilenceError) -> Exception:
    """Bad input is a 400; an Alertmanager that cannot be reached (or is not configured) a 503."""
    text = str(exc)
    unavailable = text.startswith(("no Alertmanager", "Alertmanager "))
    return ServiceUnavailable(text) if unavailable else BadRequest(text)


@bp.get("/api/alerts")
@require("viewer")
def api() -> Any:
    return jsonify(_alerts())


@bp.post("/api/alerts/silences")
@require("operator")
def api_add_silence() -> Any:
    return jsonify({"id": _add_silence(json_object() if request.is_json else request.form)}), 201


@bp.post("/api/alerts/silences/<silence_id>/expire")
@require("operator")
def api_expire(silence_id: str) -> Any:
    _expire(silence_id)
    return jsonify({"id": silence_id, "state": "expired"})


@bp.get("/alerts")
@require("viewer")
def page() -> Any:
    return render_template("alerts.html", **_alerts())


@bp.post("/alerts/silences")
@require("operator")
def add_silence() -> Any:
    _add_silence(request.form)
    return redirect(url_for("alerts.page") + "#silences")


@bp.post("/alerts/silences/<silence_id>/expire")
@require("operator")
def expire_silence(silence_id: str) -> Any:
    _expire(silence_id)
    return redirect(url_for("alerts.page") + "#silences")
