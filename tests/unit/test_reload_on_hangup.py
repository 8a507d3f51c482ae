"""SIGHUP rebuilds the app behind a running server; a bad rebuild changes nothing (foundation/reload.py)."""
from __future__ import annotations

import logging
import os
import signal
import threading

import pytest

from foundation.reload import SwappableApp, reload_on_hangup
from foundation.settings import SettingsError
from foundation.waiting import wait_until


def _app(body: bytes):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app


def _call(app) -> bytes:
    return b"".join(app({}, lambda *_: None))


@pytest.fixture
def restore_sighup():
    previous = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, previous)


def test_a_good_reload_swaps_the_app_and_closes_the_old_one_after_the_grace(restore_sighup, caplog):
    app, closed = SwappableApp(_app(b"old")), threading.Event()
    old = app.current
    reload_on_hangup(lambda: app.swap(_app(b"new")), logging.getLogger("test.reload"), (SettingsError,),
                     close=lambda replaced: closed.set() if replaced is old else None, grace_seconds=0.05)
    assert _call(app) == b"old"
    with caplog.at_level(logging.INFO, logger="test.reload"):
        os.kill(os.getpid(), signal.SIGHUP)
        wait_until(closed.is_set, timeout=5, interval=0.01, what="the old app to be closed")
    assert _call(app) == b"new" and "SIGHUP: settings reloaded" in caplog.text


def test_a_bad_reload_is_one_line_and_the_running_app_stays(restore_sighup, caplog):
    app = SwappableApp(_app(b"running"))

    def rebuild():
        raise SettingsError("dashboard.toml: session_minutes: expected an integer")

    reload_on_hangup(rebuild, logging.getLogger("test.reload"), (SettingsError,), close=lambda _: None)
    with caplog.at_level(logging.ERROR, logger="test.reload"):
        os.kill(os.getpid(), signal.SIGHUP)
        wait_until(lambda: "the running settings stay" in caplog.text, timeout=5, interval=0.01,
                   what="the refused reload's line")
    assert _call(app) == b"running"
    assert caplog.records[-1].getMessage() == (
        "SIGHUP: dashboard.toml: session_minutes: expected an integer; the running settings stay")
