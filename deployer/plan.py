"""Which hosts go in which batch: the canary hosts first, then fixed-size batches in config order."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class PlanError(ValueError):
    """Batch, canary or parallelism settings that cannot make a plan."""


def plan_batches(hosts: Sequence[T], batch_size: int, canary: int = 0) -> list[list[T]]:
    """Split ``hosts`` into batches: ``canary`` hosts alone first, then ``batch_size`` at a time."""
    if not hosts:
        raise PlanError("no hosts to deploy to")
    if batch_size < 1:
        raise PlanError(f"batch size must be at least 1, not {batch_size}")
    if canary < 0 or (len(hosts) > 1 and canary >= len(hosts)):
        raise PlanError(f"canary must be between 0 and {len(hosts) - 1} for {len(hosts)} hosts, not {canary}")
    batches: list[list[T]] = []
    rest = list(hosts)
    if canary:
        batches.append(rest[:canary])
        rest = rest[canary:]
    batches += [rest[i:i + batch_size] for i in range(0, len(rest), batch_size)]
    return batches


def default_batch_size(host_count: int) -> int:
    """A quarter of the hosts (at least one), so three quarters keep serving while a batch switches."""
    return max(1, host_count // 4)
