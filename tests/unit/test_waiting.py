"""The one retry/wait helper: backoff bounds and jitter, deadlines, Retry-After, wait_until."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import tenacity

from foundation.waiting import Backoff, NotReady, WaitTimeout, parse_retry_after, retry_after_of, wait_until


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Throttled(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("HTTP 503")
        self.retry_after = retry_after


def test_each_wait_is_full_jitter_below_an_exponential_window_and_the_cap():
    policy = Backoff(base=0.5, cap=30.0)
    for attempt in range(1, 12):
        window = min(30.0, 0.5 * 2 ** (attempt - 1))
        delays = [policy.delay(attempt) for _ in range(400)]
        assert 0 <= min(delays) and max(delays) <= window
        assert min(delays) < 0.2 * window and max(delays) > 0.8 * window  # spread over the whole window
    assert 24 < max(policy.delay(40) for _ in range(100)) <= 30.0


def test_retry_after_is_a_floor_up_to_its_cap():
    policy = Backoff(base=0.1, cap=1.0, retry_after_cap=60.0)
    assert all(7.0 <= policy.delay(1, retry_after=7.0) <= 7.0 for _ in range(50))
    assert policy.delay(1, retry_after=3600.0) == 60.0
    assert all(policy.delay(3, retry_after=0.0) <= 0.4 for _ in range(50))  # backoff when it asks for less


@pytest.mark.parametrize("value, seconds", [
    ("120", 120.0), (" 5 ", 5.0), ("-3", 0.0), (2.5, 2.5), (None, None), ("soon", None), ("", None), ("nan", None),
])
def test_parse_retry_after_seconds(value, seconds):
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date():
    now = datetime(2026, 12, 2, 6, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0  # in the past: now


def test_retry_after_is_read_off_an_exception_or_its_response():
    class Response:
        headers = {"Retry-After": "12"}

    class HttpError(Exception):
        response = Response()

    assert retry_after_of(HttpError()) == 12.0
    assert retry_after_of(Throttled(retry_after=3)) == 3.0
    assert retry_after_of(ValueError()) is None and retry_after_of(None) is None


def test_retrying_honours_retry_after_between_attempts():
    fake = FakeTime()
    calls = []

    def send() -> str:
        calls.append(fake.now)
        if len(calls) < 3:
            raise Throttled(retry_after=4.0)
        return "sent"

    retrying = Backoff(base=0.1, cap=1.0, attempts=5).retrying(sleep=fake.sleep, clock=fake.clock)
    assert retrying(send) == "sent"
    assert fake.sleeps == [4.0, 4.0]


def test_attempts_cap_raises_the_last_exception_itself():
    fake = FakeTime()
    calls = []

    def fail() -> None:
        calls.append(1)
        raise ConnectionError(f"refused #{len(calls)}")

    with pytest.raises(ConnectionError, match="refused #3"):
        Backoff(base=0.1, cap=1.0, attempts=3).retrying(sleep=fake.sleep, clock=fake.clock)(fail)
    assert len(calls) == 3 and len(fake.sleeps) == 2


def test_the_deadline_is_never_passed():
    fake = FakeTime()
    calls = []

    def fail() -> None:
        calls.append(fake.now)
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        Backoff(base=1.0, cap=4.0, deadline=10.0).retrying(sleep=fake.sleep, clock=fake.clock)(fail)
    assert len(calls) > 2
    assert sum(fake.sleeps) <= 10.0 and max(calls) <= 10.0


def test_a_retry_after_beyond_the_deadline_ends_the_retrying_at_once():
    fake = FakeTime()
    with pytest.raises(Throttled):
        Backoff(base=0.1, cap=1.0, deadline=5.0).retrying(sleep=fake.sleep, clock=fake.clock)(
            lambda: (_ for _ in ()).throw(Throttled(retry_after=30.0)))
    assert fake.sleeps == []


def test_only_the_outcomes_asked_for_are_retried_and_the_last_result_stands():
    fake = FakeTime()
    results = iter([["a", "b"], ["b"], ["b"], ["b"]])
    retrying = Backoff(base=0.1, attempts=3).retrying(retry=tenacity.retry_if_result(bool), sleep=fake.sleep,
                                                      clock=fake.clock)
    assert retrying(lambda: next(results)) == ["b"]  # still failing after 3 attempts: the last answer
    with pytest.raises(KeyError):
        Backoff(base=0.1).retrying(retry=tenacity.retry_if_exception_type(OSError), sleep=fake.sleep)(
            lambda: {}["x"])
    assert len(fake.sleeps) == 2


def test_bad_policies_are_refused():
    with pytest.raises(ValueError, match="base"):
        Backoff(base=-1)
    with pytest.raises(ValueError, match="attempts"):
        Backoff(attempts=0)


def test_wait_until_returns_the_first_truthy_answer():
    fake = FakeTime()
    answers = iter([None, False, {"status": "green"}])
    assert wait_until(lambda: next(answers), timeout=10, interval=0.5, what="x", sleep=fake.sleep,
                      clock=fake.clock) == {"status": "green"}
    assert fake.sleeps == [0.5, 0.5]


def test_wait_until_times_out_naming_what_and_the_last_reason_with_a_last_check_at_the_deadline():
    fake = FakeTime()
    checks = []

    def health() -> bool:
        checks.append(fake.now)
        raise NotReady(f"HTTP 503 at {fake.now:.1f}")

    with pytest.raises(TimeoutError) as caught:
        wait_until(health, timeout=1.0, interval=0.3, what="Elasticsearch on :9200", sleep=fake.sleep,
                   clock=fake.clock)
    assert isinstance(caught.value, WaitTimeout)
    assert str(caught.value) == "timed out after 1s (5 checks) waiting for Elasticsearch on :9200: HTTP 503 at 1.0"
    assert checks[-1] == pytest.approx(1.0) and len(checks) == 5


def test_wait_until_says_what_the_check_returned_or_raised():
    fake = FakeTime()
    with pytest.raises(WaitTimeout, match="waiting for the port: the check returned False"):
        wait_until(lambda: False, timeout=1, what="the port", sleep=fake.sleep, clock=fake.clock)

    def refused() -> bool:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    with pytest.raises(WaitTimeout, match=r"ConnectionRefusedError: \[Errno 111\]"):
        wait_until(refused, timeout=1, what="the port", retry_on=(OSError,), sleep=fake.sleep, clock=fake.clock)


def test_wait_until_stops_at_once_on_an_unexpected_error_and_counts_attempts():
    fake = FakeTime()
    calls = []

    def exited() -> bool:
        calls.append(1)
        raise RuntimeError("the server exited with code 1")

    with pytest.raises(RuntimeError, match="exited"):
        wait_until(exited, timeout=30, what="x", sleep=fake.sleep, clock=fake.clock)
    assert calls == [1] and fake.sleeps == []
    with pytest.raises(WaitTimeout, match=r"\(3 checks\)"):
        wait_until(lambda: None, timeout=None, attempts=3, interval=2, what="x", sleep=fake.sleep, clock=fake.clock)
    assert fake.sleeps == [2, 2]
