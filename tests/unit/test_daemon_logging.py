"""The suite's daemons log ECS JSON lines, access lines included."""
from __future__ import annotations

import io
import json
import logging

import pytest
from werkzeug.test import Client

from foundation.daemon_logging import (
    ACCESS_LOGGER,
    AccessLog,
    configure_daemon_logging,
    daemon_log_handler,
    log_format_from_environment,
)


@pytest.fixture
def captured():
    """Lines the root logger writes, as the daemons configure it; the previous handlers come back after."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_daemon_logging("oam-collector", "debug", "ecs")
    root.handlers[0].stream = stream
    yield lambda: [_nested(json.loads(line)) for line in stream.getvalue().splitlines()]
    root.handlers[:] = saved
    root.setLevel(level)


def _nested(line: dict) -> dict:
    """The line as Elasticsearch reads it: ``"log.level"`` at the top is ``log`` -> ``level``."""
    tree: dict = {}
    for key, value in line.items():
        *parents, leaf = key.split(".") if key != "@timestamp" else [key]
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        if isinstance(value, dict):
            node.setdefault(leaf, {}).update(_nested(value))
        else:
            node[leaf] = value
    return tree


def _app(environ, start_response):
    body = b"x" * 42 if environ["PATH_INFO"] != "/missing" else b"no"
    start_response("200 OK" if environ["PATH_INFO"] != "/missing" else "404 NOT FOUND",
                   [("Content-Type", "text/plain")])
    return [body]


def test_a_record_is_one_ecs_line_naming_the_daemon(captured):
    logging.getLogger("oam.collector").warning("spool at %d%%", 91)
    (line,) = captured()
    assert line["message"] == "spool at 91%" and line["log"]["level"] == "warning"
    assert line["log"]["logger"] == "oam.collector" and line["log"]["origin"]["function"]
    assert line["ecs"]["version"] and line["process"]["pid"] and "@timestamp" in line
    assert line["service"]["name"] == "oam-collector" and line["event"]["dataset"] == "oam-collector.log"


def test_each_request_gets_an_access_line_with_ecs_http_fields_and_no_query_string(captured):
    client = Client(AccessLog(_app))
    client.get("/api/logs?token=secret", headers={"User-Agent": "probe/1"}, buffered=True)
    client.get("/missing", buffered=True)
    ok, missing = captured()
    assert ok["event"]["dataset"] == "oam-collector.access" and ok["log"]["logger"] == ACCESS_LOGGER
    assert ok["http"] == {"request": {"method": "GET"}, "response": {"status_code": 200, "body": {"bytes": 42}}}
    assert ok["url"] == {"path": "/api/logs"} and "secret" not in json.dumps(ok)
    assert ok["user_agent"]["original"] == "probe/1" and ok["event"]["duration"] > 0
    assert missing["http"]["response"]["status_code"] == 404 and missing["log"]["level"] == "info"


def test_probes_are_logged_at_debug_unless_they_fail(captured):
    client = Client(AccessLog(_app))
    client.get("/health", buffered=True)
    client.get("/orders", buffered=True)
    health, orders = captured()
    assert health["log"]["level"] == "debug" and orders["log"]["level"] == "info"


def test_plain_format_is_text_for_a_terminal():
    stream = io.StringIO()
    logger = logging.getLogger("oam.test.plain")
    logger.addHandler(daemon_log_handler("oam-agent", "plain", stream))
    logger.propagate = False
    logger.warning("hello")
    assert stream.getvalue().rstrip().endswith("WARNING oam.test.plain: hello")


def test_an_unknown_format_in_the_environment_is_named(monkeypatch):
    monkeypatch.setenv("OAM_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="OAM_LOG_FORMAT='xml'"):
        log_format_from_environment()
    monkeypatch.setenv("OAM_LOG_FORMAT", "Plain")
    assert log_format_from_environment() == "plain"
