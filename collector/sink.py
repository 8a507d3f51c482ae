"""Delivery to Elasticsearch through the official bulk helpers, with the spool behind it.

:meth:`Sink.deliver` returns only when every action is durable: created in Elasticsearch (or found
there already), kept in the dead-letter index, or fsynced into the spool. It raises
:class:`~collector.spool.SpoolFull` when it can do none of these, so the caller answers 503. A
replay thread sends spooled segments back, oldest first, once Elasticsearch answers again; while
anything is spooled, new batches queue behind it so the order holds. Both wait between tries with
exponential backoff and full jitter (:class:`foundation.waiting.Backoff`, ``retry_backoff`` the
first window): items retried within a request up to 10 s apart, the replay up to 5 s.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import tenacity
from elasticsearch import helpers

from foundation.waiting import Backoff

from .decode import Action
from .indices import dead_letter_action, install
from .metrics import CollectorMetrics
from .retry_policy import Verdict, classify_exception, classify_item
from .spool import Spool

log = logging.getLogger(__name__)


@dataclass
class SendResult:
    """One pass over Elasticsearch: what was delivered, dead-lettered, and what must be tried again."""

    delivered: int = 0
    dead_lettered: int = 0
    dropped: int = 0  # dead letters the dead-letter index refused for good (logged)
    retry: list[Action] = field(default_factory=list)
    unreachable: bool = False
    reason: str = ""


class TemplateGate:
    """Install the index templates once, before the first document is written (and again after a failure)."""

    def __init__(self, client: Any, prefix: str, replicas: int = 0) -> None:
        self.client = client
        self.prefix = prefix
        self.replicas = replicas
        self._done = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        if self._done:
            return
        with self._lock:
            if not self._done:
                install(self.client, self.prefix, self.replicas)
                self._done = True


class Sink:
    def __init__(self, client: Any, spool: Spool, metrics: CollectorMetrics, *, chunk_size: int = 1000,
                 item_retries: int = 2, retry_backoff: float = 0.2, prefix: str = "oam",
                 templates: TemplateGate | None = None) -> None:
        self.client = client
        self.spool = spool
        self.metrics = metrics
        self.chunk_size = chunk_size
        self.item_retries = item_retries
        self.retry_backoff = retry_backoff
        self.item_backoff = Backoff(base=retry_backoff, cap=10.0, attempts=item_retries + 1)
        self.replay_backoff = Backoff(base=retry_backoff, cap=5.0)
        self.prefix = prefix
        self.templates = templates or TemplateGate(client, prefix)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._replayer: threading.Thread | None = None
        self.last_error = ""

    # -- one pass -----------------------------------------------------------------------
    def send(self, actions: list[Action], dead_letters: bool = True) -> SendResult:
        """Bulk-create ``actions`` once and sort every item by the retry policy.

        Refused documents become dead letters, sent in a second pass; a dead letter that is
        itself refused for good (``dead_letters=False``) is logged and dropped, never looped on.
        """
        result = SendResult()
        if not actions:
            return result
        try:
            self.templates.ensure()
        except Exception as exc:  # noqa: BLE001 - any failure here means "not now"
            decision = classify_exception(exc)
            return SendResult(retry=list(actions), unreachable=True, reason=decision.reason or str(exc))
        dead: list[Action] = []
        position = 0
        started = time.perf_counter()
        try:
            for _ok, item in helpers.streaming_bulk(
                self.client, (action.bulk() for action in actions), chunk_size=self.chunk_size,
                raise_on_error=False, raise_on_exception=False, max_retries=0, yield_ok=True,
            ):
                action = actions[position]
                position += 1
                decision = classify_item(item)
                if decision.verdict is Verdict.DELIVERED:
                    result.delivered += 1
                elif decision.verdict is Verdict.RETRY:
                    result.retry.append(action)
                    result.reason = decision.reason
                elif dead_letters:
                    dead.append(dead_letter_action(action, decision.reason, self.prefix))
                else:
                    result.dropped += 1
                    log.error("dead letter %s/%s refused: %s", action.index, action.id, decision.reason)
        except Exception as exc:  # noqa: BLE001 - transport errors: no answer for the rest
            decision = classify_exception(exc)
            rest = actions[position:]
            if decision.verdict is Verdict.DEAD_LETTER and not dead_letters:
                result.dropped += len(rest)
                log.error("%d dead letters refused: %s", len(rest), decision.reason)
            elif decision.verdict is Verdict.DEAD_LETTER:
                dead.extend(dead_letter_action(action, decision.reason, self.prefix) for action in rest)
            else:
                result.retry.extend(rest)
                result.unreachable = True
                result.reason = decision.reason
        finally:
            self.metrics.bulk_seconds.observe(time.perf_counter() - started)
        if dead:
            dead_result = self.send(dead, dead_letters=False)  # created like any document
            result.dead_lettered += dead_result.delivered
            result.retry.extend(dead_result.retry)  # replayed later; their _id keeps them single
            result.unreachable |= dead_result.unreachable
            result.dropped += dead_result.dropped
        if result.retry:
            self.last_error = result.reason
        if dead_letters:  # the outer pass counts for both
            self.metrics.indexed.inc(result.delivered)
            self.metrics.dead_lettered.inc(result.dead_lettered)
            self.metrics.failed.inc(len(result.retry) + result.dropped)
        return result

    # -- durable delivery ---------------------------------------------------------------
    def deliver(self, actions: list[Action]) -> None:
        """Make every action durable (see the module docstring); raises SpoolFull if it cannot."""
        if not actions:
            return
        if not self.spool.empty():
            self._to_spool(actions)
            return
        pending = actions

        def attempt() -> SendResult:
            nonlocal pending
            result = self.send(pending)
            pending = result.retry
            return result

        # Items Elasticsearch asked to retry (429, 5xx) are tried again; an unreachable one is spooled at once.
        self.item_backoff.retrying(
            retry=tenacity.retry_if_result(lambda result: bool(result.retry) and not result.unreachable))(attempt)
        if pending:
            self._to_spool(pending)

    def _to_spool(self, actions: list[Action]) -> None:
        try:
            self.spool.append(actions)
        except Exception:
            self.metrics.spool_full.inc()
            raise
        self.metrics.spooled.inc(len(actions))
        self._wake.set()

    # -- replay -------------------------------------------------------------------------
    def replay_once(self) -> bool:
        """Send the oldest spooled segment; True if the spool holds nothing more that could be sent now."""
        segment = self.spool.oldest()
        if segment is None:
            return True
        try:
            actions = segment.actions()
        except (OSError, ValueError, KeyError) as exc:
            broken = segment.path.with_suffix(".broken")
            log.error("spool segment %s unreadable (%s); moved to %s", segment.path, exc, broken)
            segment.path.rename(broken)
            self.spool.finish(segment)
            return False
        result = self.send(actions)
        self.spool.finish(segment, result.retry)
        return bool(result.retry)

    def start_replay(self) -> None:
        if self._replayer is None:
            self._replayer = threading.Thread(target=self._replay_loop, name="oam-spool-replay", daemon=True)
            self._replayer.start()

    def _replay_loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            if self.spool.empty():
                failures = 0
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                stalled = self.replay_once()
            except Exception:
                log.exception("spool replay failed")
                stalled = True
            if stalled and not self.spool.empty():
                failures += 1
                delay = self.replay_backoff.delay(failures)
                log.warning("Elasticsearch not taking spooled documents (%s); retry in %.1fs", self.last_error, delay)
                self._stop.wait(delay)
            else:
                failures = 0

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._replayer is not None:
            self._replayer.join(timeout=30)
            self._replayer = None
