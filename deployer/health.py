"""The HTTP health check: a URL polled until it answers 200 (and reports the expected version)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import requests

from foundation.waiting import NotReady, WaitTimeout, wait_until


@dataclass(frozen=True)
class HealthResult:
    healthy: bool
    attempts: int
    detail: str


def reports_version(body: str, content_type: str, version: str) -> bool:
    """True if a health response names ``version``: a JSON ``version`` field, else the text."""
    if "json" in content_type:
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return isinstance(data, dict) and str(data.get("version", "")) == version
    return version in body.split() or body.strip() == version


def check_once(url: str, version: str | None, timeout: float) -> tuple[bool, str]:
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        return False, f"{url}: {type(exc).__name__}"
    if response.status_code != 200:
        return False, f"{url} answered {response.status_code}"
    if version is not None and not reports_version(response.text, response.headers.get("content-type", ""), version):
        return False, f"{url} does not report version {version}: {response.text[:80]!r}"
    return True, f"{url} answered 200"


def wait_healthy(url: str, version: str | None, *, timeout: float, retries: int, interval: float) -> HealthResult:
    """Poll ``url`` up to ``retries`` times, ``interval`` seconds apart; the last failure is the detail."""
    attempts = 0

    def healthy() -> str:
        nonlocal attempts
        attempts += 1
        ok, detail = check_once(url, version, timeout)
        if not ok:
            raise NotReady(detail)
        return detail

    try:
        detail = wait_until(healthy, timeout=None, attempts=retries, interval=interval, what=url)
    except WaitTimeout as exc:
        return HealthResult(False, exc.attempts, f"unhealthy after {exc.attempts} attempts: {exc.reason}")
    return HealthResult(True, attempts, detail)
