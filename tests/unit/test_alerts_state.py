"""The alert state machine: pending for `for`, firing, keep_firing_for, resolved, no-data policies, re-sends."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from alerts.state import FIRING, INACTIVE, PENDING, RESOLVED, AlertState, due, finished, step


@dataclass
class Timing:
    for_seconds: float = 0.0
    keep_firing_for: float = 0.0
    no_data: str = "keep_state"


def run(outcomes, rule, start=0.0, every=10.0):
    """Step through ``outcomes`` (one per evaluation, ``every`` seconds apart); the states seen."""
    state, seen = AlertState(), []
    for n, outcome in enumerate(outcomes):
        state, _ = step(state, outcome, 1.0, start + n * every, rule)
        seen.append(state.state)
    return state, seen


def test_a_condition_shorter_than_for_never_fires():
    _, seen = run([True, True, False, True, False], Timing(for_seconds=30))
    assert seen == [PENDING, PENDING, INACTIVE, PENDING, INACTIVE]


def test_it_fires_once_the_condition_held_for_the_whole_for_and_resolves_when_it_stops():
    state, seen = run([True, True, True, True, False], Timing(for_seconds=30))
    assert seen == [PENDING, PENDING, PENDING, FIRING, RESOLVED]
    assert state.fired_at == 30 and state.resolved_at == 40 and state.active_since == 0


def test_without_for_the_first_true_evaluation_fires():
    state, moved = step(AlertState(), True, 9.0, 100.0, Timing())
    assert (state.state, moved.old, moved.new, state.value) == (FIRING, INACTIVE, FIRING, 9.0)


def test_keep_firing_for_holds_a_firing_alert_through_short_dips():
    _, seen = run([True, False, False, True, False, False, False], Timing(keep_firing_for=25))
    assert seen == [FIRING, FIRING, FIRING, FIRING, FIRING, FIRING, RESOLVED]


def test_a_resolved_alert_that_comes_back_starts_pending_again_with_a_new_start():
    state, seen = run([True, True, False, True, True], Timing(for_seconds=10))
    assert seen == [PENDING, FIRING, RESOLVED, PENDING, FIRING]
    assert state.fired_at == 40 and state.resolved_at is None


@pytest.mark.parametrize("policy, expected", [("ok", RESOLVED), ("alerting", FIRING), ("keep_state", FIRING)])
def test_no_data_follows_the_rules_policy(policy, expected):
    state, seen = run([True, None, None], Timing(no_data=policy))
    assert seen[-1] == expected
    assert state.no_data


def test_keep_state_on_no_data_moves_no_timer():
    rule = Timing(for_seconds=30, no_data="keep_state")
    state, seen = run([True, None, None, None, True], rule)
    assert seen == [PENDING, PENDING, PENDING, PENDING, FIRING]  # pending since 0: 40 s >= 30 s at the 5th


def test_no_data_alerting_makes_a_silent_group_fire_after_for():
    _, seen = run([None, None, None], Timing(for_seconds=15, no_data="alerting"))
    assert seen == [PENDING, PENDING, FIRING]


def test_firing_is_sent_at_once_then_every_resend_period():
    state = AlertState(state=FIRING, fired_at=0.0)
    assert due(state, 0.0, resend=60, resolved_for=300)
    state.last_sent = 0.0
    assert not due(state, 59.0, resend=60, resolved_for=300)
    assert due(state, 60.0, resend=60, resolved_for=300)


def test_resolved_is_sent_at_once_then_re_sent_until_resolved_for_passed_and_then_forgotten():
    state = AlertState(state=RESOLVED, fired_at=0.0, resolved_at=100.0, last_sent=90.0)
    assert due(state, 100.0, resend=60, resolved_for=300)  # not sent since it resolved
    state.last_sent = 100.0
    assert not due(state, 130.0, resend=60, resolved_for=300)
    assert due(state, 160.0, resend=60, resolved_for=300)
    assert not due(state, 400.0, resend=60, resolved_for=300)
    assert not finished(state, 399.0, 300) and finished(state, 400.0, 300)


def test_state_survives_its_json_form():
    state, _ = step(AlertState(labels={"host": "web-1"}), True, 3.5, 7.0, Timing())
    assert AlertState.from_json(state.to_json()) == state
    assert AlertState.from_json({"state": "bogus"}).state == INACTIVE
