"""The state of one alert (a rule and one group of it): inactive -> pending -> firing -> resolved.

Pure functions of the state, the evaluation's outcome and the time, so they are tested alone::

    state, moved = step(AlertState(), True, 7.5, now=100.0, rule=rule)   # pending (or firing if for is 0)
    due(state, now=160.0, resend=60.0, resolved_for=300.0)                # should it be sent (again)?

An outcome is ``True`` (condition met), ``False`` (not met) or ``None`` (no data), which the
rule's ``no_data`` policy reads as not met (``ok``), met (``alerting``) or as no change
(``keep_state``: timers do not move and nothing resolves).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

INACTIVE, PENDING, FIRING, RESOLVED = "inactive", "pending", "firing", "resolved"
STATES = (INACTIVE, PENDING, FIRING, RESOLVED)


class Timing(Protocol):
    """What :func:`step` reads of a rule."""

    for_seconds: float
    keep_firing_for: float
    no_data: str


@dataclass
class AlertState:
    """Where one alert stands; times are POSIX seconds."""

    labels: dict[str, str] = field(default_factory=dict)
    state: str = INACTIVE
    active_since: float | None = None  # the condition has held since then (pending, then firing)
    fired_at: float | None = None  # Alertmanager's startsAt
    last_true: float | None = None  # the last evaluation that met the condition (keep_firing_for)
    resolved_at: float | None = None  # Alertmanager's endsAt once resolved
    value: float | None = None
    no_data: bool = False  # the last evaluation found no data for this group
    last_sent: float | None = None
    context: list[str] = field(default_factory=list)  # what changed before it fired (alerts.context)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertState:
        names = {f.name for f in dataclasses.fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in names})
        if state.state not in STATES:
            state.state = INACTIVE
        return state


@dataclass(frozen=True)
class Transition:
    """A change of state at ``at``."""

    old: str
    new: str
    at: float


def step(current: AlertState, outcome: bool | None, value: float | None, now: float,
         rule: Timing) -> tuple[AlertState, Transition | None]:
    """The state after one evaluation at ``now``, and the transition it made (None: same state)."""
    state = dataclasses.replace(current, labels=dict(current.labels), no_data=outcome is None)
    if outcome is None:
        if rule.no_data == "keep_state":
            return state, None
        outcome = rule.no_data == "alerting"
    if value is not None:
        state.value = value
    old = state.state
    if outcome:
        state.last_true = now
        if old in (INACTIVE, RESOLVED):
            state.state, state.active_since, state.fired_at, state.resolved_at = PENDING, now, None, None
        since = now if state.active_since is None else state.active_since
        if state.state == PENDING and now - since >= rule.for_seconds:
            state.state, state.fired_at = FIRING, now
    elif old == PENDING:
        state.state, state.active_since = INACTIVE, None
    elif old == FIRING and now - (now if state.last_true is None else state.last_true) >= rule.keep_firing_for:
        state.state, state.resolved_at = RESOLVED, now
    moved = Transition(old, state.state, now) if state.state != old else None
    return state, moved


def due(state: AlertState, now: float, resend: float, resolved_for: float) -> bool:
    """Should the alert go to Alertmanager now: firing and not sent for ``resend`` seconds, or
    resolved less than ``resolved_for`` ago and not sent since it resolved or for ``resend``."""
    if state.state == FIRING:
        return state.last_sent is None or now - state.last_sent >= resend
    if state.state == RESOLVED and state.resolved_at is not None and now - state.resolved_at < resolved_for:
        return (state.last_sent is None or state.last_sent < state.resolved_at
                or now - state.last_sent >= resend)
    return False


def finished(state: AlertState, now: float, resolved_for: float) -> bool:
    """Nothing left to remember: inactive, or resolved at least ``resolved_for`` ago."""
    if state.state == INACTIVE:
        return True
    return state.state == RESOLVED and state.resolved_at is not None and now - state.resolved_at >= resolved_for
