"""Unit fixtures: the collector's Flask app with a recording sink in place of Elasticsearch."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from collector.app import create_app
from collector.config import load_config
from collector.service import Collector


@dataclass
class RecordingSink:
    """Takes the place of the Elasticsearch sink: keeps every action the app hands over."""

    delivered: list[Any] = field(default_factory=list)
    last_error: str = ""

    def deliver(self, actions: list[Any]) -> None:
        self.delivered.extend(actions)


@dataclass
class CollectorApp:
    client: Any
    sink: RecordingSink
    collector: Collector
    token: str
    read_token: str


@pytest.fixture(scope="module")
def collector_app(tmp_path_factory) -> Iterator[CollectorApp]:
    """The collector's app (never started: no Elasticsearch), an ingest and a read token for it."""
    tmp = tmp_path_factory.mktemp("collector")
    collector = Collector(load_config(None, tokens_file=tmp / "tokens.json", spool_dir=tmp / "spool"))
    sink = RecordingSink()
    collector.sink = sink  # type: ignore[assignment]
    token, read_token = collector.tokens.issue("unit"), collector.tokens.issue("unit-reader", scope="read")
    yield CollectorApp(create_app(collector).test_client(), sink, collector, token, read_token)
    collector.spool.close()


def pytest_terminal_summary(terminalreporter) -> None:
    """One line with the number of fuzz cases each target ran (the property tests count them)."""
    from fuzzing import CASES

    if CASES:
        counts = ", ".join(f"{name} {count}" for name, count in sorted(CASES.items()))
        terminalreporter.write_line(f"fuzz cases run: {counts} (total {sum(CASES.values())})")
