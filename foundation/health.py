"""Liveness, readiness and the standard Prometheus collectors every daemon of the suite exposes.

Usage::

    registry = CollectorRegistry()
    register_runtime_collectors(registry)          # process_*, python_info, python_gc_*
    report = readiness({"elasticsearch": lambda: elasticsearch_check(client),
                        "spool": lambda: Check(spool.bytes < limit, f"{spool.bytes} of {limit} bytes")})
    status, body = report.status_code, report.as_dict()   # 200 or 503, JSON naming each check

``/health`` (liveness) only says the process is up and answering (:func:`liveness`); ``/ready``
runs each named check, and is 503 while any of them fails. A check that raises counts as failed
with the exception's type and message as its detail, so a readiness probe never answers 500.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from .version import __version__

READY, NOT_READY = "ready", "not ready"


@dataclass(frozen=True)
class Check:
    """One readiness check's outcome: ``ok``, and a short ``detail`` a person can act on."""

    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, Check]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())

    @property
    def status_code(self) -> int:
        return 200 if self.ready else 503

    def failing(self) -> list[str]:
        """The names of the checks that failed, in the order they ran."""
        return [name for name, check in self.checks.items() if not check.ok]

    def as_dict(self) -> dict[str, Any]:
        """``{"status": "ready"|"not ready", "checks": {name: {"ok": bool, "detail": str}}}``."""
        return {"status": READY if self.ready else NOT_READY, "version": __version__,
                "checks": {name: {"ok": check.ok, "detail": check.detail} for name, check in self.checks.items()}}


def run_check(check: Callable[[], Check]) -> Check:
    """``check()``, or a failed :class:`Check` naming the exception it raised."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - a failing dependency is a failed check, never a 500
        message = str(exc).splitlines()[0] if str(exc) else ""
        return Check(False, f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def readiness(checks: Mapping[str, Callable[[], Check]]) -> Readiness:
    """Run every check (all of them, so the answer names each one that fails)."""
    return Readiness({name: run_check(check) for name, check in checks.items()})


def liveness(**extra: Any) -> dict[str, Any]:
    """The ``/health`` body: the process is up and answering; readiness is ``/ready``'s to say."""
    return {"status": "alive", "version": __version__, "ready": "/ready", **extra}


def limit_check(used: int, limit: int, what: str, fraction: float = 0.9) -> Check:
    """Ready while ``used`` is below ``fraction`` of ``limit`` (room left for the next batches)."""
    return Check(used < fraction * limit, f"{what}: {used} of {limit} bytes"
                 + ("" if used < fraction * limit else f" (at or over {fraction:.0%} of its limit)"))


def register_runtime_collectors(registry: CollectorRegistry) -> CollectorRegistry:
    """prometheus_client's process (``process_*``), platform (``python_info``) and garbage
    collector (``python_gc_*``) collectors, registered on a registry of our own.

    The default registry has them already; adding them there again would be refused."""
    if registry is REGISTRY:
        return registry
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


__all__ = ["NOT_READY", "READY", "Check", "Readiness", "limit_check", "liveness", "readiness",
           "register_runtime_collectors", "run_check"]
