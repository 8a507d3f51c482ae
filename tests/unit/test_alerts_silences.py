"""Silence matchers and durations as `oam alerts silence` reads them, and its one-line errors."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from alerts.silences import SilenceError, matcher_text, parse_duration, parse_matcher, split_urls
from oam.cli import cli


@pytest.mark.parametrize(("text", "expected"), [
    ("alertname=order-errors", {"name": "alertname", "value": "order-errors", "isRegex": False, "isEqual": True}),
    ("host=~web-.*", {"name": "host", "value": "web-.*", "isRegex": True, "isEqual": True}),
    ("severity!=info", {"name": "severity", "value": "info", "isRegex": False, "isEqual": False}),
    ("service!~order.*", {"name": "service", "value": "order.*", "isRegex": True, "isEqual": False}),
    ('summary="a b=c"', {"name": "summary", "value": "a b=c", "isRegex": False, "isEqual": True}),
])
def test_matchers_parse_and_print_back(text: str, expected: dict) -> None:
    assert parse_matcher(text) == expected
    assert matcher_text(parse_matcher(text)) == text.replace('"', "")


@pytest.mark.parametrize("text", ["", "alertname", "=x", "1a=b", "host=", "host=~web-(", "a b=c"])
def test_bad_matchers_are_refused_naming_the_matcher(text: str) -> None:
    with pytest.raises(SilenceError, match="bad matcher"):
        parse_matcher(text)


def test_durations() -> None:
    assert parse_duration("2h") == 7200
    assert parse_duration("30m") == 1800
    for bad in ("", "2 hours", "0s", "-1h"):
        with pytest.raises(SilenceError, match="bad duration"):
            parse_duration(bad)


def test_urls_repeated_or_separated() -> None:
    assert split_urls(["http://a:1 http://b:2", "http://c:3,http://d:4"]) == [
        "http://a:1", "http://b:2", "http://c:3", "http://d:4"]


def test_cli_errors_are_one_line() -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["alerts", "silence", "add", "host", "--comment", "x", "--alertmanager", "http://127.0.0.1:9"])
    assert bad.exit_code != 0 and "bad matcher 'host'" in bad.output
    duration = runner.invoke(cli, ["alerts", "silence", "add", "host=a", "--for", "soon", "-m", "x",
                                   "--alertmanager", "http://127.0.0.1:9"])
    assert duration.exit_code != 0 and "bad duration 'soon'" in duration.output
    down = runner.invoke(cli, ["alerts", "silence", "ls", "--alertmanager", "http://127.0.0.1:9"])
    assert down.exit_code != 0 and "no Alertmanager reachable (http://127.0.0.1:9" in down.output
    assert len(down.output.strip().splitlines()) == 1
