"""Flap detection: the weighted percent state change over the last 20 evaluations, with hysteresis."""
from __future__ import annotations

from dataclasses import dataclass

from alerts.flapping import HIGH, LOW, WINDOW, flapping_now, percent_change, remember
from alerts.notify import payload
from alerts.rules import parse_rule
from alerts.state import FIRING, INACTIVE, PENDING, RESOLVED, AlertState, due, finished, flap, step


@dataclass
class Timing:
    for_seconds: float = 0.0
    keep_firing_for: float = 0.0
    no_data: str = "keep_state"


RULE = parse_rule("prod/alerts/order-errors", {"kind": "service", "service": "order-service",
                                               "measure": "error_rate", "op": ">", "threshold": 5})


def evaluate(outcomes, rule=None, every=10.0):
    """Step and flap through ``outcomes``; the states and the flapping marks after each evaluation."""
    state, seen, rule = AlertState(), [], rule or Timing()
    for n, outcome in enumerate(outcomes):
        state, _ = step(state, outcome, 7.0, n * every, rule)
        state, mark = flap(state, n * every)
        seen.append((state.state, state.flapping, mark))
    return state, seen


def test_a_steady_history_has_no_change_and_every_flip_counts_weighted():
    assert percent_change([FIRING] * WINDOW) == 0.0
    assert percent_change([INACTIVE, FIRING] * 10) == 100.0
    oldest = percent_change([INACTIVE] + [FIRING] * 19)  # one change, the oldest: weight 0.8
    newest = percent_change([INACTIVE] * 19 + [FIRING])  # one change, the newest: weight 1.2
    assert (oldest, newest) == (round(80 / 19, 2), round(120 / 19, 2))


def test_only_the_last_twenty_evaluations_are_kept():
    history: list[str] = []
    for n in range(30):
        history = remember(history, str(n))
    assert history == [str(n) for n in range(10, 30)]


def test_it_starts_above_the_high_threshold_and_stops_only_below_the_low_one():
    assert not flapping_now(False, HIGH) and flapping_now(False, HIGH + 0.1)
    assert flapping_now(True, LOW) and flapping_now(True, 40.0) and not flapping_now(True, LOW - 0.1)


def test_a_flipping_alert_is_marked_once_sent_as_one_firing_alert_and_resolved_when_calm():
    flips = [True, False] * 8
    state, seen = evaluate(flips + [False] * 20)
    marks = [mark for _, _, mark in seen]
    assert marks.count("started") == 1 and marks.count("stopped") == 1
    started, stopped = marks.index("started"), marks.index("stopped")
    assert all(flapping for _, flapping, _ in seen[started:stopped])
    assert seen[stopped][0] == RESOLVED  # calm again: the flapping alert resolves
    flapping_state, _ = evaluate(flips)
    assert flapping_state.flapping and flapping_state.state == RESOLVED  # between flips it is resolved...
    assert due(flapping_state, 1000.0, 60.0, 300.0) and not finished(flapping_state, 1e9, 300.0)
    body = payload(RULE, flapping_state, 1000.0, 60.0)  # ...but sent as firing, marked, from when it began
    assert body["annotations"]["flapping"] == "true"
    assert body["endsAt"] > body["startsAt"] and body["endsAt"] > "1970-01-01T00:16:40"


def test_a_pending_alert_that_keeps_flipping_is_flapping_too_and_kept_until_calm():
    state, seen = evaluate([True, False] * 8, Timing(for_seconds=60))
    assert {s for s, _, _ in seen} == {PENDING, INACTIVE} and state.flapping
    calm = AlertState(recent=[PENDING, INACTIVE, INACTIVE])
    assert not finished(calm, 0.0, 300.0)  # an inactive alert with recent changes keeps its history
    assert finished(AlertState(recent=[INACTIVE] * 3), 0.0, 300.0)


def test_the_flapping_history_survives_the_persisted_state():
    state, _ = evaluate([True, False] * 8)
    again = AlertState.from_json(state.to_json())
    assert (again.recent, again.flapping, again.flapping_since) == (state.recent, True, state.flapping_since)


def test_an_alert_that_starts_flapping_is_sent_at_once():
    state = AlertState(state=RESOLVED, resolved_at=90.0, last_sent=95.0, recent=[INACTIVE, FIRING] * 9 + [INACTIVE])
    state, mark = flap(state, 100.0)
    assert mark == "started" and due(state, 100.0, 60.0, 300.0)
