"""CMDB: browse the tree, view a value and its history with diffs, edit (validated) and roll back a key."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from cmdb import ChangeRecord, KeyNotFound
from cmdb.paths import validate_key

from ..auth import require
from ..safe_json import JsonRejected, loads
from ..users import USERS_PREFIX
from .common import connections, json_object

bp = Blueprint("cmdb", __name__)


def _visible(key: str) -> str:
    """The normalised key, unless it is a dashboard account (those are managed on the users API)."""
    key = validate_key(key)
    if key == USERS_PREFIX or key.startswith(USERS_PREFIX + "/"):
        raise NotFound("dashboard accounts are not shown here; use the users API")
    return key


def _entries(prefix: str) -> list[dict[str, Any]]:
    return [{"key": e.key, "version": e.version} for e in connections().cmdb.store.entries(prefix)
            if not e.key.startswith(USERS_PREFIX + "/")]


def _record(record: ChangeRecord) -> dict[str, Any]:
    return {"version": record.version, "action": record.action, "user": record.user, "at": record.at,
            "comment": record.comment, "old": record.old if record.had_value else None,
            "new": record.new if record.has_value else None}


def _history(key: str) -> list[dict[str, Any]]:
    store = connections().cmdb.store
    out = []
    for record in reversed(store.history(key)):
        item = _record(record)
        item["diff"] = store.diff(key, record.version - 1, record.version) if record.version > 1 else ""
        out.append(item)
    return out


def _parse_value(text: str) -> Any:
    try:
        return loads(text)
    except JsonRejected as exc:
        raise BadRequest(f"the value: {exc}") from None


def _version(text: Any, what: str) -> int | None:
    if text in (None, ""):
        return None
    try:
        number = int(text)
    except (TypeError, ValueError):
        raise BadRequest(f"{what} must be a whole number, not {str(text)[:40]!r}") from None
    if number < 0:
        raise BadRequest(f"{what} must not be negative")
    return number


# -- API ------------------------------------------------------------------------------------------
@bp.get("/api/cmdb/keys")
@require("viewer")
def api_keys() -> Any:
    return jsonify(keys=_entries(request.args.get("prefix", "")))


@bp.get("/api/cmdb/keys/<path:key>/history")
@require("viewer")
def api_history(key: str) -> Any:
    key = _visible(key)
    return jsonify(key=key, history=_history(key))


@bp.get("/api/cmdb/keys/<path:key>")
@require("viewer")
def api_get(key: str) -> Any:
    entry = connections().cmdb.store.get(_visible(key))
    return jsonify(key=entry.key, value=entry.value, version=entry.version)


@bp.put("/api/cmdb/keys/<path:key>")
@require("admin")
def api_set(key: str) -> Any:
    body = json_object()
    if "value" not in body:
        raise BadRequest("the body needs a 'value'")
    key = _visible(key)
    with connections().acting_as(g.user.name) as cmdb:
        record = cmdb.store.set(key, body["value"],
                                expect_version=_version(body.get("expect_version"), "expect_version"),
                                comment=str(body.get("comment", ""))[:500])
    return jsonify(_record(record))


@bp.post("/api/cmdb/keys/<path:key>/rollback")
@require("admin")
def api_rollback(key: str) -> Any:
    body = json_object()
    version = _version(body.get("version"), "version")
    if version is None:
        raise BadRequest("the body needs the 'version' to roll back to")
    key = _visible(key)
    with connections().acting_as(g.user.name) as cmdb:
        record = cmdb.store.rollback(key, version, comment=str(body.get("comment", ""))[:500])
    return jsonify(_record(record))


# -- pages ----------------------------------------------------------------------------------------
@bp.get("/cmdb")
@require("viewer")
def page() -> Any:
    prefix = request.args.get("prefix", "").strip("/")
    return render_template("cmdb.html", prefix=prefix, entries=_entries(prefix))


@bp.get("/cmdb/key/<path:key>")
@require("viewer")
def key_page(key: str) -> Any:
    key = _visible(key)
    store = connections().cmdb.store
    note = ""
    try:
        entry = store.get(key)
        value, version = json.dumps(entry.value, indent=2, sort_keys=True), entry.version
    except KeyNotFound as exc:
        if not store.versions(key):
            raise
        value, version, note = "", store.version(key), str(exc)
    return render_template("cmdb_key.html", key=key, value=value, version=version, history=_history(key),
                           note=note)


@bp.post("/cmdb/key/<path:key>")
@require("admin")
def key_edit(key: str) -> Any:
    key = _visible(key)
    value = _parse_value(request.form.get("value", ""))
    with connections().acting_as(g.user.name) as cmdb:
        cmdb.store.set(key, value, expect_version=_version(request.form.get("expect_version"), "expect_version"),
                       comment=request.form.get("comment", "")[:500])
    return redirect(url_for("cmdb.key_page", key=key))


@bp.post("/cmdb/key/<path:key>/rollback")
@require("admin")
def key_rollback(key: str) -> Any:
    key = _visible(key)
    version = _version(request.form.get("version"), "version")
    if version is None:
        raise BadRequest("choose the version to roll back to")
    with connections().acting_as(g.user.name) as cmdb:
        cmdb.store.rollback(key, version, comment=request.form.get("comment", "")[:500])
    return redirect(url_for("cmdb.key_page", key=key))
