"""One batch's bake and verdict: wait, read both sides' figures from Elasticsearch, judge.

The new side is the batch's hosts answering with the new version during the bake; the baseline
the hosts not yet switched, in the same window. The last batch has none left: its baseline is
every host of the rollout in a window as long as the bake, just before the deploy started.

Usage::

    analyst = BatchAnalyst(settings, "backend", TelemetryReader(es))
    report = analyst.judge(["web1"], ["web2", "web3"], "4.0.0", baked_from, baked_to, deploy_started)
    report.verdict.passed, report.record()
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from foundation.clock import utc_iso

from .analysis import AnalysisSettings, Verdict, inconclusive, judge
from .samples import TelemetryReader, TelemetryUnavailable

NOT_SWITCHED = "hosts not yet switched"
BEFORE_DEPLOY = "all hosts before the deploy"


@dataclass
class BatchReport:
    """A batch's verdict and where its figures come from."""

    batch: int
    hosts: list[str]
    baseline_hosts: list[str]
    window: tuple[str, str]
    baseline_window: tuple[str, str]
    verdict: Verdict
    verdict_seconds: float = 0.0  # from the end of the bake (and settle) to the verdict
    elasticsearch_seconds: float = 0.0  # Elasticsearch's time of the queries

    def record(self) -> dict[str, Any]:
        return {"batch": self.batch, "hosts": self.hosts, "baseline_hosts": self.baseline_hosts,
                "window": list(self.window), "baseline_window": list(self.baseline_window),
                "verdict_seconds": round(self.verdict_seconds, 3),
                "elasticsearch_seconds": round(self.elasticsearch_seconds, 3), **self.verdict.record()}


class BatchAnalyst:
    """Judges batches of one rollout; ``reader`` None (no Elasticsearch configured) is always inconclusive."""

    def __init__(self, settings: AnalysisSettings, telemetry_service: str, reader: TelemetryReader | None,
                 problem: str = "") -> None:
        self.problem = problem  # why there is no reader, if known
        self.settings = settings
        self.service = telemetry_service
        self.reader = reader

    def judge(self, number: int, hosts: Sequence[str], baseline: Sequence[str], version: str, start: datetime,
              end: datetime, deploy_started: datetime) -> BatchReport:
        begun = time.monotonic()
        if baseline:
            kind, base_start, base_end, base_hosts = NOT_SWITCHED, start, end, list(baseline)
        else:
            base_hosts = list(hosts)
            kind, base_start, base_end = BEFORE_DEPLOY, deploy_started - (end - start), deploy_started
        took_before = self.reader.seconds if self.reader else 0.0
        if self.reader is None:
            verdict = inconclusive(self.problem or "no Elasticsearch configured to read the telemetry from",
                                   self.settings.on_inconclusive, kind)
        else:
            try:
                new = self.reader.sample(self.service, hosts, start, end, version=version)
                old = self.reader.sample(self.service, base_hosts, base_start, base_end)
                verdict = judge(new, old, self.settings, kind)
            except TelemetryUnavailable as exc:
                verdict = inconclusive(str(exc), self.settings.on_inconclusive, kind)
        return BatchReport(number, list(hosts), base_hosts, (utc_iso_ms(start), utc_iso_ms(end)),
                           (utc_iso_ms(base_start), utc_iso_ms(base_end)),
                           verdict, time.monotonic() - begun,
                           (self.reader.seconds if self.reader else 0.0) - took_before)


def utc_iso_ms(moment: datetime) -> str:
    return utc_iso(moment, "milliseconds")
