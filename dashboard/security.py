"""Security headers on every answer, and CSRF checks on state-changing requests."""
from __future__ import annotations

from flask import Flask, Response, g, request
from flask_wtf.csrf import CSRFProtect

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
csrf = CSRFProtect()


def add_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.path != "/vendor/chart.js" and not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def check_csrf() -> None:
    """Every POST/PUT/PATCH/DELETE made with the session cookie needs the form's or header's token.

    Requests authenticated with HTTP basic auth (the CLI) carry no cookie and are exempt.
    """
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and not g.get("basic_auth"):
        csrf.protect()


def install(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    csrf.init_app(app)
    app.after_request(add_headers)
