"""Login throttling: after a few failed logins a key (a user name, a client address) is locked for
a while, and each further failure while it stays in the window doubles the lock.

A lock holds whatever the password: a right one during a lock is refused too (429 with
``Retry-After``), so guessing on cannot be hidden behind one good login. A success clears the
user's count, not the address's, so an account of one's own does not reset the address::

    throttle = LoginThrottle()
    keys = ("user:alice", "addr:10.0.0.7")
    if wait := throttle.retry_after(*keys):
        ...                                  # 429, Retry-After: wait
    elif login_ok:
        throttle.succeeded("user:alice")
    else:
        throttle.failed(*keys)

Counts are kept in the serving process's memory (each dashboard process counts on its own).
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Policy:
    failures: int  # allowed in the window before the first lock
    window_s: float = 15 * 60
    first_lock_s: float = 30.0
    max_lock_s: float = 15 * 60

    def lock_for(self, failures: int) -> float:
        """How long ``failures`` failures in the window lock the key (0 below the limit)."""
        if failures < self.failures:
            return 0.0
        return min(self.max_lock_s, self.first_lock_s * 2 ** min(failures - self.failures, 32))


USER_POLICY = Policy(failures=5)
ADDRESS_POLICY = Policy(failures=20)


@dataclass
class _Count:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginThrottle:
    """Failure counts per key; keys start with ``user:`` or ``addr:``, which chooses the policy."""

    def __init__(self, user: Policy = USER_POLICY, address: Policy = ADDRESS_POLICY,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.user, self.address, self._clock, self._max_keys = user, address, clock, max_keys
        self._counts: dict[str, _Count] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many keys are counted now."""
        return len(self._counts)

    def _policy(self, key: str) -> Policy:
        return self.address if key.startswith("addr:") else self.user

    def retry_after(self, *keys: str) -> int:
        """Whole seconds until none of ``keys`` is locked (0: go ahead)."""
        now = self._clock()
        with self._lock:
            until = max((self._counts[k].locked_until for k in keys if k in self._counts), default=0.0)
        return max(0, math.ceil(until - now))

    def failed(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                policy = self._policy(key)
                count = self._counts.pop(key, None) or _Count()
                count.failures = [t for t in count.failures if now - t < policy.window_s] + [now]
                lock = policy.lock_for(len(count.failures))
                if lock:
                    count.locked_until = max(count.locked_until, now + lock)
                self._counts[key] = count  # newest last, so the oldest go first when full
            self._bound(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)

    def _bound(self, now: float) -> None:
        if len(self._counts) <= self._max_keys:
            return
        for key in list(self._counts):
            count = self._counts[key]
            if count.locked_until <= now and all(now - t >= self._policy(key).window_s for t in count.failures):
                del self._counts[key]
        while len(self._counts) > self._max_keys:
            del self._counts[next(iter(self._counts))]
