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

from .flapping import flapping_now, percent_change, remember

INACTIVE, PENDING, FIRING, RESOLVED = "inactive", "pending", "firing", "resolved"
FLAPPING = "flapping"  # not a state of its own: a mark on an alert whose state keeps changing
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
    details: dict[str, str] = field(default_factory=dict)  # the last sample's words for the annotations
    no_data: bool = False  # the last evaluation found no data for this group
    last_sent: float | None = None
    context: list[str] = field(default_factory=list)  # what changed before it fired (alerts.context)
    recent: list[str] = field(default_factory=list)  # the state after each of the last evaluations (flapping)
    flapping: bool = False
    flapping_since: float | None = None  # the flapping alert's startsAt

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


def flap(state: AlertState, now: float) -> tuple[AlertState, str | None]:
    """Record the state of an evaluation at ``now`` and mark or unmark the alert as flapping.

    Returns the new state and ``"started"`` / ``"stopped"`` when the mark changed (else None).
    A flapping alert is sent as firing (from ``flapping_since``) whatever its state does, so its
    flips notify nobody; when it stops flapping and is not firing, it resolves at ``now``."""
    state = dataclasses.replace(state, recent=remember(state.recent, state.state))
    flapping = flapping_now(state.flapping, percent_change(state.recent))
    if flapping == state.flapping:
        return state, None
    state.flapping = flapping
    if flapping:
        state.flapping_since, state.last_sent = state.fired_at or now, None  # sent at once, marked
        return state, "started"
    if state.state != FIRING:
        state.state, state.fired_at, state.resolved_at = RESOLVED, state.flapping_since or now, now
    state.flapping_since = None
    return state, "stopped"


def due(state: AlertState, now: float, resend: float, resolved_for: float) -> bool:
    """Should the alert go to Alertmanager now: firing (or flapping) and not sent for ``resend``
    seconds, or resolved less than ``resolved_for`` ago and not sent since it resolved or for ``resend``."""
    if state.state == FIRING or state.flapping:
        return state.last_sent is None or now - state.last_sent >= resend
    if state.state == RESOLVED and state.resolved_at is not None and now - state.resolved_at < resolved_for:
        return (state.last_sent is None or state.last_sent < state.resolved_at
                or now - state.last_sent >= resend)
    return False


def finished(state: AlertState, now: float, resolved_for: float) -> bool:
    """Nothing left to remember: inactive with no recent change, or resolved at least
    ``resolved_for`` ago; never while flapping."""
    if state.flapping:
        return False
    if state.state == INACTIVE:
        return percent_change(state.recent) == 0.0
    return state.state == RESOLVED and state.resolved_at is not None and now - state.resolved_at >= resolved_for
