"""The health check against a real local HTTP server."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deployer.health import reports_version, wait_healthy


@pytest.mark.parametrize("body, content_type, version, expected", [
    ('{"status": "ok", "version": "1.2"}', "application/json", "1.2", True),
    ('{"status": "ok", "version": "1.20"}', "application/json", "1.2", False),
    ('["1.2"]', "application/json", "1.2", False),
    ("not json", "application/json", "1.2", False),
    ("ok 1.2", "text/plain", "1.2", True),
    ("ok 1.20", "text/plain", "1.2", False),
])
def test_reports_version(body, content_type, version, expected):
    assert reports_version(body, content_type, version) is expected


@pytest.fixture
def server():
    answers: list[tuple[int, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            code, body = answers.pop(0) if len(answers) > 1 else answers[0]
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/health", answers
    httpd.shutdown()
    httpd.server_close()


def test_retries_until_healthy(server):
    url, answers = server
    answers[:] = [(503, {}), (200, {"version": "1"}), (200, {"version": "2"})]
    result = wait_healthy(url, "2", timeout=1, retries=5, interval=0.01)
    assert (result.healthy, result.attempts) == (True, 3)


def test_gives_up_with_the_last_reason(server):
    url, answers = server
    answers[:] = [(500, {})]
    result = wait_healthy(url, None, timeout=1, retries=3, interval=0.01)
    assert not result.healthy
    assert result.detail == f"unhealthy after 3 attempts: {url} answered 500"


def test_nothing_listening():
    result = wait_healthy("http://127.0.0.1:9/health", None, timeout=0.5, retries=2, interval=0.01)
    assert not result.healthy and "ConnectionError" in result.detail
