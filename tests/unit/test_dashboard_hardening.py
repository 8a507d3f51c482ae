"""The dashboard's defences as pure logic: bounded JSON, scrubbed text, login throttling, cached
session checks, the ``next`` target and time ranges at the calendar's ends."""
from __future__ import annotations

import json

import pytest

from cmdb import Unreachable
from dashboard import DashboardConfig, create_app
from dashboard.auth import _safe_next
from dashboard.safe_json import JsonRejected, SafeJSONProvider, ScrubbingCompatibilityJsonSerializer, loads, scrub
from dashboard.sessions import CheckedSessions
from dashboard.throttle import LoginThrottle, Policy
from dashboard.timerange import BadTimeRange, TimeRange


def fake_app():
    return create_app(DashboardConfig(elasticsearch="http://127.0.0.1:9", zookeeper="127.0.0.1:9"))


def test_json_deeper_than_the_limit_is_refused_by_name_also_far_beyond_the_recursion_limit():
    for depth in (65, 5000, 100_000):
        with pytest.raises(JsonRejected, match="nested deeper than 64 levels"):
            loads('{"value": ' + "[" * depth + "]" * depth + "}")
    value = loads("[" * 64 + "]" * 64)
    for _ in range(63):
        value = value[0]
    assert value == []


def test_json_with_a_lone_surrogate_or_too_big_is_refused_and_a_valid_pair_is_kept():
    with pytest.raises(JsonRejected, match="lone surrogate"):
        loads('{"message": "a \\ud800 b"}')
    with pytest.raises(JsonRejected, match="lone surrogate"):
        loads('{"\\udc00": 1}')
    assert loads('"\\ud83d\\ude00"') == "\U0001F600"
    with pytest.raises(JsonRejected, match="at most 10"):
        loads('"' + "x" * 20 + '"', max_bytes=10)
    with pytest.raises(JsonRejected, match="not valid JSON: .* at line 1 column 9"):
        loads('{"a": 1,')
    with pytest.raises(JsonRejected, match="Exceeds the limit"):
        loads('{"a": ' + "1" * 5000 + "}")


def test_elasticsearch_answers_with_lone_surrogates_or_bad_utf8_decode_to_the_replacement_character():
    serializer = ScrubbingCompatibilityJsonSerializer()
    answer = serializer.loads(b'{"hits": [{"message": "a \\ud800 b", "\\udfff": ["\\ud83d\\ude00"]}], "x": "\xed\xa0\x80"}')
    assert answer == {"hits": [{"message": "a \ufffd b", "\ufffd": ["\U0001F600"]}], "x": "\ufffd\ufffd\ufffd"}
    assert scrub({"a": ("keep",), "n": 1}) == {"a": ("keep",), "n": 1}


def test_json_answers_never_carry_a_lone_surrogate():
    app = fake_app()
    text = SafeJSONProvider(app).dumps({"message": "a \ud800 b", "ok": "\U0001F600"})
    assert json.loads(text) == {"message": "a \ufffd b", "ok": "\U0001F600"}


def test_a_page_with_a_lone_surrogate_renders_the_replacement_character():
    app = fake_app()
    response = app.response_class("<p>a \ud800 b</p>")
    assert response.get_data(as_text=True) == "<p>a \ufffd b</p>"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_lock_the_user_and_each_further_failure_doubles_the_lock():
    clock = Clock()
    throttle = LoginThrottle(user=Policy(failures=5, first_lock_s=30), clock=clock)
    keys = ("user:alice", "addr:10.0.0.7")
    for _ in range(4):
        throttle.failed(*keys)
    assert throttle.retry_after(*keys) == 0
    throttle.failed(*keys)
    assert throttle.retry_after(*keys) == 30
    clock.now += 31
    throttle.failed(*keys)
    assert throttle.retry_after("user:alice") == 60
    assert throttle.retry_after("user:bob", "addr:10.0.0.8") == 0


def test_a_success_clears_the_user_but_not_the_address_and_an_address_locks_across_users():
    clock = Clock()
    throttle = LoginThrottle(user=Policy(failures=5), address=Policy(failures=8, first_lock_s=30), clock=clock)
    for i in range(8):
        throttle.failed(f"user:u{i}", "addr:10.0.0.7")
    assert throttle.retry_after("user:fresh", "addr:10.0.0.7") == 30
    throttle.succeeded("user:u1")
    assert throttle.retry_after("user:u1") == 0 and throttle.retry_after("addr:10.0.0.7") == 30


def test_failures_older_than_the_window_are_forgotten_and_the_lock_has_a_ceiling():
    clock = Clock()
    throttle = LoginThrottle(user=Policy(failures=2, window_s=60, first_lock_s=10, max_lock_s=100), clock=clock)
    throttle.failed("user:a")
    clock.now += 61
    throttle.failed("user:a")
    assert throttle.retry_after("user:a") == 0
    for _ in range(40):
        throttle.failed("user:a")
    assert throttle.retry_after("user:a") == 100


def test_the_throttle_keeps_a_bounded_number_of_keys():
    throttle = LoginThrottle(clock=Clock(), max_keys=100)
    for i in range(1000):
        throttle.failed(f"user:u{i}")
    assert throttle.retry_after("user:u999") == 0 and len(throttle) <= 100


def test_session_answers_are_cached_for_the_ttl_and_forgotten_at_once_on_logout():
    clock, calls = Clock(), []

    def verify(name: str, sid: str) -> str:
        calls.append((name, sid))
        return f"{name}-ok"

    checked = CheckedSessions(verify, ttl=1.0, clock=clock)
    assert checked.check("alice", "s1") == "alice-ok" and checked.check("alice", "s1") == "alice-ok"
    assert len(calls) == 1
    clock.now += 1.0
    checked.check("alice", "s1")
    assert len(calls) == 2
    checked.forget("alice")
    checked.check("alice", "s1")
    assert len(calls) == 3


def test_while_the_cmdb_is_unreachable_the_last_answer_serves_for_the_grace_period_only():
    clock, down = Clock(), []

    def verify(name: str, sid: str) -> str:
        if down:
            raise Unreachable("ZooKeeper at 127.0.0.1:9 did not answer")
        return "ok"

    checked = CheckedSessions(verify, ttl=1.0, grace=60.0, clock=clock)
    assert checked.check("alice", "s1") == "ok"
    down.append(True)
    clock.now += 30
    assert checked.check("alice", "s1") == "ok"
    clock.now += 31
    with pytest.raises(Unreachable):
        checked.check("alice", "s1")
    with pytest.raises(Unreachable):
        checked.check("bob", "s2")  # never checked: no answer to stand in


@pytest.mark.parametrize("target", [
    "/\t/127.0.0.1:8000/health", "//127.0.0.1:8000/health", "/\\127.0.0.1", "https://example.org/",
    "/logs\r\nSet-Cookie: x=1", "/\n/example.org", " /logs", "javascript:alert(1)", "", None,
    "/\x00/example.org", "/\u2028/example.org",
])
def test_next_off_site_or_with_control_characters_goes_to_the_overview(target):
    with fake_app().test_request_context("/login"):
        assert _safe_next(target) == "/"


def test_next_on_this_site_is_kept():
    with fake_app().test_request_context("/login"):
        assert _safe_next("/logs?q=a&level=error") == "/logs?q=a&level=error"
        assert _safe_next("/traces/4bf92f3577b34da6a3ce929d0e0e4736") == "/traces/4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(("start", "end", "message"), [
    ("now-999999999d", None, "bad time in from"), ("now-9999999999999999999999s", None, "bad time in from"),
    ("now-3000000d", "now-2999999d", "bad time in from"), (None, "9999-12-31T23:59:59-23:59", "bad time in to"),
    ("0001-01-01T00:00:00+23:59", "0001-01-02", "bad time in from"), ("0001-01-01", "9999-12-31", "at most 31 days"),
    ("x" * 10_000, None, "bad time in from"),
])
def test_time_ranges_beyond_the_calendar_are_bad_ranges_not_crashes(start, end, message):
    with pytest.raises(BadTimeRange, match=message):
        TimeRange.parse(start, end)
