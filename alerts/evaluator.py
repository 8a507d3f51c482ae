"""The evaluator: every rule on its interval, one active evaluator among several (ZooKeeper election).

Usage::

    evaluator = Evaluator(cmdb, es_client, EvaluatorOptions("prod", ["http://am-1:9093", "http://am-2:9093"]))
    evaluator.run(stop)        # contends for leadership; while leader, runs rounds until ``stop`` is set

Each evaluator takes part in kazoo's :class:`~kazoo.recipe.election.Election` at
``<root>/locks/alerts-<environment>``. The leader reads the persisted state first
(:mod:`alerts.store`), then in each round evaluates the rules that are due, moves each group's
state (:func:`alerts.state.step`), sends what is due to every Alertmanager and writes the state
back. A leader whose ZooKeeper session is lost stops at once; a standby takes over.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kazoo.exceptions import CancelledError, KazooException
from kazoo.protocol.states import KazooState

from cmdb import Cmdb, CmdbError

from . import notify
from .context import what_changed
from .history import HistoryWriter, transition_document
from .queries import QueryFailed, evaluate
from .rules import Rule
from .state import FIRING, FLAPPING, INACTIVE, RESOLVED, AlertState, due, finished, flap, step
from .store import RuleState, drop_state, load_rules, load_states, save_state

log = logging.getLogger("alerts.evaluator")


@dataclass
class EvaluatorOptions:
    """How one evaluator runs; times in seconds."""

    environment: str
    alertmanagers: list[str] = field(default_factory=list)
    resend: float = 60.0  # a firing alert is sent again this often
    resolved_for: float = 300.0  # a resolved alert is sent for this long
    reload: float = 5.0  # the rules are read from the CMDB this often
    tick: float = 0.2  # how often the loop looks for due rules
    dashboard: str = ""  # the alerts' generatorURL opens it
    prefix: str = "oam"  # of the Elasticsearch indices
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


def election_path(cmdb: Cmdb, environment: str) -> str:
    """Where the evaluators of ``environment`` contend."""
    return cmdb.layout.lock(f"alerts-{environment}")


def evaluators(cmdb: Cmdb, environment: str) -> list[str]:
    """The identities of the evaluators of ``environment``: the active one first, then the standbys."""
    path = election_path(cmdb, environment)
    with cmdb.translated("read the election", path):
        if cmdb.client.retry(cmdb.client.exists, path) is None:
            return []
        return list(cmdb.client.Election(path).contenders())


class Evaluator:
    """Rules of one environment, evaluated against Elasticsearch, sent to Alertmanager."""

    def __init__(self, cmdb: Cmdb, elasticsearch: Any, options: EvaluatorOptions,
                 clock: Callable[[], float] = time.time) -> None:
        self.cmdb, self.elasticsearch, self.options, self.clock = cmdb, elasticsearch, options, clock
        self.rules: dict[str, Rule] = {}
        self.states: dict[str, RuleState] = {}
        self.leading = threading.Event()
        self._stop = threading.Event()  # run()'s, once it runs
        self._lost = threading.Event()
        self._next: dict[str, float] = {}
        self._loaded_at = float("-inf")
        self._broken: dict[str, str] = {}
        self.retired: dict[str, Rule] = {}  # removed rules whose resolved alerts are still being sent
        self.history = HistoryWriter(elasticsearch, options.prefix)
        cmdb.client.add_listener(self._on_state)

    def _on_state(self, state: str) -> None:
        if state == KazooState.LOST:
            self._lost.set()

    # -- leadership ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Contend for leadership until ``stop`` is set; lead while elected."""
        self._stop = stop
        path = election_path(self.cmdb, self.options.environment)
        self.cmdb.ensure_root(path)
        while not stop.is_set():
            election = self.cmdb.client.Election(path, self.options.identity)
            canceller = threading.Thread(target=lambda e=election: (stop.wait(), e.cancel()), daemon=True)
            canceller.start()
            self._lost.clear()
            try:
                election.run(self.lead, stop)
            except CancelledError:
                return
            except (KazooException, CmdbError) as exc:  # the session went away under the election
                log.warning("alerts: leadership lost (%s); contending again", type(exc).__name__)
            if not stop.is_set():
                stop.wait(1.0)

    def lead(self, stop: threading.Event) -> None:
        """Be the active evaluator: take up the persisted state, then run rounds."""
        self.leading.set()
        log.info("alerts: %s is the active evaluator of %s", self.options.identity, self.options.environment)
        try:
            self.states = load_states(self.cmdb, self.options.environment)
            self._loaded_at = float("-inf")
            self._next = {}
            while not stop.is_set() and not self._lost.is_set():
                if self.cmdb.client.state == KazooState.CONNECTED:
                    try:
                        self.round(self.clock())
                    except CmdbError as exc:
                        log.warning("alerts: %s", exc)
                stop.wait(self.options.tick)
        finally:
            self.leading.clear()

    # -- one round -------------------------------------------------------------------------
    def round(self, now: float) -> None:
        """Evaluate the rules that are due, send what is due, persist what changed."""
        if now - self._loaded_at >= self.options.reload:
            self._reload(now)
        touched: set[str] = set()
        for name, rule in sorted(self.rules.items()):
            if self._stop.is_set():  # stopping: the rest of the round waits for the next evaluator
                break
            if rule.enabled and now >= self._next.get(name, 0.0):
                self._next[name] = now + rule.interval
                self._evaluate(rule, now)
                touched.add(name)
        touched |= self._deliver(now)
        for name in sorted(touched):
            self._persist(name)
        self.history.flush()

    def _reload(self, now: float) -> None:
        rules, broken = load_rules(self.cmdb, self.options.environment)
        for key, reason in broken.items():
            if self._broken.get(key) != reason:
                log.warning("alerts: %s", reason)
        self._broken = broken
        fresh = {rule.name: rule for rule in rules}
        for name, rule in fresh.items():
            if self.rules.get(name) != rule:
                self._next.pop(name, None)  # a changed rule is evaluated at once
        for name in set(self.rules) - set(fresh):  # a removed rule resolves what it had firing
            for state in self.states.get(name, RuleState(name)).groups.values():
                if state.state == FIRING:
                    state.state, state.resolved_at = RESOLVED, now
                    self.history.add(transition_document(self.rules[name], state, RESOLVED, FIRING, now))
        self.retired.update({name: rule for name, rule in self.rules.items() if name not in fresh})
        for name in fresh:
            self.retired.pop(name, None)
        self.rules = fresh
        self._loaded_at = now

    def _expected_hosts(self, rule: Rule) -> list[str]:
        return [facts.name for facts in self.cmdb.inventory.known().values()
                if facts.environment == rule.environment and (not rule.role or facts.role == rule.role)]

    def _evaluate(self, rule: Rule, now: float) -> None:
        record = self.states.setdefault(rule.name, RuleState(rule.name))
        try:
            hosts = self._expected_hosts(rule) if rule.kind == "absent" else []
            reading = evaluate(self.elasticsearch, rule, now, hosts, self.options.prefix)
        except Exception as exc:  # noqa: BLE001 - one rule's failure, expected (QueryFailed, CmdbError) or not, never stops the others
            if not isinstance(exc, QueryFailed | CmdbError):
                log.exception("alerts: %s: unexpected %s while evaluating", rule.key, type(exc).__name__)
                exc = QueryFailed(f"{type(exc).__name__}: {exc}")
            if record.error != str(exc):
                log.warning("alerts: %s is in error: %s", rule.key, exc)
                if record.error is None:
                    self.history.add(transition_document(rule, None, "error", "ok", now, error=str(exc)))
            record.error = str(exc)  # state kept as it was: no false resolve
            return
        record.error, record.evaluated_at = None, now
        for key in sorted(set(record.groups) | set(reading.groups)):
            sample = reading.groups.get(key)
            current = record.groups.get(key) or AlertState(labels=sample.labels if sample else {})
            new, moved = step(current, sample.outcome if sample else None, sample.value if sample else None, now,
                              rule)
            if sample is not None and sample.details:  # a quiet error group keeps its type and message
                new.details = {**current.details, **sample.details}
            new, flapped = flap(new, now)
            self._record(rule, current, new, moved.old if moved else None, flapped, now)
            if moved:
                log.info("alerts: %s %s: %s -> %s (value %s)", rule.key, key, moved.old, moved.new,
                         notify.figure(new.value))
                if moved.new == FIRING:
                    new.context = what_changed(self.elasticsearch, self.options.prefix, new.fired_at or now,
                                               service=rule.service or new.labels.get("service", ""),
                                               host=new.labels.get("host", ""), environment=rule.environment)
            record.groups[key] = new

    def _record(self, rule: Rule, before: AlertState, after: AlertState, old: str | None, flapped: str | None,
                now: float) -> None:
        """Queue the history documents of one evaluation's transitions (an alert back to inactive has
        none; a flapping one none until it stops)."""
        if before.flapping and after.flapping:
            return
        if after.no_data and not before.no_data:
            self.history.add(transition_document(rule, after, "no_data", before.state, now))
        if old is not None and after.state != INACTIVE:
            self.history.add(transition_document(rule, after, after.state, old, now))
        elif flapped == "stopped" and after.state == RESOLVED and before.state != RESOLVED:
            self.history.add(transition_document(rule, after, RESOLVED, FLAPPING, now))
        if flapped == "started":
            log.info("alerts: %s %s is flapping", rule.key, after.labels)
            self.history.add(transition_document(rule, after, FLAPPING, after.state, now))

    def _deliver(self, now: float) -> set[str]:
        """Send every due alert to all Alertmanagers; mark them sent only when every one took them."""
        options, batch, sent = self.options, [], []
        rules = {**self.retired, **self.rules}
        for name, record in sorted(self.states.items()):
            rule = rules.get(name)
            if rule is None:
                continue
            for key, state in sorted(record.groups.items()):
                if due(state, now, options.resend, options.resolved_for):
                    batch.append(notify.payload(rule, state, now, options.resend, options.dashboard))
                    sent.append((name, key))
        touched = {name for name, _ in sent}
        if batch and options.alertmanagers:
            failures = notify.post(options.alertmanagers, batch)
            for failure in failures:
                log.warning("alerts: Alertmanager did not take %d alert(s): %s", len(batch), failure)
            if not failures:
                for name, key in sent:
                    self.states[name].groups[key].last_sent = now
        for name, record in list(self.states.items()):
            before = len(record.groups)
            record.groups = {k: s for k, s in record.groups.items() if not finished(s, now, options.resolved_for)}
            if len(record.groups) != before:
                touched.add(name)
        return touched

    def _persist(self, name: str) -> None:
        record = self.states.get(name)
        if record is None:
            return
        if name not in self.rules and not record.groups:
            drop_state(self.cmdb, self.options.environment, name)
            self.states.pop(name, None)
            self.retired.pop(name, None)
            return
        save_state(self.cmdb, self.options.environment, record)
