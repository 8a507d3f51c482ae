"""The suite's one way to retry and to wait: backoff with full jitter, deadlines, ``Retry-After``.

Usage::

    # Retry a call: exponential backoff with full jitter, at most 5 attempts and 30 s in all.
    policy = Backoff(base=0.5, cap=10.0, attempts=5, deadline=30.0)
    retrying = policy.retrying(retry=tenacity.retry_if_exception_type(ConnectionError))
    answer = retrying(send, batch)      # the last exception is raised when it gives up

    # A loop that schedules rather than sleeps: the wait after failed attempt number n (1-based).
    next_try = time.monotonic() + policy.delay(n, retry_after=parse_retry_after(headers.get("Retry-After")))

    # Poll until ready: the first truthy answer, or TimeoutError naming what and why not.
    wait_until(lambda: port_open(9200), timeout=60, interval=0.5, what="Elasticsearch on :9200")

The wait after failed attempt ``n`` is uniform in ``[0, min(cap, base * 2**(n-1))]`` (tenacity's
``wait_random_exponential``, "full jitter"), so clients that failed together do not come back
together. When the server said when to come back (``Retry-After``, in seconds or as an HTTP date:
an exception's ``retry_after`` attribute, or the ``Retry-After`` header of its ``response``), the
wait is at least that, up to ``retry_after_cap``. A deadline is never passed: no wait that would end
after it is started (polling waits are cut short instead, for a last check at the deadline).

A condition given to :func:`wait_until` says why it is not ready by raising :class:`NotReady`
(or one of its ``retry_on`` exceptions); that reason is the end of the timeout's message. Any
other exception ends the wait at once. ``sleep`` and ``clock`` are injectable for tests.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import tenacity

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]


class NotReady(Exception):
    """Raised by a :func:`wait_until` condition: not ready yet, and why."""


class WaitTimeout(TimeoutError):
    """:func:`wait_until` gave up: ``what`` was not ready; ``reason`` is the last check's answer."""

    def __init__(self, what: str, waited: float, attempts: int, reason: str) -> None:
        super().__init__(f"timed out after {waited:.3g}s ({attempts} checks) waiting for {what}: {reason}")
        self.what = what
        self.attempts = attempts
        self.reason = reason


def parse_retry_after(value: str | float | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks for (delta-seconds or an HTTP date), or None if it says nothing."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return max(0.0, float(value)) if math.isfinite(value) else None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # HTTP dates are GMT
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


def retry_after_of(exc: BaseException | None) -> float | None:
    """The ``Retry-After`` an exception carries: its ``retry_after``, or its ``response``'s header."""
    if exc is None:
        return None
    value = getattr(exc, "retry_after", None)
    if value is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
        value = headers.get("Retry-After") if headers is not None else None
    return parse_retry_after(value)


class _Deadline:
    def __init__(self, seconds: float | None, clock: Clock) -> None:
        self.clock = clock
        self.started = clock()
        self.at = math.inf if seconds is None else self.started + seconds

    def remaining(self) -> float:
        return self.at - self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started


@dataclass(frozen=True)
class Backoff:
    """A retry policy: exponential backoff with full jitter, bounded by ``attempts`` and/or ``deadline``.

    ``base`` is the first wait's window (0: retry at once) and ``cap`` the largest (seconds);
    ``attempts`` counts the first try; ``deadline`` is the total time from the first try;
    ``retry_after_cap`` bounds how long a server's ``Retry-After`` may hold the caller.
    """

    base: float = 0.5
    cap: float = 30.0
    attempts: int | None = None
    deadline: float | None = None
    retry_after_cap: float = 300.0

    def __post_init__(self) -> None:
        if not (0 <= self.base <= self.cap):
            raise ValueError(f"backoff needs 0 <= base <= cap, got base={self.base} cap={self.cap}")
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"backoff attempts must be at least 1, got {self.attempts}")
        if self.deadline is not None and self.deadline < 0:
            raise ValueError(f"backoff deadline must not be negative, got {self.deadline}")

    def _jitter(self) -> tenacity.wait.wait_base:
        return tenacity.wait_random_exponential(multiplier=self.base, max=self.cap)

    def _wait(self, state: tenacity.RetryCallState, retry_after: float | None) -> float:
        wait = self._jitter()(state)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_after_cap))
        return wait

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), at least ``retry_after``."""
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = max(1, attempt)
        return self._wait(state, retry_after)

    def wait(self) -> Callable[[tenacity.RetryCallState], float]:
        """A tenacity wait strategy: the jittered backoff, at least the failed attempt's ``Retry-After``."""
        def wait(state: tenacity.RetryCallState) -> float:
            outcome = state.outcome
            failed = outcome is not None and outcome.failed
            return self._wait(state, retry_after_of(outcome.exception()) if failed else None)  # type: ignore[union-attr]
        return wait

    def retrying(self, retry: tenacity.retry.retry_base | Callable[[tenacity.RetryCallState], bool] | None = None, *,
                 sleep: Sleep = time.sleep, clock: Clock = time.monotonic,
                 before_sleep: Callable[[tenacity.RetryCallState], None] | None = None) -> tenacity.Retrying:
        """A ``tenacity.Retrying`` for one call (its deadline counts from now).

        ``retry`` says which outcomes to retry (default: any ``Exception``). When it gives up, the
        last attempt's outcome stands: its exception is raised, or its result returned.
        """
        deadline = _Deadline(self.deadline, clock)
        attempts = self.attempts

        def stop(state: tenacity.RetryCallState) -> bool:
            if attempts is not None and state.attempt_number >= attempts:
                return True
            return deadline.remaining() < state.upcoming_sleep

        return tenacity.Retrying(
            retry=retry if retry is not None else tenacity.retry_if_exception_type(Exception),
            wait=self.wait(), stop=stop, sleep=sleep, before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
        )


def wait_until(condition: Callable[[], T], *, timeout: float | None, what: str, interval: float = 0.2,
               attempts: int | None = None, retry_on: tuple[type[BaseException], ...] = (),
               sleep: Sleep = time.sleep, clock: Clock = time.monotonic) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy; return that.

    Gives up after ``timeout`` seconds (None: no time limit) and/or ``attempts`` checks with
    :class:`WaitTimeout` (a ``TimeoutError``) naming ``what`` and the last reason: the message of a
    :class:`NotReady` or ``retry_on`` exception the condition raised, or the falsy value it returned.
    """
    if timeout is None and attempts is None:
        raise ValueError("wait_until needs a timeout or an attempts limit")
    if interval < 0 or (timeout is not None and timeout < 0):
        raise ValueError(f"wait_until needs interval >= 0 and timeout >= 0, got {interval} and {timeout}")
    deadline = _Deadline(timeout, clock)
    not_ready = (NotReady, *retry_on)

    def stop(state: tenacity.RetryCallState) -> bool:
        return (attempts is not None and state.attempt_number >= attempts) or deadline.remaining() <= 0

    def give_up(state: tenacity.RetryCallState) -> Any:
        outcome = state.outcome
        assert outcome is not None
        if outcome.failed:
            exc = outcome.exception()
            reason = (str(exc) or type(exc).__name__) if isinstance(exc, NotReady) else f"{type(exc).__name__}: {exc}"
        else:
            reason = f"the check returned {outcome.result()!r}"
        raise WaitTimeout(what, deadline.elapsed(), state.attempt_number, reason)

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(not_ready) | tenacity.retry_if_not_result(bool),
        wait=lambda state: max(0.0, min(interval, deadline.remaining())),
        stop=stop, sleep=sleep, retry_error_callback=give_up,
    )(condition)
