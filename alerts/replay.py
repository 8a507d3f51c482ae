"""``oam alerts test``: a rule replayed over stored data, step by step, as the evaluator runs it.

Each step evaluates the rule with the live evaluator's query code (:func:`alerts.queries.evaluate`)
as of that moment and moves each group through the same :func:`alerts.state.step`; a group is
forgotten when :func:`alerts.state.finished` says so, as the evaluator does after delivery.
Every kind replays but the ``suite`` check ``elasticsearch_health``, which reads the health now.

Usage::

    times = evaluation_times(since=now - 86400, until=now, step=rule.interval)
    result = replay(client, rule, times, hosts=["web-1"])
    result.changes          # [Change(at, labels, old, new, value)], oldest first
    result.fired, result.firing_seconds
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .queries import evaluate
from .rules import Rule, parse_duration
from .state import FIRING, AlertState, finished, step

MAX_EVALUATIONS = 5000


class ReplayError(ValueError):
    """A replay that cannot run as asked; the message is one line saying why."""


@dataclass(frozen=True)
class Change:
    """One group's transition at ``at``."""

    at: float
    labels: dict[str, str]
    old: str
    new: str
    value: float | None


@dataclass
class Replay:
    """What a replay found: the transitions, how often the rule fired and for how long in total."""

    evaluations: int = 0
    changes: list[Change] = field(default_factory=list)
    fired: int = 0
    firing_seconds: float = 0.0
    firing_at_end: list[dict[str, str]] = field(default_factory=list)


def parse_moment(text: str, now: float) -> float:
    """POSIX seconds of ``now``, a duration ago (``24h``) or an ISO 8601 time (UTC unless it says)."""
    text = text.strip()
    if text == "now":
        return now
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReplayError(f"invalid time {text!r}: use now, a duration ago (24h, 30m) or ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def evaluation_times(since: float, until: float, step_seconds: float,
                     limit: int = MAX_EVALUATIONS) -> list[float]:
    """``since``, ``since + step`` ... up to ``until``; refused past ``limit`` evaluations."""
    if until <= since:
        raise ReplayError("the replay's start (--since) must lie before its end (--until)")
    if step_seconds <= 0:
        raise ReplayError("--step must be longer than 0s")
    count = int((until - since) // step_seconds) + 1
    if count > limit:
        wider = math.ceil((until - since) / (limit - 1))
        raise ReplayError(f"{count} evaluations at {step_seconds:g}s steps is more than {limit}: "
                          f"use a larger --step (at least {wider}s) or a shorter --since")
    return [since + n * step_seconds for n in range(count)]


def replay(client: Any, rule: Rule, times: Sequence[float], hosts: Iterable[str] = (), prefix: str = "oam",
           resolved_for: float = 300.0, progress: Callable[[int, int], None] | None = None) -> Replay:
    """Evaluate ``rule`` at each of ``times`` from no state; a failing query raises
    :class:`alerts.queries.QueryFailed`. ``progress(done, total)`` is called after each step.
    An ``elasticsearch_health`` check is refused: Elasticsearch keeps no history of its health."""
    if rule.kind == "suite" and rule.check == "elasticsearch_health":
        raise ReplayError(f"{rule.key}: elasticsearch_health cannot be replayed (Elasticsearch keeps no "
                          "history of its health); dead_letters and the other kinds can")
    result = Replay()
    groups: dict[str, AlertState] = {}
    firing_since: dict[str, float] = {}  # group key -> when it fired
    expected = sorted(set(hosts))
    for done, now in enumerate(times, start=1):
        reading = evaluate(client, rule, now, expected, prefix)
        for key in sorted(set(groups) | set(reading.groups)):
            sample = reading.groups.get(key)
            current = groups.get(key) or AlertState(labels=sample.labels if sample else {})
            outcome, value = (sample.outcome, sample.value) if sample else (None, None)
            groups[key], moved = step(current, outcome, value, now, rule)
            if moved is None:
                continue
            result.changes.append(Change(now, dict(groups[key].labels), moved.old, moved.new, groups[key].value))
            if moved.new == FIRING:
                result.fired += 1
                firing_since[key] = now
            elif moved.old == FIRING:
                result.firing_seconds += now - firing_since.pop(key, now)
        groups = {key: state for key, state in groups.items() if not finished(state, now, resolved_for)}
        result.evaluations = done
        if progress is not None:
            progress(done, len(times))
    if times:
        result.firing_seconds += sum(times[-1] - since for since in firing_since.values())
    result.firing_at_end = [dict(groups[key].labels) for key in sorted(firing_since) if key in groups]
    return result
