"""Signals of the daemons: SIGTERM stops a server loop as Ctrl-C does (:func:`raise_interrupt`),
and SIGHUP reloads a daemon's settings (``systemctl reload``), the way nginx and gunicorn do.

A bad new setting is logged in one line and the running settings stay; only a good one replaces
them. Two forms:

* :class:`SwappableApp` and :func:`reload_on_hangup` — a WSGI server keeps its socket and threads
  while the app behind it is rebuilt from the settings read anew (the dashboard)::

      app = SwappableApp(create_app(config))
      reload_on_hangup(lambda: app.swap(create_app(read_config())), log, (SettingsError,), close=close_app)
      waitress.serve(app, ...)

* :class:`ReloadRequested` — a process that cannot rebuild itself in place (the collector, whose
  spool is locked by its process) leaves its server loop and starts again with ``os.execv``,
  keeping its pid (systemd's ``MAINPID`` and pid files stay true).
"""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
OLD_APP_GRACE_SECONDS = 60.0
"""How long a replaced app stays open for the requests it was serving before it is closed."""


def raise_interrupt(*_: object) -> None:
    """A signal handler (SIGTERM from a service manager) that ends a server loop as Ctrl-C does."""
    raise KeyboardInterrupt


class ReloadRequested(KeyboardInterrupt):
    """Raised in the main thread to leave a server loop for a restart in place.

    A ``KeyboardInterrupt``, the exception servers stop on (waitress ends its loop and returns
    normally): the handler raising it also records that a restart, not a stop, is wanted."""


class SwappableApp:
    """A WSGI app whose target can be replaced while requests run: each request uses the app
    that was current when it arrived."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    @property
    def current(self) -> WsgiApp:
        return self._app

    def swap(self, app: WsgiApp) -> WsgiApp:
        """Serve ``app`` from now on; the app it replaces."""
        with self._lock:
            old, self._app = self._app, app
        return old

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self._app(environ, start_response)


def reload_on_hangup(rebuild: Callable[[], Any], log: logging.Logger, errors: tuple[type[BaseException], ...],
                     close: Callable[[Any], None] | None = None,
                     grace_seconds: float = OLD_APP_GRACE_SECONDS) -> None:
    """On SIGHUP call ``rebuild`` in a thread of its own (one reload at a time); it returns what it
    replaced, which ``close`` gets after ``grace_seconds``. One of ``errors`` raised by ``rebuild``
    (bad settings) is logged as one line and changes nothing."""
    running = threading.Lock()

    def reload() -> None:
        try:
            replaced = rebuild()
        except errors as exc:
            log.error("SIGHUP: %s; the running settings stay", describe_failure(exc))
        else:
            log.info("SIGHUP: settings reloaded")
            if close is not None and replaced is not None:
                timer = threading.Timer(grace_seconds, close, args=(replaced,))
                timer.daemon = True
                timer.start()
        finally:
            running.release()

    def handle(*_: object) -> None:
        if not running.acquire(blocking=False):
            log.warning("SIGHUP: a reload is already running; this one is ignored")
            return
        threading.Thread(target=reload, name="oam-reload", daemon=True).start()

    signal.signal(signal.SIGHUP, handle)


def describe_failure(exc: BaseException) -> str:
    """One line for a failed reload: the message of a click or settings error, else the exception."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())
