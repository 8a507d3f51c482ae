"""Ingest tokens (admin only): the collector's bearer tokens, listed, issued (shown once) and revoked."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from werkzeug.exceptions import BadRequest, NotFound

from collector.auth import TokenError, TokenStore

from ..auth import require
from .common import config

bp = Blueprint("tokens", __name__)


def token_store() -> TokenStore:
    path = config().tokens_file
    if path is None:
        raise NotFound("the dashboard has no collector token file configured (--tokens-file)")
    return TokenStore(path)


def token_list() -> list[dict[str, Any]]:
    return [{"name": r.name, "created": r.created, "prefix": r.prefix} for r in token_store().list()]


def issue(name: str) -> str:
    try:
        return token_store().issue(name)
    except TokenError as exc:
        raise BadRequest(str(exc)) from None


def revoke(name: str) -> None:
    try:
        token_store().revoke(name)
    except TokenError as exc:
        raise NotFound(str(exc)) from None


@bp.get("/api/tokens")
@require("admin")
def api_list() -> Any:
    return jsonify(tokens=token_list())


@bp.post("/api/tokens/<name>")
@require("admin")
def api_issue(name: str) -> Any:
    return jsonify(name=name, token=issue(name)), 201


@bp.delete("/api/tokens/<name>")
@require("admin")
def api_revoke(name: str) -> Any:
    revoke(name)
    return jsonify(revoked=name)
