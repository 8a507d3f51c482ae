"""Users (admin only): list, add or change, remove dashboard accounts; the admin page (users, tokens)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest

from ..auth import require
from ..users import UserStore
from .common import connections, json_object

bp = Blueprint("users", __name__)


@bp.get("/api/users")
@require("admin")
def api_list() -> Any:
    return jsonify(users=[{"name": u.name, "role": u.role} for u in UserStore(connections().cmdb).list()])


@bp.put("/api/users/<name>")
@require("admin")
def api_save(name: str) -> Any:
    body = json_object()
    if not isinstance(body.get("password"), str) or not isinstance(body.get("role"), str):
        raise BadRequest("expected a JSON object with 'password' and 'role'")
    with connections().acting_as(g.user.name) as cmdb:
        user = UserStore(cmdb).save(name, body["password"], body["role"])
    return jsonify(name=user.name, role=user.role)


@bp.delete("/api/users/<name>")
@require("admin")
def api_remove(name: str) -> Any:
    with connections().acting_as(g.user.name) as cmdb:
        UserStore(cmdb).remove(name)
    return jsonify(removed=name)


# -- the admin page: users and ingest tokens ------------------------------------------------------
def _admin_page(new_token: dict[str, str] | None = None, status: int = 200) -> Any:
    from .common import config
    from .tokens import token_list

    tokens = token_list() if config().tokens_file is not None else None
    users = UserStore(connections().cmdb).list()
    return render_template("admin.html", users=users, tokens=tokens, new_token=new_token), status


@bp.get("/admin")
@require("admin")
def admin_page() -> Any:
    return _admin_page()


@bp.post("/admin/users")
@require("admin")
def admin_save_user() -> Any:
    with connections().acting_as(g.user.name) as cmdb:
        UserStore(cmdb).save(request.form.get("name", "").strip(), request.form.get("password", ""),
                             request.form.get("role", ""))
    return redirect(url_for("users.admin_page"))


@bp.post("/admin/users/<name>/remove")
@require("admin")
def admin_remove_user(name: str) -> Any:
    if name == g.user.name:
        raise BadRequest("you cannot remove your own account")
    with connections().acting_as(g.user.name) as cmdb:
        UserStore(cmdb).remove(name)
    return redirect(url_for("users.admin_page"))


@bp.post("/admin/tokens")
@require("admin")
def admin_issue_token() -> Any:
    from .tokens import issue

    name = request.form.get("name", "").strip()
    return _admin_page({"name": name, "token": issue(name)}, 201)


@bp.post("/admin/tokens/<name>/revoke")
@require("admin")
def admin_revoke_token(name: str) -> Any:
    from .tokens import revoke

    revoke(name)
    return redirect(url_for("users.admin_page"))
