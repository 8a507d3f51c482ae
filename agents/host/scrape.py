"""Scrape Prometheus endpoints (text format or OpenMetrics) with prometheus_client's parsers.

Every sample keeps its metric name and labels. A failed scrape is reported as an ``up = 0``
sample for that target — never silently skipped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

OPENMETRICS = "application/openmetrics-text"


@dataclass
class Sample:
    name: str
    value: float
    labels: dict[str, str]


@dataclass
class ScrapeResult:
    target: str
    up: bool
    samples: list[Sample]
    error: str = ""
    seconds: float = 0.0


def scrape(url: str, timeout: float = 5.0, session: requests.Session | None = None) -> ScrapeResult:
    began = time.monotonic()
    try:
        response = (session or requests).get(url, timeout=timeout, headers={
            "Accept": f"{OPENMETRICS};version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"})
        response.raise_for_status()
        text = response.text
        if response.headers.get("Content-Type", "").startswith(OPENMETRICS):
            families: Any = parse_openmetrics(text)
        else:
            families = parse_prometheus(text)
        samples = [Sample(s.name, float(s.value), dict(s.labels)) for family in families for s in family.samples]
    except (requests.RequestException, ValueError) as exc:
        return ScrapeResult(url, False, [], f"{type(exc).__name__}: {exc}"[:300], time.monotonic() - began)
    return ScrapeResult(url, True, samples, "", time.monotonic() - began)
