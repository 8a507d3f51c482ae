"""Silences through Alertmanager's API v2: create for matchers, list, expire.

Usage::

    matchers = [parse_matcher("alertname=order-errors"), parse_matcher("host=~web-.*")]
    silence_id = create(urls, matchers, parse_duration("2h"), comment="deploy", creator="ops")
    rows = list_silences(urls)          # [Silence(id, state, matchers, starts_at, ends_at, ...)]
    expire(urls, silence_id)

Given several URLs (a cluster), each call goes to the first that answers: the peers gossip
silences to one another. Failures raise :class:`SilenceError` with a one-line reason.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests

from foundation.clock import utc_iso, utc_now

from .rules import parse_duration as _rule_duration

TIMEOUT = 5.0
_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
STATES = ("active", "pending", "expired")


class SilenceError(Exception):
    """A silence could not be made, read or expired: the message says why, in one line."""


@dataclass(frozen=True)
class Silence:
    """One silence as Alertmanager reports it."""

    id: str
    state: str
    matchers: list[str]
    starts_at: str
    ends_at: str
    created_by: str
    comment: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "matchers": self.matchers, "startsAt": self.starts_at,
                "endsAt": self.ends_at, "createdBy": self.created_by, "comment": self.comment}


def parse_matcher(text: str) -> dict[str, Any]:
    """``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex`` as an API v2 matcher."""
    match = _MATCHER.match(text or "")
    if not match or not match.group(3):
        raise SilenceError(f"bad matcher {text!r}: use name=value, name!=value, name=~regex or name!~regex")
    name, op, value = match.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    regex = op in ("=~", "!~")
    if regex:
        try:
            re.compile(value)
        except re.error as exc:
            raise SilenceError(f"bad matcher {text!r}: invalid regex ({exc})") from None
    return {"name": name, "value": value, "isRegex": regex, "isEqual": op in ("=", "=~")}


def matcher_text(matcher: dict[str, Any]) -> str:
    """The matcher as written on the command line (``name=~value``)."""
    op = ("=" if matcher.get("isEqual", True) else "!") + ("~" if matcher.get("isRegex") else "")
    if op == "!":
        op = "!="
    return f"{matcher.get('name')}{op}{matcher.get('value')}"


def parse_duration(text: str) -> float:
    """Seconds of a silence's duration (``30m``, ``2h``); positive, else :class:`SilenceError`."""
    try:
        seconds = _rule_duration(text)
    except ValueError:
        raise SilenceError(f"bad duration {text!r}: use a number and s, m or h (30m, 2h)") from None
    if seconds <= 0:
        raise SilenceError(f"bad duration {text!r}: must be more than zero")
    return seconds


def _first(urls: Sequence[str], method: str, path: str, **kwargs: Any) -> requests.Response:
    """The response of the first Alertmanager that answers; HTTP errors are reported, not skipped."""
    if not urls:
        raise SilenceError("no Alertmanager configured (--alertmanager or OAM_ALERTMANAGERS)")
    reasons = []
    for url in urls:
        try:
            response = requests.request(method, f"{url.rstrip('/')}{path}", timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            reasons.append(f"{url}: {type(exc).__name__}")
            continue
        if response.status_code >= 400:
            detail = response.text.strip().splitlines()[0] if response.text.strip() else response.reason
            raise SilenceError(f"Alertmanager {url} refused: {response.status_code} {detail}")
        return response
    raise SilenceError("no Alertmanager reachable (" + "; ".join(reasons) + ")")


def create(urls: Sequence[str], matchers: Sequence[dict[str, Any]], seconds: float, comment: str, creator: str,
           now: datetime | None = None) -> str:
    """Silence alerts matching every matcher for ``seconds`` from now; the new silence's id."""
    if not matchers:
        raise SilenceError("a silence needs at least one matcher")
    if not comment.strip():
        raise SilenceError("a silence needs a comment (why)")
    start = now or utc_now()
    body = {"matchers": list(matchers), "startsAt": utc_iso(start), "endsAt": utc_iso(start + timedelta(seconds=seconds)),
            "createdBy": creator or "oam", "comment": comment}
    return str(_first(urls, "POST", "/api/v2/silences", json=body).json().get("silenceID", ""))


def list_silences(urls: Sequence[str], states: Sequence[str] = STATES) -> list[Silence]:
    """Silences in ``states``: active first, then pending, then expired; newest end first in each."""
    rows = []
    for item in _first(urls, "GET", "/api/v2/silences").json() or []:
        state = (item.get("status") or {}).get("state", "")
        if state in states:
            rows.append(Silence(item.get("id", ""), state, [matcher_text(m) for m in item.get("matchers") or []],
                                item.get("startsAt", ""), item.get("endsAt", ""), item.get("createdBy", ""),
                                item.get("comment", "")))
    order = {state: n for n, state in enumerate(STATES)}
    rows.sort(key=lambda s: s.ends_at, reverse=True)
    return sorted(rows, key=lambda s: order.get(s.state, len(order)))


def expire(urls: Sequence[str], silence_id: str) -> None:
    """End the silence ``silence_id`` now."""
    if not re.fullmatch(r"[0-9a-fA-F-]{8,64}", silence_id or ""):
        raise SilenceError(f"bad silence id {silence_id!r}")
    _first(urls, "DELETE", f"/api/v2/silence/{silence_id}")


def split_urls(values: Sequence[str]) -> list[str]:
    """URLs given repeated, space- or comma-separated (as ``OAM_ALERTMANAGERS`` holds them)."""
    return [url for value in values for url in re.split(r"[\s,]+", value) if url]
