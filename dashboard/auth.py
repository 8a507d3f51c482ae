"""Login, logout, sessions checked on the server, throttled logins, and role checks for pages and the API.

Pages use the session cookie (set by the login form); it names the user and a server-side session
(:mod:`dashboard.sessions`), and the role comes from the user's CMDB record on every request. The
API also takes HTTP basic auth, for the CLI and scripts; such requests carry no cookie and so need
no CSRF token. Failed logins, by form or basic auth, are throttled per user and per client address
(:mod:`dashboard.throttle`).
"""
from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import TooManyRequests

from .sessions import ABSOLUTE_LIMIT_S, CheckedSessions, SessionTree
from .throttle import LoginThrottle
from .users import User, UserStore

bp = Blueprint("auth", __name__)


def connections() -> Any:
    return current_app.extensions["oam.connections"]


def install(app: Flask) -> None:
    """The app's session checks (server-side, cached briefly) and login throttle."""
    conns = app.extensions["oam.connections"]

    def verify(name: str, sid: str) -> User | None:
        found = SessionTree(conns.cmdb).read(name, sid)
        if found is None:
            return None
        user = UserStore(conns.cmdb).get(name)
        return user if user is not None and user.version == found.user_version else None

    app.extensions["oam.sessions"] = CheckedSessions(verify)
    app.extensions["oam.throttle"] = LoginThrottle()
    app.before_request(load_user)


def _sessions() -> CheckedSessions:
    return current_app.extensions["oam.sessions"]


def _throttle() -> LoginThrottle:
    return current_app.extensions["oam.throttle"]


def _session_user() -> User | None:
    name, sid = session.get("user"), session.get("sid")
    if not name or not sid:
        session.pop("role", None)  # a cookie from before sessions were kept on the server
        return None
    now = time.time()
    idle_limit = current_app.permanent_session_lifetime.total_seconds()
    expired = now - session.get("seen", 0) > idle_limit or now - session.get("since", 0) > ABSOLUTE_LIMIT_S
    user = None if expired else _sessions().check(name, sid)
    if user is None:  # expired, logged out elsewhere, or the user was changed or removed
        session.clear()
        g.session_expired = True
        return None
    session["seen"] = now
    return user


def _throttle_keys(name: str) -> tuple[str, str]:
    return f"user:{name}", f"addr:{request.remote_addr or '-'}"


def _authenticate(name: str, password: str) -> User | None:
    """The user, or None; TooManyRequests (429, Retry-After) while the name or address is locked."""
    keys = _throttle_keys(name)
    wait = _throttle().retry_after(*keys)
    if wait:
        raise TooManyRequests(f"too many failed logins; try again in {wait} s", retry_after=wait)
    user = UserStore(connections().cmdb).authenticate(name, password)
    if user is None:
        _throttle().failed(*keys)
    else:
        _throttle().succeeded(keys[0])
    return user


def _basic_user() -> User | None:
    auth = request.authorization
    if auth is None or auth.type != "basic" or not request.path.startswith("/api/"):
        return None
    g.basic_auth = True
    return _authenticate(auth.username or "", auth.password or "")


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
    """``target`` if it is a path on this site (``/logs?q=x``), else the overview: no scheme, no host,
    no ``//`` or backslash a browser would read as another host, no space or control character."""
    home = url_for("overview.page")
    if not target or any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in target):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    expired = g.get("session_expired") or request.args.get("expired")
    error = "Your session expired; please log in again." if expired else ""
    if request.method == "POST":
        name = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        try:
            user = _authenticate(name, password) if name and password else None
        except TooManyRequests as exc:
            answer = render_template("login.html", error=f"Too many failed logins; try again in {exc.retry_after} s.")
            return answer, 429, {"Retry-After": str(exc.retry_after)}
        if user is not None:
            sid = SessionTree(connections().cmdb).start(user.name, user.version)
            session.clear()
            session.permanent = True
            now = time.time()
            session.update(user=user.name, sid=sid, since=now, seen=now)
            return redirect(_safe_next(request.args.get("next")))
        error = "Unknown user or wrong password."
        return render_template("login.html", error=error), 401
    return render_template("login.html", error=error)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End this session on the server too, so a copy of the cookie is of no use any more."""
    name, sid = session.get("user"), session.get("sid")
    if name and sid:
        SessionTree(connections().cmdb).end(name, sid)
        _sessions().forget(name)
    session.clear()
    return redirect(url_for("auth.login"))
