"""Login, logout, sessions that expire, and role checks for pages and the API.

Pages use the session cookie (set by the login form). The API also takes HTTP basic auth, for
the CLI and scripts; such requests carry no cookie and so need no CSRF token.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for

from .users import User, UserStore

bp = Blueprint("auth", __name__)
ABSOLUTE_LIMIT_S = 12 * 3600


def connections() -> Any:
    return current_app.extensions["oam.connections"]


def _session_user() -> User | None:
    name, role = session.get("user"), session.get("role")
    if not name or not role:
        return None
    now = time.time()
    idle_limit = current_app.permanent_session_lifetime.total_seconds()
    if now - session.get("seen", 0) > idle_limit or now - session.get("since", 0) > ABSOLUTE_LIMIT_S:
        session.clear()
        g.session_expired = True
        return None
    session["seen"] = now
    return User(name, role)


def _basic_user() -> User | None:
    auth = request.authorization
    if auth is None or auth.type != "basic" or not request.path.startswith("/api/"):
        return None
    g.basic_auth = True
    return UserStore(connections().cmdb).authenticate(auth.username or "", auth.password or "")


def load_user() -> None:
    """Before each request: who is asking (None if nobody is logged in)."""
    g.basic_auth = False
    g.user = _basic_user() if request.authorization else _session_user()


def require(role: str) -> Callable:
    """Decorator: a logged-in user with ``role`` or above; else login page / 401, or 403."""
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user: User | None = g.get("user")
            if user is None:
                if request.path.startswith("/api/"):
                    abort(401)
                expired = {"expired": 1} if g.get("session_expired") else {}
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?"), **expired))
            if not user.can(role):
                abort(403)
            return view(*args, **kwargs)
        return wrapper
    return decorate


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("overview.page")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    expired = g.get("session_expired") or request.args.get("expired")
    error = "Your session expired; please log in again." if expired else ""
    if request.method == "POST":
        name = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        user = UserStore(connections().cmdb).authenticate(name, password) if name and password else None
        if user is not None:
            session.clear()
            session.permanent = True
            now = time.time()
            session.update(user=user.name, role=user.role, since=now, seen=now)
            return redirect(_safe_next(request.args.get("next")))
        error = "Unknown user or wrong password."
        return render_template("login.html", error=error), 401
    return render_template("login.html", error=error)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    session.clear()
    return redirect(url_for("auth.login"))
