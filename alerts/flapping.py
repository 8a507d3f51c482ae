"""Flap detection as Nagios does it: the percent state change over the last 20 evaluations.

Pure functions over the list of an alert's states after each evaluation (oldest first)::

    percent_change(["inactive", "pending", "inactive", "pending"])    # weighted, 0..100
    flapping_now(was=False, percent=62.0)                               # True: above the high threshold

Each change between two consecutive evaluations counts with a weight rising linearly from 0.8
for the oldest to 1.2 for the newest (Nagios's weighting), so recent flips count more; the sum
over the 19 possible changes of 20 evaluations, as a percentage of 19. An alert starts flapping
above :data:`HIGH` percent and stops below :data:`LOW` (hysteresis); in between it stays as it was.
"""
from __future__ import annotations

from collections.abc import Sequence

WINDOW = 20  # evaluations kept per alert
HIGH = 50.0  # percent: above it an alert starts flapping
LOW = 25.0  # percent: below it a flapping alert stops


def remember(history: Sequence[str], state: str, window: int = WINDOW) -> list[str]:
    """``history`` with ``state`` appended, the oldest dropped beyond ``window`` entries."""
    return [*history, state][-window:]


def percent_change(history: Sequence[str], window: int = WINDOW) -> float:
    """The weighted percent state change of ``history`` (at most the last ``window`` entries)."""
    recent = list(history)[-window:]
    changes = window - 1
    if len(recent) < 2 or changes < 1:
        return 0.0
    offset = changes - (len(recent) - 1)  # a short history weighs as the newest part of a full one
    total = 0.0
    for n in range(1, len(recent)):
        if recent[n] != recent[n - 1]:
            position = offset + n - 1  # 0 = the oldest possible change
            total += 0.8 + 0.4 * position / max(changes - 1, 1)
    return round(100.0 * total / changes, 2)


def flapping_now(was: bool, percent: float, high: float = HIGH, low: float = LOW) -> bool:
    """Whether the alert flaps after an evaluation: it starts above ``high``, stops below ``low``."""
    if was:
        return percent >= low
    return percent > high
