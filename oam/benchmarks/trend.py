"""How a figure sampled over time moves: the least-squares slope, per 10 minutes, and start vs end.

Used by ``bench/soak.py`` for each piece's RSS, CPU and open files::

    trend([(0, 100.0), (60, 101.0), (120, 102.0)]).per_10_min   # 10.0
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TEN_MINUTES = 600.0


@dataclass(frozen=True)
class Trend:
    start: float        # the first sample
    end: float          # the last sample
    peak: float
    per_10_min: float   # least-squares slope over all samples, per 600 s (0 with fewer than two times)

    @property
    def growth(self) -> float | None:
        """end / start - 1 (0.1 is 10% more), None when it started at 0."""
        return None if self.start == 0 else self.end / self.start - 1


def slope(points: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of value over time (value per second); 0 without two distinct times."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


def trend(points: Sequence[tuple[float, float]]) -> Trend:
    """``points``: (seconds, value) in time order, at least one."""
    if not points:
        raise ValueError("a trend needs at least one sample")
    return Trend(start=points[0][1], end=points[-1][1], peak=max(v for _, v in points),
                 per_10_min=slope(points) * TEN_MINUTES)


def rate(points: Sequence[tuple[float, float]]) -> float:
    """A counter's mean rate per second from its first to its last sample (CPU seconds -> share of a core)."""
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return 0.0
    return (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])
