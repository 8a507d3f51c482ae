"""Deployments: history and current version per host; deploy or roll back (operator) with live progress."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import BadRequest, NotFound

from deployer import Registry, RunOptions, SshOptions, deploy, rollback
from deployer.config import ConfigInvalid, check_name
from deployer.rollout import ProgressEvent

from ..auth import require
from ..config import DashboardConfig
from ..jobs import Job, JobBoard
from .common import config, connections, json_object

bp = Blueprint("deployments", __name__)


def _registry() -> Registry:
    return Registry(connections().cmdb, config().environment)


def _board() -> JobBoard:
    return current_app.extensions.setdefault("oam.jobs", JobBoard())


def deployable_services() -> list[str]:
    environment = config().environment
    return sorted(e.key.split("/")[1] for e in connections().cmdb.store.entries(environment)
                  if e.key.count("/") == 2 and e.key.endswith("/deploy"))


def current_versions(records: list[dict[str, Any]]) -> dict[str, str]:
    """Host -> the release it runs after the newest record that touched it."""
    out: dict[str, str] = {}
    for record in records:  # newest first
        for host in record.get("hosts", []):
            name = host.get("host")
            if not name or name in out:
                continue
            status = host.get("status")
            version = host.get("target") if status == "deployed" else host.get("previous")
            if version:
                out[name] = version
    return out


def verdict_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per check of each batch's verdict, newest record first, with the figures it was taken on."""
    rows = []
    for record in records:
        for report in record.get("analysis") or []:
            base = {"id": record.get("id", ""), "version": record.get("version", ""), "batch": report.get("batch"),
                    "verdict": report.get("result", ""), "against": report.get("baseline", ""),
                    "reason": report.get("reason", "")}
            for check in report.get("checks") or [{}]:
                rows.append({**base, "check": check.get("check", "-"), "result": check.get("result", ""),
                             "new": check.get("new"), "baseline": check.get("baseline"),
                             "difference": check.get("difference"), "p_value": check.get("p_value"),
                             "threshold": check.get("threshold", ""),
                             "counts": f"{check.get('new_count', 0)}/{check.get('baseline_count', 0)}"
                             if check else "", "why": check.get("reason", "") or base["reason"]})
    return rows


def _service(name: str) -> str:
    try:
        name = check_name("service", name)
    except ConfigInvalid as exc:
        raise BadRequest(str(exc)) from None
    if name not in deployable_services():
        raise NotFound(f"unknown service {name!r}: no deploy configuration in the CMDB")
    return name


def _history(service: str) -> dict[str, Any]:
    records = _registry().list_deployments(service, limit=20)
    return {"service": service, "records": records, "current": current_versions(records)}


def _options(cfg: DashboardConfig, job: Job, user: str, es: Any = None) -> RunOptions:
    if cfg.deploy_known_hosts is None:
        raise RuntimeError("the dashboard has no SSH known_hosts file configured (--known-hosts)")

    def progress(event: ProgressEvent) -> None:
        job.lines.append(event.line())

    return RunOptions(user=user, ssh=SshOptions(known_hosts=cfg.deploy_known_hosts, identity=cfg.deploy_identity),
                      events_file=cfg.deploy_events_file, progress=progress, elasticsearch=es)


def _start(action: str, service: str) -> Job:
    body = json_object() if request.is_json else request.form
    if str(body.get("confirm", "")).lower() not in ("yes", "true", "1"):
        raise BadRequest(f"confirm the {action}: send confirm=yes")
    version = str(body.get("version", "")).strip() or None
    if action == "deploy" and not version:
        raise BadRequest("a deploy needs a version")
    user, cfg, registry, es = g.user.name, config(), _registry(), connections().es

    def work(job: Job) -> dict[str, Any]:  # runs in its own thread, outside the request
        options = _options(cfg, job, user, es)
        if action == "deploy":
            _outcome, record = deploy(registry, service, version or "", options)
        else:
            _outcome, record = rollback(registry, service, version, options)
        return record

    return _board().start(action, service, user, work)


@bp.get("/api/deployments/<service>")
@require("viewer")
def api_history(service: str) -> Any:
    return jsonify(_history(_service(service)))


@bp.post("/api/deployments/<service>/rollback")
@require("operator")
def api_rollback(service: str) -> Any:
    return jsonify(_start("rollback", _service(service)).to_json()), 202


@bp.post("/api/deployments/<service>/deploy")
@require("operator")
def api_deploy(service: str) -> Any:
    return jsonify(_start("deploy", _service(service)).to_json()), 202


@bp.get("/api/jobs/<job_id>")
@require("viewer")
def api_job(job_id: str) -> Any:
    job = _board().get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id[:40]!r}")
    return jsonify(job.to_json())


@bp.get("/deployments")
@require("viewer")
def page() -> Any:
    services = deployable_services()
    chosen = request.args.get("service") or (services[0] if services else "")
    history = _history(_service(chosen)) if chosen else None
    verdicts = verdict_rows(history["records"]) if history else []
    return render_template("deployments.html", services=services, chosen=chosen, history=history, verdicts=verdicts)
