"""``oam agent run``: the loop that tails, collects, batches and ships, one host at a time.

Log lines are acknowledged (their checkpoints move) only after a collector took them; while
none does, tailing pauses — the log files are the buffer, so no line is ever dropped. Metrics
are taken on a thread of their own every interval, whatever the collectors do, and wait in a
bounded disk buffer, oldest dropped first when it is full.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from foundation.health import Check, Readiness, limit_check, readiness, register_runtime_collectors
from foundation.version import __version__
from foundation.waiting import Backoff
from telemetry.ecs import ServiceInfo, metric_document, stable_id

from .buffer import DiskBuffer
from .checkpoints import CheckpointStore
from .config import AgentConfig
from .documents import DocumentMaker, Event, MultilineJoiner
from .live_config import FIELDS, LiveAgentSettings
from .scrape import scrape
from .shipper import RETRY_AFTER_CAP, Refused, Shipper, Unavailable
from .status_server import StatusServer
from .system import SystemMetrics
from .tailer import Tailer

log = logging.getLogger("oam.agent")
# The pause after failed send number n: full jitter below min(30 s, 0.5 s * 2**(n-1)), and never
# shorter than the collectors' Retry-After.
SHIP_BACKOFF = Backoff(base=0.5, cap=30.0, retry_after_cap=RETRY_AFTER_CAP)


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = r = register_runtime_collectors(CollectorRegistry())
        self.lines = Counter("oam_agent_lines_read", "Log lines read", registry=r)
        self.shipped = Counter("oam_agent_documents_shipped", "Documents a collector accepted", ["kind"], registry=r)
        self.rejected = Counter("oam_agent_documents_rejected", "Documents a collector refused", registry=r)
        self.batches = Counter("oam_agent_batches_sent", "Batches sent", registry=r)
        self.bytes = Counter("oam_agent_bytes_sent", "Compressed bytes sent", registry=r)
        self.send_failures = Counter("oam_agent_send_failures", "Batches no collector took", registry=r)
        self.buffer_bytes = Gauge("oam_agent_buffer_bytes", "Metric batches waiting on disk", registry=r)
        self.metrics_dropped = Counter("oam_agent_metric_batches_dropped", "Metric batches dropped", registry=r)
        self.lag = Gauge("oam_agent_file_lag_bytes", "Unread bytes per file", ["path"], registry=r)
        self.scrape_errors = Counter("oam_agent_scrape_errors", "Failed scrapes", ["target"], registry=r)


class HostAgent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.service = ServiceInfo.local("oam-agent", __version__, config.environment, agent_id=config.agent_id,
                                         agent_type="oam-host-agent", agent_version=__version__)
        data = config.data_dir
        self.store = CheckpointStore(data / "checkpoints.json")
        self.tailer = Tailer(config.log_paths, self.store)
        self.joiner = MultilineJoiner(config.multiline_start)
        self.maker = DocumentMaker(self.service)
        self.shipper = Shipper(config.collector_urls, config.token)
        self.buffer = DiskBuffer(data / "buffer", config.buffer_max_bytes)
        self.system = SystemMetrics()
        self.metrics = AgentMetrics()
        self.batch: list[Event] = []
        self.batch_started = 0.0
        self.pending: list[Event] | None = None
        self.attempt = 0
        self.next_try = 0.0
        self.next_scan = 0.0
        self._buffer_lock = threading.Lock()   # the sampler thread adds batches, the loop ships them
        self._sample_now = threading.Event()
        self.last_data = time.monotonic()
        self.stop = threading.Event()
        self.started = time.time()
        self.live_settings = LiveAgentSettings()
        self.file_settings = {key: getattr(config, key) for key in FIELDS}
        self._overrides: dict = {}
        self._reread: AgentConfig | None = None  # settings re-read from the file (SIGHUP), not yet applied
        self._bytes_counted = 0
        self._dropped_counted = 0
        self.last_failure = ""
        self.cmdb: Any = None
        self.cmdb_error = ""

    # -- logs -----------------------------------------------------------------------------
    def _fill_batch(self, now: float) -> None:
        room = self.config.batch_max_lines - len(self.batch)
        if room <= 0:
            return
        lines = self.tailer.read(self.config.batch_max_bytes)
        if lines:
            self.metrics.lines.inc(len(lines))
            self.last_data = now
        events = self.joiner.feed(lines)
        if not lines and now - self.last_data >= self.config.flush_seconds:
            events += self.joiner.flush()
        if events and not self.batch:
            self.batch_started = now
        self.batch.extend(events)

    def _ship_logs(self, now: float) -> None:
        if self.pending is None and self.batch and (
                len(self.batch) >= self.config.batch_max_lines or now - self.batch_started >= self.config.flush_seconds):
            self.pending, self.batch = self.batch, []
        if self.pending is None or now < self.next_try:
            return
        try:
            delivery = self.shipper.send([self.maker.ndjson(event) for event in self.pending])
        except Unavailable as exc:
            self._failed(now, str(exc), exc.retry_after)
            return
        except Refused as exc:
            log.error("%s; will retry", exc)
            self._failed(now, str(exc))
            return
        if delivery.failed:
            self.metrics.rejected.inc(len(delivery.failed))
            log.warning("collector refused %d line(s), first: %s", len(delivery.failed), delivery.failed[0])
        for event in self.pending:
            self.tailer.ack(event.file_id, event.end)
        self.store.save()
        self.metrics.shipped.labels("logs").inc(delivery.accepted)
        self._sent()
        self.pending = None

    def _failed(self, now: float, why: str, retry_after: float | None = None) -> None:
        self.metrics.send_failures.inc()
        self.last_failure = why
        self.attempt += 1
        self.next_try = now + SHIP_BACKOFF.delay(self.attempt, retry_after)
        if self.attempt in (1, 5) or self.attempt % 20 == 0:
            log.warning("shipping paused (attempt %d): %s", self.attempt, why)

    def _sent(self) -> None:
        self.metrics.batches.inc()
        self.metrics.bytes.inc(self.shipper.bytes_sent - self._bytes_counted)
        self._bytes_counted = self.shipper.bytes_sent
        if self.attempt:
            log.info("shipping resumed after %d failed attempt(s)", self.attempt)
        self.attempt = 0
        self.next_try = 0.0

    # -- metrics --------------------------------------------------------------------------
    def _metric_lines(self) -> list[str]:
        at = datetime.now(timezone.utc)
        lines = []
        for dataset, fields, labels in self.system.collect():
            lines.append(self._metric(dataset, fields, labels, at))
        for url in self.config.scrape_urls:
            result = scrape(url)
            if not result.up:
                self.metrics.scrape_errors.labels(url).inc()
                log.warning("scrape of %s failed: %s", url, result.error)
            lines.append(self._metric("prometheus.collector", {"prometheus.up": 1 if result.up else 0,
                                                               "prometheus.scrape.error": result.error or None,
                                                               "prometheus.scrape.seconds": result.seconds},
                                      {"target": url}, at))
            for sample in result.samples:
                fields = {f"prometheus.metrics.{sample.name}": sample.value}
                fields.update({f"prometheus.labels.{key}": value for key, value in sample.labels.items()})
                lines.append(self._metric("prometheus.collector", fields, {"target": url}, at))
        return lines

    def _metric(self, dataset: str, fields: dict, labels: dict, at: datetime) -> str:
        doc = metric_document(self.service, {k: v for k, v in fields.items() if v is not None}, at=at,
                              labels=labels, dataset=dataset)
        doc["_kind"] = "metrics"
        doc["_id"] = stable_id(self.service.agent_id, dataset, json.dumps(fields, sort_keys=True, default=str),
                               json.dumps(labels, sort_keys=True), doc["@timestamp"])
        return json.dumps(doc, separators=(",", ":"), default=str)

    def _sample_loop(self) -> None:
        """Take the system metrics and scrapes every ``interval`` on a thread of their own, so a
        slow collector never delays them: a gap in a host's charts means the agent was down."""
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                lines = self._metric_lines()
            except Exception:
                log.exception("collecting metrics failed")
                lines = []
            if lines:
                with self._buffer_lock:
                    self.buffer.put(lines)
                    dropped = self.buffer.dropped_batches
                self.metrics.metrics_dropped.inc(dropped - self._dropped_counted)
                self._dropped_counted = dropped
            self._sample_now.wait(max(0.0, self.config.interval - (time.monotonic() - started)))
            self._sample_now.clear()

    def _ship_metrics(self, now: float) -> None:
        while now >= self.next_try:  # after a failed send, the next try waits for the backoff, logs or not
            with self._buffer_lock:
                item = self.buffer.oldest()
            if item is None:
                break
            path, lines = item
            try:
                delivery = self.shipper.send(lines)
            except (Unavailable, Refused) as exc:
                self._failed(now, str(exc), exc.retry_after if isinstance(exc, Unavailable) else None)
                break
            with self._buffer_lock:
                self.buffer.remove(path)
            self.metrics.shipped.labels("metrics").inc(delivery.accepted)
            self._sent()
        with self._buffer_lock:
            self.metrics.buffer_bytes.set(self.buffer.size())

    # -- loop -----------------------------------------------------------------------------
    def apply_settings(self, overrides: dict) -> None:
        """Settings from the CMDB over the file's; applied between two turns of the loop."""
        self._overrides = overrides
        merged = {**self.file_settings, **overrides}
        self.config.log_paths = self.tailer.patterns = list(merged["log_paths"])
        if merged["multiline_start"] != self.config.multiline_start:
            for event in self.joiner.flush():  # events held back under the old rule go out as they are
                self.batch.append(event)
            self.config.multiline_start = merged["multiline_start"]
            self.joiner = MultilineJoiner(merged["multiline_start"])
        self.config.scrape_urls = list(merged["scrape_urls"])
        if merged["interval"] != self.config.interval:
            self.config.interval = float(merged["interval"])
            self._sample_now.set()  # a sample now, then the new interval
        if merged["collector_urls"] != self.config.collector_urls:
            self.config.collector_urls = list(merged["collector_urls"])
            self.shipper = Shipper(self.config.collector_urls, self.config.token)
        self.next_scan = 0.0
        log.info("settings applied: %s", ", ".join(f"{k}={v!r}" for k, v in sorted(overrides.items())) or "file only")

    def reload(self, config: AgentConfig) -> None:
        """Take the file's settings anew (``systemctl reload``: SIGHUP); applied between two turns of
        the loop, under the CMDB's as before. The fields :data:`FIELDS` and the token change at once;
        the rest (id, data dir, metrics port, CMDB connection) waits for a restart."""
        self._reread = config

    def _apply_file(self, config: AgentConfig) -> None:
        self.file_settings = {key: getattr(config, key) for key in FIELDS}
        self.config.token = self.shipper.token = config.token
        log.info("settings file re-read")
        self.apply_settings(self._overrides)

    def step(self) -> bool:
        """One turn of the loop; True if it did any work."""
        reread, self._reread = self._reread, None
        if reread is not None:
            self._apply_file(reread)
        overrides = self.live_settings.take()
        if overrides is not None:
            self.apply_settings(overrides)
        now = time.monotonic()
        if now >= self.next_scan:
            self.tailer.scan()
            self.next_scan = now + 1.0
            for path, lag in self.tailer.lag().items():
                self.metrics.lag.labels(path).set(lag)
        before = (len(self.batch), self.pending is None)
        if self.pending is None:
            self._fill_batch(now)
        self._ship_logs(now)
        self._ship_metrics(now)
        return (len(self.batch), self.pending is None) != before

    # -- readiness ------------------------------------------------------------------------
    def readiness(self) -> Readiness:
        """Ready while a collector takes batches, the metrics buffer has room and (if configured)
        the CMDB session is connected."""
        checks = {"collector": self._collector_check, "buffer": self._buffer_check}
        if self.config.cmdb_hosts:
            checks["cmdb"] = self._cmdb_check
        return readiness(checks)

    def _collector_check(self) -> Check:
        if self.attempt:
            return Check(False, f"no collector took the last {self.attempt} send(s): {self.last_failure}")
        return Check(True, f"shipping to {', '.join(self.config.collector_urls)}")

    def _buffer_check(self) -> Check:
        with self._buffer_lock:
            size = self.buffer.size()
        return limit_check(size, self.config.buffer_max_bytes, "metrics buffer")

    def _cmdb_check(self) -> Check:
        if self.cmdb is None:
            return Check(False, f"not registered in the CMDB at {self.config.cmdb_hosts}: {self.cmdb_error}")
        state = self.cmdb.client.state
        return Check(state == "CONNECTED", f"ZooKeeper session {state.lower()}")

    def _register(self) -> object | None:
        """Announce the host live in the CMDB (if configured); a CMDB outage never stops shipping."""
        if not self.config.cmdb_hosts:
            return None
        from cmdb import Cmdb, CmdbError

        from .registration import register

        options = {"user": self.config.cmdb_user or None, "password": self.config.cmdb_password or None}
        if self.config.cmdb_root:
            options["root"] = self.config.cmdb_root
        try:
            cmdb = Cmdb(self.config.cmdb_hosts, **options)
            register(cmdb, self.service.agent_id, self.config.role, self.config.environment, self.started)
            self.live_settings.follow(cmdb, self.config.environment, self.service.agent_id)
        except CmdbError as exc:
            log.error("could not register in the CMDB at %s: %s", self.config.cmdb_hosts, exc)
            self.cmdb_error = str(exc)
            return None
        log.info("registered %s as a live host in the CMDB", self.service.agent_id)
        return cmdb

    def run(self) -> None:
        self.cmdb = cmdb = self._register()
        status = None
        if self.config.metrics_port:
            status = StatusServer("127.0.0.1", self.config.metrics_port, self.metrics.registry, self.readiness)
            status.start()
        log.info("agent %s shipping %s to %s", self.service.agent_id, self.config.log_paths or "no logs",
                 ", ".join(self.config.collector_urls))
        sampler = threading.Thread(target=self._sample_loop, name="oam-agent-metrics", daemon=True)
        sampler.start()
        while not self.stop.is_set():
            if not self.step():
                self.stop.wait(0.05)
        self._sample_now.set()
        sampler.join(timeout=5)
        self.store.save()
        self.tailer.close()
        if status is not None:
            status.stop()
        if cmdb is not None:
            self.cmdb = None
            cmdb.close()  # the live registration leaves with the session
